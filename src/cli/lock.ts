// One rootsnap at a time: a lock file made with O_EXCL holding the owner's pid. A file
// left by a dead run (crash, power loss) is recognised by its pid and taken over.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { ExitCode, RootsnapError } from "../errors.ts";

export const DEFAULT_LOCK_PATH = "/run/rootsnap.lock";

export interface Lock {
  release(): void;
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

export function acquireLock(path: string, pid: number, isRunning: (pid: number) => boolean): Lock {
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
      const who = owner === undefined ? "another rootsnap" : `another rootsnap (pid ${owner})`;
      throw new RootsnapError(
        ExitCode.locked,
        `${who} is running: ${path} is held`,
        `wait until it has finished; if none runs, remove ${path}`,
      );
    }
    // The owner is gone: its lock is stale.
    unlinkSync(path);
  }
  throw new RootsnapError(
    ExitCode.locked,
    `could not take the lock ${path}`,
    `remove ${path} if no rootsnap runs`,
  );
}
