// On bookworm-simple (/ on vg0/root, /boot inside): a backup interrupted by SIGINT three
// times still cleans up everything; one killed with SIGKILL leaves its temporary set, which
// list shows as temporary and prune removes; restore refuses / reached through a bind mount.
import assert from "node:assert/strict";
import { test } from "node:test";
import { installRootsnap, stepLog, vmSkip, withMachine, type Machine } from "./rig/index.ts";
import {
  assertNothingLeft,
  expectCode,
  signalRootsnap,
  startBackup,
  waitBackup,
} from "./scenarios/backup-flow.ts";

interface ListJson {
  sets: { name: string; kind: string; temporary?: boolean }[];
}

/** Left behind besides what assertNothingLeft looks for: a held lock and the FIFOs' directory. */
async function lockAndFifos(m: Machine): Promise<string> {
  return (
    await m.sh(
      "flock -n /run/rootsnap.lock true || echo lock held; ls -d /tmp/rootsnap-tap-* 2>/dev/null || true",
    )
  ).trim();
}

async function interruptedThrice(m: Machine, say: (step: string) => void): Promise<void> {
  say("SIGINT three times to a backup of a temporary set while tar runs");
  await startBackup(m, "--to /backup/int.tar.zst", "int");
  // Each kill's status: 0 when rootsnap was still there to receive it.
  const sent = await m.sh(
    `${signalRootsnap("INT")}; a=$?; sleep 0.3; ${signalRootsnap("INT")}; b=$?; sleep 0.3; ` +
      `${signalRootsnap("INT")}; echo "$a $b $?"`,
  );
  const r = await waitBackup(m, "int");
  say(`signals delivered (0 = received): ${sent.trim()}; rootsnap said: ${r.stderr.trim()}`);
  assert.match(sent, /^0 0 /, "the second SIGINT came while rootsnap was cleaning up");
  expectCode(r, 1, "backup interrupted three times", /interrupted \(SIGINT\)/);
  assert.equal(r.stderr.match(/received again; cleaning up/g)?.length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /clean-up failed/);
  await assertNothingLeft(m, "three SIGINTs");
  assert.equal(await lockAndFifos(m), "", "no lock, no FIFO directory");
  assert.equal((await m.sh("ls -A /backup")).trim(), "lost+found", "no partial archive");
}

async function killedThenPruned(m: Machine, say: (step: string) => void): Promise<void> {
  say("SIGKILL mid-backup: its set stays mounted; list shows it temporary; prune removes it");
  await startBackup(m, "--to /backup/killed.tar.zst", "kill");
  await m.sh(
    `${signalRootsnap("KILL")}; for i in $(seq 50); do pgrep -x tar >/dev/null || break; sleep 0.2; done`,
  );
  const left = await m.sh("grep -o ' /run/rootsnap/[^ ]*' /proc/self/mountinfo || true");
  const name = /\/run\/rootsnap\/(backup-\S+)/.exec(left)?.[1];
  assert.ok(name, `the killed backup's tree is still mounted:\n${left}`);
  const listed = (JSON.parse(await m.sh("rootsnap list --json")) as ListJson).sets;
  assert.deepEqual(
    listed.map((set) => [set.name, set.kind, set.temporary]),
    [[name, "manual", true]],
  );
  const pruned = await m.shResult("rootsnap prune --yes");
  say(`prune said: ${pruned.stdout.trim().replace(/\s+/g, " ")} ${pruned.stderr.trim()}`);
  expectCode(pruned, 0, "prune after kill -9");
  assert.match(pruned.stderr, new RegExp(`removed set ${name}`));
  await m.sh("rm -f /backup/.killed.tar.zst.partial-*");
  await assertNothingLeft(m, "prune after kill -9");
  assert.equal((await lockAndFifos(m)).replace(/\/tmp\/rootsnap-tap-\S+/g, "").trim(), "");
}

async function restoreThroughBind(m: Machine, say: (step: string) => void): Promise<void> {
  say("restore into / reached through a bind mount is refused and changes nothing");
  await m.sh(
    "mkdir -p /tmp/probe /mnt/b && echo probe > /tmp/probe/rootsnap-probe && " +
      "tar -cf /root/some.tar -C /tmp/probe rootsnap-probe && mount --bind / /mnt/b",
  );
  const r = await m.shResult("rootsnap restore /root/some.tar --to /mnt/b --yes");
  expectCode(
    r,
    65,
    "restore into a bind mount of /",
    /refusing to restore over the running system's \//,
  );
  assert.equal((await m.sh("ls /rootsnap-probe 2>/dev/null; umount /mnt/b")).trim(), "");
}

test(
  "Ctrl-C thrice, kill -9 then prune, restore through a bind mount of /, on bookworm-simple",
  { skip: vmSkip(), timeout: 15 * 60_000 },
  async () => {
    const say = stepLog("harden-signals");
    // vdb holds the archives: not on a volume of the set.
    await withMachine(
      "bookworm-simple",
      async (m) => {
        await installRootsnap(m);
        await m.sh("mkfs.ext4 -q -L backup /dev/vdb && mkdir -p /backup && mount /dev/vdb /backup");
        await interruptedThrice(m, say);
        await killedThenPruned(m, say);
        await restoreThroughBind(m, say);
      },
      { extraDisksGiB: [2] },
    );
  },
);
