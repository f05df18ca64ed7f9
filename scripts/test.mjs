// Runs the test suites with node's test runner: `node scripts/test.mjs [unit|vm]...`.
// VM tests run one file at a time: two emulated machines on two cores slow each other.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function find(dir) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries.sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(find(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

const suites = process.argv.slice(2);
const wanted = suites.length > 0 ? suites : ["unit", "vm"];
const files = wanted.flatMap((s) => find(join("test", s)));
if (files.length === 0) {
  console.error(`no test files found under ${wanted.map((s) => `test/${s}`).join(", ")}`);
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...files],
  { stdio: "inherit" },
);
process.exit(r.status ?? 1);
