// rootsnap's lock: real flock(2) on a file in a temporary directory.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { acquireLock } from "../../src/system/lock.ts";
import { ExitCode } from "../../src/system/errors.ts";
import { tempDir } from "./helpers.ts";

const lockPath = () => join(tempDir("rootsnap-lock-"), "rootsnap.lock");

const LOCK_MODULE = new URL("../../src/system/lock.ts", import.meta.url).href;

function assertLocked(pid: string): (error: Error & { exitCode?: number }) => boolean {
  return (error) => {
    assert.equal(error.exitCode, ExitCode.locked);
    assert.match(error.message, new RegExp(`^another rootsnap \\(pid ${pid}\\) is running: `));
    return true;
  };
}

test("the lock holds its owner's pid while held; release keeps the file and empties it", async () => {
  const path = lockPath();
  const lock = await acquireLock(path, 100);
  assert.equal(readFileSync(path, "utf8"), "100\n");
  lock.release();
  lock.release();
  assert.equal(existsSync(path), true, "never unlinked: a removed flock file races");
  assert.equal(readFileSync(path, "utf8"), "");
  (await acquireLock(path, 200)).release();
});

test("two holders exclude each other until the first releases", async () => {
  const path = lockPath();
  const first = await acquireLock(path, 100);
  await assert.rejects(acquireLock(path, 200), assertLocked("100"));
  assert.equal(readFileSync(path, "utf8"), "100\n", "the refused run leaves the pid");
  first.release();
  const second = await acquireLock(path, 200);
  assert.equal(readFileSync(path, "utf8"), "200\n");
  second.release();
});

test("a pid left in the file by a run that ended holds nothing", async () => {
  const path = lockPath();
  writeFileSync(path, "100\n");
  const lock = await acquireLock(path, 200);
  assert.equal(readFileSync(path, "utf8"), "200\n");
  lock.release();
});

test("a holder killed with SIGKILL releases the lock at once", async () => {
  const path = lockPath();
  const script = `const { acquireLock } = await import(${JSON.stringify(LOCK_MODULE)});
await acquireLock(${JSON.stringify(path)}, process.pid);
process.stdout.write("held\\n");
setInterval(() => undefined, 60_000);`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const [first] = (await once(child.stdout, "data")) as [Buffer];
    assert.equal(first.toString(), "held\n");
    await assert.rejects(acquireLock(path, 200), assertLocked(String(child.pid)));
  } finally {
    child.kill("SIGKILL");
  }
  await once(child, "exit");
  // No wait and no staleness guess: the kernel let go of it with the process.
  const lock = await acquireLock(path, 200);
  assert.equal(readFileSync(path, "utf8"), "200\n");
  lock.release();
});

test("a symbolic link as the lock's path is refused, and its target left alone", async () => {
  const path = lockPath();
  const target = join(path, "..", "elsewhere");
  symlinkSync(target, path);
  await assert.rejects(acquireLock(path, 100), (error: Error & { exitCode?: number }) => {
    assert.equal(error.exitCode, ExitCode.failed);
    assert.match(error.message, /rootsnap\.lock is a symbolic link: rootsnap takes its lock only/);
    return true;
  });
  assert.equal(existsSync(target), false);
  const dir = lockPath();
  mkdirSync(dir);
  await assert.rejects(acquireLock(dir, 100), /is not a regular file|EISDIR/);
});

test("a waiting run says so once, looks every 250 ms, and gives up with exit 75", async () => {
  const path = lockPath();
  const holder = await acquireLock(path, 100);
  const notes: string[] = [];
  let naps = 0;
  await assert.rejects(
    acquireLock(path, 200, {
      ms: 1000,
      sleep: (ms) => {
        assert.equal(ms, 250);
        naps += 1;
        return Promise.resolve();
      },
      onWait: (who) => notes.push(who),
    }),
    (error: Error & { exitCode?: number; hint?: string }) => {
      assert.equal(error.exitCode, ExitCode.locked);
      assert.equal(
        error.message,
        `another rootsnap (pid 100) is running: ${path} is still held after 1 s`,
      );
      assert.match(error.hint ?? "", /--wait SECONDS/);
      return true;
    },
  );
  assert.deepEqual(notes, ["another rootsnap (pid 100)"]);
  assert.equal(naps, 4);
  holder.release();
});

test("a waiting run takes the lock once its holder releases it", async () => {
  const path = lockPath();
  const holder = await acquireLock(path, 100);
  let naps = 0;
  const lock = await acquireLock(path, 200, {
    ms: 5000,
    sleep: () => {
      naps += 1;
      if (naps === 2) holder.release();
      return Promise.resolve();
    },
    onWait: () => undefined,
  });
  assert.equal(naps, 2);
  assert.equal(readFileSync(path, "utf8"), "200\n");
  lock.release();
});
