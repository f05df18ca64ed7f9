import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { acquireLock } from "../../src/system/lock.ts";
import { ExitCode } from "../../src/system/errors.ts";
import { tempDir } from "./helpers.ts";

const lockPath = () => join(tempDir("rootsnap-lock-"), "rootsnap.lock");

test("the lock holds the owner's pid and goes away on release", async () => {
  const path = lockPath();
  const lock = await acquireLock(path, 100, () => true);
  assert.equal(readFileSync(path, "utf8"), "100\n");
  lock.release();
  assert.equal(existsSync(path), false);
});

test("a second run is refused with exit 75 while the owner lives", async () => {
  const path = lockPath();
  const lock = await acquireLock(path, 100, () => true);
  await assert.rejects(
    acquireLock(path, 200, (pid) => pid === 100),
    (error: Error & { exitCode?: number }) => {
      assert.equal(error.exitCode, ExitCode.locked);
      assert.match(error.message, /pid 100/);
      return true;
    },
  );
  lock.release();
});

test("a lock left by a dead run is taken over", async () => {
  const path = lockPath();
  writeFileSync(path, "100\n");
  const lock = await acquireLock(path, 200, () => false);
  assert.equal(readFileSync(path, "utf8"), "200\n");
  lock.release();
});

test("a lock whose owner has not written its pid yet counts as held", async () => {
  const path = lockPath();
  writeFileSync(path, "");
  await assert.rejects(
    acquireLock(path, 200, () => false),
    { exitCode: ExitCode.locked },
  );
});

test("release leaves a lock that another run has taken over", async () => {
  const path = lockPath();
  const lock = await acquireLock(path, 100, () => true);
  writeFileSync(path, "300\n");
  lock.release();
  assert.equal(readFileSync(path, "utf8"), "300\n");
});
