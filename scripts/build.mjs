// Bundles the CLI into one file that runs on Node 18.19+ with no node_modules.
// The file runs both as dist/rootsnap.mjs (an ES module) and installed without an
// extension (Node 18 then loads it as CommonJS), so it is CommonJS code wrapped in a
// function that is handed a require() in either case.
import { build } from "esbuild";
import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

await build({
  entryPoints: ["src/cli/main.ts"],
  outfile: "dist/rootsnap.mjs",
  bundle: true,
  platform: "node",
  target: "node18.19",
  format: "cjs",
  minify: false,
  legalComments: "none",
  banner: {
    js: [
      "#!/usr/bin/env node",
      '((main) => typeof require === "function" ? main(require) :',
      '  import("node:module").then((m) => main(m.createRequire(process.argv[1] ?? "/"))))((require) => {',
    ].join("\n"),
  },
  footer: { js: "});" },
  define: { ROOTSNAP_VERSION: JSON.stringify(pkg.version) },
  logLevel: "warning",
});
