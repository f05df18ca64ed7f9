// The built bundle with its output going nowhere: `rootsnap list | head -1` and the like
// end quietly, and a verb that changes LVM still finishes every step. Fake lvm tools on
// PATH answer with recorded reports and log what they were asked to do.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { SAMPLES } from "./helpers.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const BUNDLE = join(REPO, "dist", "rootsnap.mjs");
const LVS = join(SAMPLES, "handwritten-lvm2-2.03.16/two-vgs/sets/lvs.json");

let built = false;

function buildBundle(): void {
  if (built) return;
  const r = spawnSync(process.execPath, [join(REPO, "scripts", "build.mjs")], { cwd: REPO });
  assert.equal(r.status, 0, String(r.stderr));
  built = true;
}

/** A directory with fake `lvs` (a recorded report) and `lvremove` (logged to lvremove.log). */
function fakeTools(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "rootsnap-tools-"));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const script = (name: string, body: string): void => {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  // The pause lets the reader be gone before rootsnap writes anything.
  script("lvs", `sleep 0.2; cat '${LVS}'`);
  script("lvremove", `echo "$*" >> '${join(dir, "lvremove.log")}'; sleep 0.1`);
  return dir;
}

interface Ended {
  code: number | null;
  signal: string | null;
  stderr: string;
}

/** Runs the bundle with stdout (and with `closeStderr`, stderr) closed before it writes. */
function runClosed(args: string[], tools: string, closeStderr = false): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BUNDLE, ...args], {
      env: { ...process.env, PATH: `${tools}:${process.env.PATH ?? ""}` },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.destroy();
    if (closeStderr) child.stderr.destroy();
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      resolve({ code, signal, stderr });
    });
  });
}

function assertQuiet(ended: Ended, what: string): void {
  assert.equal(ended.signal, null, what);
  assert.equal(ended.code, 0, `${what}: ${ended.stderr}`);
  assert.equal(ended.stderr, "", `${what} printed nothing on stderr`);
}

function needRoot(t: TestContext): boolean {
  if (process.geteuid?.() === 0) return true;
  if (process.env.CI) assert.fail("these runs of rootsnap need root (lvm verbs check for it)");
  t.skip("not root: rootsnap refuses lvm verbs without it");
  return false;
}

test("output to a closed pipe ends rootsnap quietly: no stack trace, exit 0", async (t) => {
  buildBundle();
  const tools = fakeTools(t);
  assertQuiet(await runClosed(["--version"], tools), "--version");
  assertQuiet(await runClosed(["--help"], tools), "--help");
  if (!needRoot(t)) return;
  assertQuiet(await runClosed(["list"], tools), "list");
  assertQuiet(await runClosed(["list", "--json"], tools), "list --json");
  // The shell's way: head reads one byte and goes.
  const piped = spawnSync("sh", ["-c", `node '${BUNDLE}' list | head -c 1 >/dev/null`], {
    env: { ...process.env, PATH: `${tools}:${process.env.PATH ?? ""}` },
  });
  assert.equal(String(piped.stderr), "", "no stack trace through head -c 1");
});

test("a closed stdout and stderr do not cut prune short between two removals", async (t) => {
  if (!needRoot(t)) return;
  buildBundle();
  const tools = fakeTools(t);
  const config = join(tools, "rootsnap.toml");
  writeFileSync(
    config,
    "[retention.pre-update]\nkeep-last = 0\n\n[retention.scheduled]\nkeep-last = 0\n",
  );
  const ended = await runClosed(["--config", config, "prune", "--yes"], tools, true);
  assert.equal(ended.signal, null);
  assert.equal(ended.code, 0);
  assert.deepEqual(readFileSync(join(tools, "lvremove.log"), "utf8").trim().split("\n"), [
    "--yes vg0/root-nightly",
    "--yes vg0/home-before-upgrade",
    "--yes vg0/root-before-upgrade",
  ]);
});
