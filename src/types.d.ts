// Replaced at build time by scripts/build.mjs with the version from package.json.
declare const ROOTSNAP_VERSION: string;
