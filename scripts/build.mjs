// Bundles the CLI into one file that runs on Node 18.19+ with no node_modules.
// The file runs both as dist/rootsnap.mjs (an ES module) and installed without an
// extension (Node 18 then loads it as CommonJS), so it is CommonJS code inside a
// function that is handed a require() in either case. It requires only Node's own
// modules: as an ES module it takes them from process.getBuiltinModule (Node 20.16+,
// 22.3+) at once, and only older Nodes wait for import("node:module") and createRequire.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

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

/** The date the man pages carry: SOURCE_DATE_EPOCH, else the last commit's, else today's. */
function buildDate() {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && /^\d+$/.test(epoch))
    return new Date(Number(epoch) * 1000).toISOString().slice(0, 10);
  try {
    const day = execFileSync("git", ["log", "-1", "--format=%cs"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    if (/^\d{4}-\d\d-\d\d$/.test(day)) return day;
  } catch {
    // Not a git checkout (a source tarball): today.
  }
  return new Date().toISOString().slice(0, 10);
}

// The man pages, completions and example configuration, from the same tables as the help;
// made here so none of their text is in the bundle's start-up path.
const generator = await build({
  entryPoints: ["src/cli/assets.ts"],
  bundle: true,
  platform: "node",
  target: "node18.19",
  format: "esm",
  write: false,
  define: { ROOTSNAP_VERSION: JSON.stringify(pkg.version) },
  logLevel: "warning",
});
const temporary = join("dist", `.assets-${process.pid}.mjs`);
writeFileSync(temporary, generator.outputFiles[0].contents);
try {
  const { assets } = await import(pathToFileURL(join(process.cwd(), temporary)).href);
  for (const asset of assets(pkg.version, buildDate())) {
    const target = join("dist", asset.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(`${target}.tmp`, asset.text);
    renameSync(`${target}.tmp`, target);
  }
} finally {
  rmSync(temporary, { force: true });
}
