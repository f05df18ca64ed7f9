// One rootsnap at a time: a lock file made with O_EXCL holding the owner's pid. A file
// left by a dead run (crash, power loss) is recognised by its pid and taken over. A run
// that finds the lock held waits a while for it (the boot unit, a timer or an apt hook may
// hold it for a few seconds) before it gives up with exit 75.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { ExitCode, RootsnapError } from "./errors.ts";

export const DEFAULT_LOCK_PATH = "/run/rootsnap.lock";

/** Seconds a changing verb waits for another rootsnap by default (`--wait`). */
export const DEFAULT_LOCK_WAIT_SECONDS = 60;

/**
 * Seconds boot-finish waits by default: what it finishes (merges the last revert left)
 * blocks every new set until it has run, and an admin's setup or a backup may hold the lock
 * for minutes right after the boot. Under rootsnap-finish.service's 30 min TimeoutStartSec.
 */
export const BOOT_FINISH_LOCK_WAIT_SECONDS = 25 * 60;

/** How often a waiting run looks at the lock again. */
const POLL_MS = 250;

export interface Lock {
  release(): void;
}

export interface LockWait {
  /** How long to wait for a live owner; 0 fails at once. */
  ms: number;
  sleep(ms: number): Promise<void>;
  /** Called once, when the run starts to wait. */
  onWait(holder: string): void;
}

/** Whether `pid` is a live rootsnap: alive, and (where /proc says) running rootsnap. */
export function isRootsnapRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("rootsnap");
  } catch {
    return true;
  }
}

function ownerOf(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function tryCreate(path: string, pid: number): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    writeSync(fd, `${pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Takes the lock, or names the live run that holds it. */
function tryAcquire(
  path: string,
  pid: number,
  isRunning: (pid: number) => boolean,
): Lock | { holder: string } {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    if (tryCreate(path, pid)) {
      return {
        release() {
          if (ownerOf(path) === pid) unlinkSync(path);
        },
      };
    }
    const owner = ownerOf(path);
    // No pid yet: its owner is between creating the file and writing to it.
    if (owner === undefined || (owner !== pid && isRunning(owner))) {
      return {
        holder: owner === undefined ? "another rootsnap" : `another rootsnap (pid ${owner})`,
      };
    }
    // The owner is gone: its lock is stale.
    try {
      unlinkSync(path);
    } catch (error) {
      // Another run took the stale lock away first.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  return { holder: "another rootsnap" };
}

export async function acquireLock(
  path: string,
  pid: number,
  isRunning: (pid: number) => boolean,
  wait?: LockWait,
): Promise<Lock> {
  const tries = wait === undefined ? 1 : Math.max(1, Math.ceil(wait.ms / POLL_MS) + 1);
  let holder = "another rootsnap";
  for (let i = 0; i < tries; i += 1) {
    const got = tryAcquire(path, pid, isRunning);
    if ("release" in got) return got;
    holder = got.holder;
    if (i + 1 === tries || wait === undefined) break;
    if (i === 0) wait.onWait(holder);
    await wait.sleep(POLL_MS);
  }
  const waited = wait !== undefined && wait.ms > 0 ? ` after ${wait.ms / 1000} s` : "";
  throw new RootsnapError(
    ExitCode.locked,
    `${holder} is running: ${path} is still held${waited}`,
    `wait until it has finished or give it longer with --wait SECONDS; if none runs, remove ${path}`,
  );
}
