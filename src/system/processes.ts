// Whether a process that left a file behind still runs: for the partial archives a backup
// writes, named by its pid. rootsnap's lock asks no such question: the kernel releases it.
import { readFileSync } from "node:fs";

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
