// Bundles the CLI into one file that runs on Node 18.19+ with no node_modules.
import { build } from "esbuild";
import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

await build({
  entryPoints: ["src/cli/main.ts"],
  outfile: "dist/rootsnap.mjs",
  bundle: true,
  platform: "node",
  target: "node18.19",
  format: "esm",
  minify: false,
  legalComments: "none",
  banner: { js: "#!/usr/bin/env node" },
  define: { ROOTSNAP_VERSION: JSON.stringify(pkg.version) },
  logLevel: "warning",
});
