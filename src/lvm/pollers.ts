// lvm's own merge pollers. When an origin with a pending merge is activated (at boot, by
// the initramfs or by udev's autoactivation), lvm starts a process that waits for the
// merge and then finishes it: detaches the snapshot (its copy-on-write volume turns into a
// plain LV for a moment) and removes it. Such a process started in the initramfs holds its
// VG lock under a /run/lock that systemd later mounts over, so later lvm commands do not
// wait for it. rootsnap must not finish or clean up a merge while one of these runs:
// removing the plain LV under it left lvm's poller hung, and shutdown waited for it.
import type { FileSystem } from "../system/fs.ts";
import { sleep } from "../system/sleep.ts";

export interface LvmPoller {
  readonly pid: number;
  /** The command line, NULs as spaces, padding dropped. */
  readonly command: string;
}

/**
 * A poller is lvm forked into the background, which overwrites its argv[0] with "(lvm2)"
 * (cut to argv[0]'s length: "lvm" becomes "(lv"), or the `lvm lvpoll` that lvmpolld runs.
 */
export function isPoller(cmdline: string): boolean {
  const argv = cmdline.split("\0").filter((arg) => arg !== "");
  const [first] = argv;
  if (first === undefined) return false;
  if (first.startsWith("(lvm2)") || (first.length >= 3 && "(lvm2)".startsWith(first))) return true;
  return /(^|\/)lvm$/.test(first) && argv[1] === "lvpoll";
}

export async function lvmPollers(fs: FileSystem, self = process.pid): Promise<LvmPoller[]> {
  const pollers: LvmPoller[] = [];
  for (const name of await fs.list("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === self) continue;
    const cmdline = await fs.readText(`/proc/${name}/cmdline`).catch(() => undefined);
    if (cmdline === undefined || !isPoller(cmdline)) continue;
    const command = cmdline
      .split("\0")
      .filter((arg) => arg !== "")
      .join(" ");
    pollers.push({ pid: Number(name), command });
  }
  return pollers;
}

/**
 * Waits until no lvm poller runs, looking once a second for at most waitMs; returns the
 * pollers still running then.
 */
export async function lvmPollersAfter(
  fs: FileSystem,
  waitMs: number,
  pause: (ms: number) => Promise<void> = sleep,
): Promise<LvmPoller[]> {
  let pollers = await lvmPollers(fs);
  for (let waited = 0; pollers.length > 0 && waited < waitMs; waited += 1000) {
    await pause(1000);
    pollers = await lvmPollers(fs);
  }
  return pollers;
}
