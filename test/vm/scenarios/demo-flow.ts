// What `npm run demo` shows a newcomer: rootsnap's main job on a real LVM system.
import assert from "node:assert/strict";
import { installRootsnap } from "../rig/index.ts";
import type { Machine } from "../rig/machine.ts";

export type Show = (line: string) => void;

/** Runs one command in the guest the way an admin would type it, and shows its output. */
async function typed(m: Machine, show: Show, command: string): Promise<string> {
  show(`# ${command}`);
  const r = await m.shResult(command, { timeoutMs: 300_000 });
  const text = (r.stdout + r.stderr).trimEnd();
  if (text) show(text.replace(/^/gm, "  "));
  if (r.code !== 0) throw new Error(`"${command}" exited ${r.code}`);
  return r.stdout;
}

export async function demoFlow(m: Machine, say: Show, show: Show): Promise<void> {
  say("install rootsnap the way the README says (one file, Node from Debian)");
  await installRootsnap(m);
  await typed(m, show, "rootsnap --version && lvs");

  say("take a snapshot set of the running system before a risky change");
  await typed(m, show, "rootsnap create before-change");
  await typed(m, show, "rootsnap list");

  say("make the risky change: a config file altered, a new file added");
  await typed(
    m,
    show,
    "echo 'broken setting' >> /etc/hostname.bak; cp /etc/hostname /etc/hostname.bak; echo demo-broken > /etc/motd; echo junk > /root/new-file; sync",
  );
  await typed(m, show, "rootsnap status");

  say("revert: merge the set back; the root volume is in use, so it completes at the next boot");
  await typed(m, show, "rootsnap revert before-change --yes");

  say("reboot");
  const secs = await m.reboot();
  say(`booted again in ${secs.toFixed(0)} s`);
  await typed(m, show, "rootsnap status");
  const gone = await m.shResult("test -e /root/new-file || test -e /etc/hostname.bak");
  assert.notEqual(gone.code, 0, "the change should be undone");
  show("  /root/new-file and /etc/hostname.bak are gone: the change was undone");
  await typed(m, show, "rootsnap list && lvs -a");
}
