// What `npm run demo` shows a newcomer: rootsnap's main job on a real LVM system.
import assert from "node:assert/strict";
import { installRootsnap } from "../rig/index.ts";
import type { Machine } from "../rig/machine.ts";

export type Show = (line: string) => void;

/** Runs one command in the guest the way an admin would type it, and shows its output. */
async function typed(m: Machine, show: Show, command: string): Promise<string> {
  show(`# ${command}`);
  const r = await m.shResult(command, { timeoutMs: 20 * 60_000 });
  const text = (r.stdout + r.stderr).trimEnd();
  if (text) show(text.replace(/^/gm, "  "));
  if (r.code !== 0) throw new Error(`"${command}" exited ${r.code}`);
  return r.stdout;
}

/** Reboots, then waits for the boot's own jobs (rootsnap-finish.service among them) to end. */
async function rebootSettled(m: Machine, show: Show): Promise<void> {
  const seconds = await m.reboot();
  await m.sh("systemctl is-system-running --wait >/dev/null 2>&1 || true", {
    timeoutMs: 10 * 60_000,
  });
  show(`  (booted again in ${seconds.toFixed(0)} s)`);
}

export async function demoFlow(m: Machine, say: Show, show: Show): Promise<void> {
  say(
    "install rootsnap the way the README says (one file, Node from Debian), and check the system",
  );
  await installRootsnap(m);
  await typed(m, show, "rootsnap --version && lvs && rootsnap doctor");

  say("boot integration: a unit that takes a set early at boot, and a GRUB entry for it");
  await typed(m, show, "rootsnap setup --yes");
  await typed(m, show, "rootsnap next-boot");
  say("reboot: this one boot takes a boot-time set before the file systems are in use");
  await rebootSettled(m, show);
  await typed(m, show, "rootsnap list");
  const sets = JSON.parse(await m.sh("rootsnap list --json")) as {
    sets: { name: string; kind: string }[];
  };
  const bootSet = sets.sets.find((s) => s.kind === "boot");
  assert.ok(bootSet, "a boot-time set should exist");

  say("back up the whole system from that read-only set while it keeps running");
  await typed(m, show, "mkfs.ext4 -q /dev/vdb && mkdir -p /backup && mount /dev/vdb /backup");
  await typed(m, show, `rootsnap backup ${bootSet.name} --to /backup/system.tar.zst`);
  await typed(m, show, "rootsnap backup --verify /backup/system.tar.zst && ls -l /backup");

  say("take a set before a risky change, then make the change");
  await typed(m, show, "rootsnap create before-change");
  await typed(
    m,
    show,
    "cp /etc/hostname /etc/hostname.bak; echo demo-broken > /etc/motd; echo junk > /root/new-file; sync",
  );
  await typed(m, show, "rootsnap status");

  say("revert: merge the set back; the root volume is in use, so it completes at the next boot");
  await typed(m, show, "rootsnap revert before-change --yes");
  await rebootSettled(m, show);
  await typed(m, show, "rootsnap status");
  const gone = await m.shResult("test -e /root/new-file || test -e /etc/hostname.bak");
  assert.notEqual(gone.code, 0, "the change should be undone");
  show("  /root/new-file and /etc/hostname.bak are gone: the change was undone");

  say("drop the boot-time set (keeping everything since), and remove the boot integration");
  await typed(
    m,
    show,
    `rootsnap remove ${bootSet.name} --yes && rootsnap uninstall --yes && rootsnap list && lvs -a`,
  );
}
