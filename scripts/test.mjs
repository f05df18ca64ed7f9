// Runs the test suites with node's test runner: `node scripts/test.mjs [unit|vm]...`.
// Unit tests first; then the VM test files two at a time, each in a runner of its own and
// the longest first, so that no long file starts last beside an idle core.
// An emulated guest keeps about one host core busy, so on two cores two machines
// side by side each take about 1.4 times as long, and the whole about 0.6 times as long.
// Unit tests run with a temporary directory of their own (TMPDIR): whatever a test leaves
// there fails the run, so no test leaves files behind in the system's /tmp.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

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

/**
 * Minutes each VM file takes, two at a time, with the image builds it does when the cache
 * is empty; files not named here are short and start last, in name order.
 */
const VM_MINUTES = {
  "boot-luks": 18,
  "boot-sdboot": 17,
  "boot-uefi": 9,
  "backup-bookworm": 9,
  package: 8,
  bootloader: 7,
  "boot-faults": 5,
  "boot-bookworm": 5,
  hooks: 5,
  "core-split": 5,
  "core-thin": 4,
  "backup-split": 4,
  layouts: 3,
  "core-bookworm": 3,
  "harden-setup": 3,
  lifecycle: 3,
  reshape: 2,
  "revert-faults": 2,
  seed: 2,
};

function longestFirst(files) {
  const minutes = (file) => VM_MINUTES[basename(file, ".test.ts")] ?? 0;
  return [...files].sort((a, b) => minutes(b) - minutes(a) || a.localeCompare(b));
}

const TEST_ARGV = ["--import", "tsx", "--test", "--test-reporter=spec"];

/**
 * Runs each file in its own test runner, `lanes` at a time in the order given; the
 * runners' output is passed on whole lines at a time (the rig tags each progress line
 * with its file). Ends with each file's time; resolves with the first failing exit code,
 * or 0.
 */
async function runInLanes(files, lanes, env) {
  const queue = [...files];
  const times = [];
  const children = new Set();
  let code = 0;
  const stop = (signal) => {
    for (const child of children) child.kill(signal);
    process.exit(130);
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
  const lines = (from, to) => {
    let rest = "";
    from.setEncoding("utf8");
    from.on("data", (text) => {
      const cut = (rest + text).lastIndexOf("\n") + 1;
      to.write((rest + text).slice(0, cut));
      rest = (rest + text).slice(cut);
    });
    from.on("end", () => {
      if (rest !== "") to.write(`${rest}\n`);
    });
  };
  const lane = async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const started = Date.now();
      process.stdout.write(`== ${file}: started\n`);
      const child = spawn(process.execPath, [...TEST_ARGV, file], {
        stdio: ["ignore", "pipe", "pipe"],
        env,
      });
      children.add(child);
      lines(child.stdout, process.stdout);
      lines(child.stderr, process.stderr);
      const exit = await new Promise((resolve) => {
        child.on("close", (status, signal) => resolve(status ?? (signal ? 1 : 0)));
      });
      children.delete(child);
      const seconds = Math.round((Date.now() - started) / 1000);
      times.push({ file, seconds, exit });
      process.stdout.write(`== ${file}: ${exit === 0 ? "passed" : "FAILED"} in ${seconds} s\n`);
      if (exit !== 0 && code === 0) code = exit;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, lanes) }, lane));
  process.stdout.write(`\nVM test files, ${lanes} at a time:\n`);
  for (const { file, seconds, exit } of times.sort((a, b) => b.seconds - a.seconds)) {
    process.stdout.write(
      `  ${String(seconds).padStart(5)} s  ${file}${exit === 0 ? "" : "  FAILED"}\n`,
    );
  }
  return code;
}

const CONCURRENCY = { unit: 1, vm: Number(process.env.ROOTSNAP_VM_CONCURRENCY ?? "2") };

const suites = process.argv.slice(2);
const wanted = suites.length > 0 ? suites : ["unit", "vm"];
let status = 0;
let found = 0;
for (const suite of wanted) {
  const listed = find(join("test", suite));
  const files = suite === "vm" ? longestFirst(listed) : listed;
  found += files.length;
  if (files.length === 0) continue;
  const scratch = suite === "unit" ? mkdtempSync(join(tmpdir(), "rootsnap-unit-")) : undefined;
  // The guests install the package; built once here, not by each of the files side by side.
  let env = scratch ? { ...process.env, TMPDIR: scratch } : process.env;
  if (suite === "vm") {
    const built = spawnSync(process.execPath, ["scripts/package.mjs"], { stdio: "inherit" });
    if (built.status !== 0) {
      console.error("npm run package failed: the VM tests install its .deb");
      process.exit(1);
    }
    env = { ...env, ROOTSNAP_DEB_BUILT: "1" };
  }
  const code =
    suite === "vm"
      ? await runInLanes(files, CONCURRENCY.vm, env)
      : (spawnSync(process.execPath, [...TEST_ARGV, ...files], { stdio: "inherit", env }).status ??
        1);
  if (code !== 0) status = code;
  if (scratch !== undefined) {
    // tsx-UID is tsx's own compile cache, not something a test made.
    const left = readdirSync(scratch)
      .filter((name) => !/^tsx-\d+$/.test(name))
      .sort();
    rmSync(scratch, { recursive: true, force: true });
    if (left.length > 0) {
      console.error(
        `${suite} tests left ${left.length} entries in their temporary directory: ${left.join(" ")}`,
      );
      status = 1;
    }
  }
}
if (found === 0) {
  console.error(`no test files found under ${wanted.map((s) => `test/${s}`).join(", ")}`);
  process.exit(1);
}
process.exit(status);
