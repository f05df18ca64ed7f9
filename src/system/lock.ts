// One rootsnap at a time: flock(2) on /run/rootsnap.lock. Node has no flock, so rootsnap
// opens the file and hands the descriptor to util-linux `flock --nonblock` as its fd 3: the
// lock belongs to the open file description, so it stays with rootsnap's descriptor after
// flock exits, and the kernel releases it when rootsnap ends, however it ends (SIGKILL and
// power loss included). Nothing guesses whether a holder is alive. The pid written into the
// file only names the holder in the message. A run that finds the lock held waits a while
// for it (the boot unit, a timer or an apt hook may hold it for a few seconds) before it
// gives up with exit 75.
import { DEFAULT_LOCK_PATH } from "./paths.ts";
import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readSync,
  writeSync,
} from "node:fs";
import { ExitCode, RootsnapError } from "./errors.ts";
import { CommandError, run, type Runner } from "./runner.ts";

/** Re-exported from src/system/paths.ts, where every path rootsnap owns is listed. */
export { DEFAULT_LOCK_PATH };

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

/** flock takes the descriptor handed to it as its fd 3 (stdio index 3). */
export const FLOCK_ARGV = ["flock", "--nonblock", "--exclusive", "3"] as const;

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

/** The lock file, opened without following a symbolic link, and only if it is a regular file. */
export function openLockFile(path: string): number {
  let fd: number;
  try {
    // Node adds O_CLOEXEC: no program rootsnap runs inherits it, except flock as its fd 3.
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ELOOP") throw error;
    throw notALockFile(path, "a symbolic link");
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw notALockFile(path, "not a regular file");
  }
  return fd;
}

function notALockFile(path: string, what: string): RootsnapError {
  return new RootsnapError(
    ExitCode.failed,
    `${path} is ${what}: rootsnap takes its lock only on a regular file`,
    `remove ${path}; rootsnap makes it again`,
  );
}

/** flock(2) without waiting, on the open file description of fd; false when another holds it. */
export async function flockNow(fd: number, runner: Runner = run): Promise<boolean> {
  try {
    const result = await runner(FLOCK_ARGV, { extraFds: [fd], okCodes: [0, 1], blocking: true });
    return result.code === 0;
  } catch (error) {
    if (error instanceof CommandError && error.notFound) {
      throw new RootsnapError(
        ExitCode.unavailable,
        "flock is missing: rootsnap takes its lock with it",
        "install util-linux",
        { cause: error },
      );
    }
    throw error;
  }
}

/** Whether fd is still the file at path: one that was removed and made anew locks nobody out. */
function stillAt(fd: number, path: string): boolean {
  try {
    const held = fstatSync(fd);
    const now = lstatSync(path);
    return held.dev === now.dev && held.ino === now.ino;
  } catch {
    return false;
  }
}

/** The holder as its pid in the file names it: information for the message only. */
function holderOf(fd: number): string {
  const buffer = Buffer.alloc(32);
  let pid = Number.NaN;
  try {
    pid = Number.parseInt(buffer.toString("utf8", 0, readSync(fd, buffer, 0, 32, 0)).trim(), 10);
  } catch {
    // No pid to show.
  }
  return Number.isInteger(pid) && pid > 0 ? `another rootsnap (pid ${pid})` : "another rootsnap";
}

/** Takes the lock, or names the run that holds it. */
async function tryAcquire(
  path: string,
  pid: number,
  runner: Runner,
): Promise<Lock | { holder: string }> {
  for (;;) {
    const fd = openLockFile(path);
    let held = false;
    try {
      if (!(await flockNow(fd, runner))) return { holder: holderOf(fd) };
      if (!stillAt(fd, path)) continue;
      ftruncateSync(fd, 0);
      writeSync(fd, `${pid}\n`, 0);
      held = true;
      return lockOn(fd);
    } finally {
      if (!held) closeSync(fd);
    }
  }
}

function lockOn(fd: number): Lock {
  let open = true;
  return {
    release() {
      if (!open) return;
      open = false;
      // Still held here, so no other run's pid is cut; the file itself stays: unlinking races.
      try {
        ftruncateSync(fd, 0);
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** `runner` starts flock (the run's, traced with -v); the real one by default. */
export async function acquireLock(
  path: string,
  pid: number,
  wait?: LockWait,
  runner: Runner = run,
): Promise<Lock> {
  const tries = wait === undefined ? 1 : Math.max(1, Math.ceil(wait.ms / POLL_MS) + 1);
  let holder = "another rootsnap";
  for (let i = 0; i < tries; i += 1) {
    const got = await tryAcquire(path, pid, runner);
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
    "wait until it has finished or give it longer with --wait SECONDS; the lock goes with the run that holds it",
  );
}
