// The version esbuild writes into the bundle; "dev" when run from the sources.
export function rootsnapVersion(): string {
  return typeof ROOTSNAP_VERSION === "string" ? ROOTSNAP_VERSION : "dev";
}
