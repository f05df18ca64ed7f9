// rootsnap's core verbs on Debian 12 (lvm2 2.03.16), root on a thick LV: bad input
// refused with nothing changed, a set made, filled, listed, removed, and reverted
// across a reboot with no merge left pending.
import assert from "node:assert/strict";
import { test } from "node:test";
import { installRootsnap, type Machine, stepLog, vmSkip, withMachine } from "./rig/index.ts";
import {
  allLvs,
  checkMergeFinished,
  findSet,
  refused,
  rootsnap,
  rootsnapJson,
  type SetJson,
} from "./core-steps.ts";

const say = stepLog("core-bookworm");

async function badInput(m: Machine): Promise<void> {
  say("bad input is refused with one line and its exit code, nothing changed");
  const nonRoot = await m.shResult("runuser -u nobody -- rootsnap list </dev/null");
  assert.equal(nonRoot.code, 77, nonRoot.stderr);
  assert.match(nonRoot.stderr, /run it as root/);
  await refused(m, "frob", 64, /unknown verb/);
  await refused(m, "list --frob", 64, /unknown option --frob/);
  await refused(m, "create 'has space'", 64, /set name/);
  await refused(m, `create ${"x".repeat(200)}`, 64, /200 characters/);
  await refused(m, "create x --volume vg0/nope", 65, /vg0\/nope is not a logical volume/);
  await refused(m, "create x --size 10Q", 64, /not a size policy/);
  await m.sh(
    `printf '[defaults\\n' > /tmp/syntax.toml; printf '[defaults]\\nsize = "1G"\\ncolour = "red"\\n' > /tmp/unknown.toml`,
  );
  await refused(m, "--config /tmp/syntax.toml create x", 78, /syntax\.toml:1:/);
  await refused(
    m,
    "--config /tmp/unknown.toml create x",
    78,
    /unknown\.toml:3: unknown key "colour"/,
  );
}

async function lockHeld(m: Machine): Promise<void> {
  say("a second rootsnap waits for the lock, and with --wait 0 is refused at once");
  // A holder that writes its pid into the file as rootsnap does, and holds flock(2) on it.
  const hold =
    "setsid bash -c 'exec 9>>/run/rootsnap.lock; flock 9; echo $$ >/run/rootsnap.lock; exec -a rootsnap-holder sleep 600' </dev/null >/dev/null 2>&1 &";
  await m.sh(hold);
  await m.sh("for i in $(seq 50); do flock -n /run/rootsnap.lock true || break; sleep 0.1; done");
  await refused(m, "--wait 0 create x --yes", 75, /another rootsnap \(pid \d+\) is running/);
  // The holder ends after 5 s; a run that started meanwhile waits and then goes on.
  await m.sh("(sleep 5; pkill -f '^rootsnap-holder') >/dev/null 2>&1 &");
  const waited = await rootsnap(m, "create waited");
  assert.equal(waited.code, 0, waited.stderr);
  assert.match(waited.stderr, /another rootsnap \(pid \d+\) is running; waiting up to 60 s/);
  assert.equal(waited.stdout, "waited\n");
  assert.equal((await rootsnap(m, "remove waited --yes")).code, 0);
}

async function noRoom(m: Machine): Promise<void> {
  say("a set that does not fit is refused before any LV is made");
  await m.sh("lvcreate -y -l 95%FREE -n filler vg0");
  await refused(m, "create big --size 50%ORIGIN", 73, /not enough space for the set: vg0 needs/);
  await m.sh("lvremove -y vg0/filler");
}

async function invalidSnapshot(m: Machine): Promise<void> {
  say("an overflowed snapshot shows as invalid and cannot be reverted");
  await m.sh("lvcreate -y -L 64M -n scratch vg0");
  const made = await rootsnap(m, "create tiny --volume vg0/scratch --size 8M");
  assert.equal(made.code, 0, made.stderr);
  await m.sh("dd if=/dev/urandom of=/dev/vg0/scratch bs=1M count=32 oflag=direct status=none");
  assert.equal((await findSet(m, "tiny")).volumes[0]?.state, "invalid");
  await refused(m, "revert tiny --yes", 65, /invalid/);
  const removed = await rootsnap(m, "remove tiny --yes");
  assert.equal(removed.code, 0, removed.stderr);
  await m.sh("lvremove -y vg0/scratch");
}

async function makeFillRemove(m: Machine): Promise<void> {
  say("create a set, see it listed and filling up, remove another");
  const created = await rootsnapJson<{ set: SetJson }>(m, "create s1 --size 1G --kind pre-update");
  assert.deepEqual(
    created.set.volumes.map((volume) => [volume.origin, volume.snapshot]),
    [["vg0/root", "vg0/root-s1"]],
  );
  const before = await findSet(m, "s1");
  assert.equal(before.kind, "pre-update");
  assert.equal(before.volumes[0]?.state, "active");
  const shown = await rootsnapJson<{ set: SetJson }>(m, "show s1");
  assert.equal(shown.set.name, "s1");
  await m.sh("dd if=/dev/urandom of=/root/fill bs=1M count=200 conv=fsync status=none");
  const after = await findSet(m, "s1");
  say(`used_percent ${before.volumes[0]?.used_percent} -> ${after.volumes[0]?.used_percent}`);
  assert.ok((after.volumes[0]?.used_percent ?? 0) > (before.volumes[0]?.used_percent ?? 0) + 10);
  assert.equal((await rootsnap(m, "create s2 --size 256M")).code, 0);
  await refused(m, "remove s2", 64, /--yes/);
  const removed = await rootsnap(m, "remove s2 --yes");
  assert.equal(removed.code, 0, removed.stderr);
  assert.doesNotMatch(await allLvs(m), /root-s2/);
}

async function revertAcrossReboot(m: Machine): Promise<void> {
  say("revert s1: the merge waits for the next boot, which undoes the changes");
  await m.sh("echo bad-update > /root/marker.txt && sync");
  const reverted = await rootsnapJson<{ volumes: { origin: string; outcome: string }[] }>(
    m,
    "revert s1 --yes",
  );
  assert.deepEqual(
    reverted.volumes.map((volume) => [volume.origin, volume.outcome]),
    [["vg0/root", "pending"]],
  );
  await m.reboot();
  assert.notEqual((await m.shResult("test -e /root/marker.txt")).code, 0, "the marker is gone");
  assert.notEqual((await m.shResult("test -e /root/fill")).code, 0, "the fill file is gone");
  say(`dm table of root after the merge boot: ${(await m.sh("dmsetup table vg0-root")).trim()}`);
  await checkMergeFinished(m, say);
  assert.match(await m.sh("lvs --noheadings -o lv_attr vg0/root"), /-wi-ao/);
  assert.deepEqual(
    (await rootsnapJson<{ sets: SetJson[] }>(m, "list")).sets.map((set) => set.name),
    [],
  );
}

test("core verbs on bookworm-simple", { skip: vmSkip(), timeout: 40 * 60_000 }, async () => {
  await withMachine("bookworm-simple", async (m) => {
    await installRootsnap(m);
    await badInput(m);
    await lockHeld(m);
    await noRoom(m);
    await invalidSnapshot(m);
    await makeFillRemove(m);
    await revertAcrossReboot(m);
  });
});
