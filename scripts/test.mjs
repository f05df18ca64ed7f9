// Runs the test suites with node's test runner: `node scripts/test.mjs [unit|vm]...`.
// Unit tests first; then the VM test files two at a time, the longest first. An emulated
// guest keeps about one host core busy (its second vCPU mostly idles), so on two cores two
// machines side by side take little longer each than one alone.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** VM test files by how long they take, the longest first; files not named here run last. */
const VM_ORDER = [
  "boot-bookworm",
  "boot-split",
  "backup-bookworm",
  "hooks",
  "backup-split",
  "lifecycle",
  "boot-faults",
  "core-split",
  "core-bookworm",
  "layouts",
  "core-thin",
  "seed",
  "rig",
];

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

function rank(file) {
  const i = VM_ORDER.indexOf(file.replace(/^.*\//, "").replace(/\.test\.ts$/, ""));
  return i < 0 ? VM_ORDER.length : i;
}

const CONCURRENCY = { unit: 1, vm: Number(process.env.ROOTSNAP_VM_CONCURRENCY ?? "2") };

const suites = process.argv.slice(2);
const wanted = suites.length > 0 ? suites : ["unit", "vm"];
let status = 0;
let found = 0;
for (const suite of wanted) {
  const files = find(join("test", suite));
  if (suite === "vm") files.sort((a, b) => rank(a) - rank(b));
  found += files.length;
  if (files.length === 0) continue;
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--test",
      `--test-concurrency=${CONCURRENCY[suite] ?? 1}`,
      "--test-reporter=spec",
      ...files,
    ],
    { stdio: "inherit" },
  );
  if (r.status !== 0) status = r.status ?? 1;
}
if (found === 0) {
  console.error(`no test files found under ${wanted.map((s) => `test/${s}`).join(", ")}`);
  process.exit(1);
}
process.exit(status);
