// The layouts boot and have, from inside, the storage they were built with.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { checkLayout } from "./rig/checks.ts";
import { vmSkip, withMachine, type Machine } from "./rig/index.ts";
import { ROOT_LV_MISSING } from "./rig/layouts.ts";

const skip = vmSkip();

test(
  "trixie-split boots with / and /var on LVs, /boot on a partition; a hung command times out",
  {
    skip,
    timeout: 30 * 60_000,
  },
  async () => {
    await withMachine("trixie-split", async (m) => {
      await checkLayout(m);
      assert.equal((await m.sh(". /etc/os-release; echo $VERSION_CODENAME")).trim(), "trixie");
      const started = Date.now();
      await assert.rejects(
        m.sh("sleep 600", { timeoutMs: 3000 }),
        /timed out after 3 s: sleep 600/,
      );
      assert.ok(Date.now() - started < 30_000, "the hung command was ended within its timeout");
      assert.equal((await m.sh("echo still-usable")).trim(), "still-usable");
    });
  },
);

/** The boot's initramfs found the root LV without waiting for it (see THIN_ROOT_DIAGNOSIS). */
function rootFoundAtOnce(m: Machine): void {
  const log = m.serialLogs.at(-1);
  const text = log === undefined ? "" : readFileSync(log, "utf8");
  const at = text.indexOf(ROOT_LV_MISSING);
  assert.equal(at, -1, `the initramfs waited for the root LV:\n${text.slice(at, at + 6000)}`);
}

test(
  "trixie-thin boots with / on a thin LV and survives a reboot, a power cut and a reset",
  { skip, timeout: 30 * 60_000 },
  async () => {
    await withMachine("trixie-thin", async (m) => {
      await checkLayout(m);
      await m.sh("echo persisted > /root/probe && sync");
      await m.reboot();
      rootFoundAtOnce(m);
      assert.equal((await m.sh("cat /root/probe")).trim(), "persisted");
      assert.equal(m.serialLogs.length, 2);
      await m.powerCut();
      assert.equal(m.running, false);
      await m.boot();
      rootFoundAtOnce(m);
      assert.equal((await m.sh("cat /root/probe")).trim(), "persisted");
      assert.equal(m.serialLogs.length, 3);
      await m.reset();
      rootFoundAtOnce(m);
      assert.equal((await m.sh("cat /root/probe")).trim(), "persisted");
      assert.equal(m.serialLogs.length, 4);
    });
  },
);
