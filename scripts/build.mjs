// Bundles the CLI into one file that runs on Node 18.19+ with no node_modules.
// The file runs both as dist/rootsnap.mjs (an ES module) and installed without an
// extension (Node 18 then loads it as CommonJS), so it is CommonJS code inside a
// function that is handed a require() in either case. It requires only Node's own
// modules: as an ES module it takes them from process.getBuiltinModule (Node 20.16+,
// 22.3+) at once, and only older Nodes wait for import("node:module") and createRequire.
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
  // "(function" makes V8 compile the bundle once, eagerly, instead of pre-parsing it and
  // parsing it again when the function is called.
  banner: { js: "#!/usr/bin/env node\nvar rootsnapBundle = (function (require) {" },
  footer: {
    js: [
      "});",
      'if (typeof require === "function") rootsnapBundle(require);',
      'else if (typeof process.getBuiltinModule === "function")',
      "  rootsnapBundle((id) => {",
      "    const builtin = process.getBuiltinModule(id);",
      '    if (builtin === undefined) throw new Error(`rootsnap: no built-in module "${id}"`);',
      "    return builtin;",
      "  });",
      'else import("node:module").then((m) => rootsnapBundle(m.createRequire(process.argv[1] ?? "/")));',
    ].join("\n"),
  },
  define: { ROOTSNAP_VERSION: JSON.stringify(pkg.version) },
  logLevel: "warning",
});
