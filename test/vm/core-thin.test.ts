// rootsnap on Debian 13 with / on a thin LV: a thin snapshot (no size, activation skip
// cleared), its pool's fill rising with writes, and a revert across a reboot.
import assert from "node:assert/strict";
import { test } from "node:test";
import { installRootsnap, type Machine, stepLog, vmSkip, withMachine } from "./rig/index.ts";
import { allLvs, checkMergeFinished, findSet, rootsnap, rootsnapJson } from "./core-steps.ts";
import { assertStack } from "./scenarios/boot-flow.ts";

const say = stepLog("core-thin");

interface CreatedJson {
  set: {
    volumes: {
      origin: string;
      snapshot: string;
      thin: boolean;
      size_bytes: number | null;
      size_policy: string | null;
    }[];
  };
}

async function thinSet(m: Machine): Promise<void> {
  say("the root LV, thin, gets a thin snapshot");
  const created = await rootsnapJson<CreatedJson>(m, "create t1");
  assert.deepEqual(created.set.volumes, [
    {
      origin: "thinvg/root",
      snapshot: "thinvg/root-t1",
      thin: true,
      size_bytes: null,
      size_policy: null,
    },
  ]);
  const attr = (await m.sh("lvs --noheadings -o lv_attr thinvg/root-t1")).trim();
  assert.match(attr, /^Vwi-a-tz--$/, `active, no activation skip: ${attr}`);
  const before = await findSet(m, "t1");
  assert.equal(before.volumes[0]?.state, "active");
  await m.sh("dd if=/dev/urandom of=/root/fill bs=1M count=300 conv=fsync status=none");
  const after = await findSet(m, "t1");
  say(`pool fill ${before.volumes[0]?.used_percent} -> ${after.volumes[0]?.used_percent}`);
  assert.ok((after.volumes[0]?.used_percent ?? 0) > (before.volumes[0]?.used_percent ?? 0) + 3);
  assert.equal((await rootsnap(m, "create t2")).code, 0);
  assert.equal((await rootsnap(m, "remove t2 --yes")).code, 0);
  assert.doesNotMatch(await allLvs(m), /root-t2/);
}

async function revertThin(m: Machine): Promise<void> {
  say("revert the thin set across a reboot");
  await m.sh("echo bad > /root/marker.txt && sync");
  const reverted = await rootsnapJson<{ volumes: { outcome: string }[] }>(m, "revert t1 --yes");
  say(`revert outcome: ${JSON.stringify(reverted.volumes)}`);
  assert.equal(reverted.volumes[0]?.outcome, "pending");
  await m.reboot();
  assert.notEqual((await m.shResult("test -e /root/marker.txt")).code, 0, "the marker is gone");
  assert.notEqual((await m.shResult("test -e /root/fill")).code, 0, "the fill file is gone");
  await checkMergeFinished(m, say);
  assert.doesNotMatch(await allLvs(m), /root-t1/);
}

test("core verbs on trixie-thin", { skip: vmSkip(), timeout: 40 * 60_000 }, async () => {
  await withMachine("trixie-thin", async (m) => {
    await installRootsnap(m);
    say("doctor names the stack");
    const doctor = await m.shResult("rootsnap doctor --json", { timeoutMs: 300_000 });
    assertStack(
      m,
      (JSON.parse(doctor.stdout) as { checks: { name: string; status: string; detail: string }[] })
        .checks,
    );
    await thinSet(m);
    await revertThin(m);
  });
});
