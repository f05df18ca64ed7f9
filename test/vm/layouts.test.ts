// The layouts boot and have, from inside, the storage they were built with.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkLayout } from "./rig/checks.ts";
import { vmSkip, withMachine } from "./rig/index.ts";

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

test(
  "trixie-thin boots with / on a thin LV and survives a reboot, a power cut and a reset",
  { skip, timeout: 30 * 60_000 },
  async () => {
    await withMachine("trixie-thin", async (m) => {
      await checkLayout(m);
      await m.sh("echo persisted > /root/probe && sync");
      await m.reboot();
      assert.equal((await m.sh("cat /root/probe")).trim(), "persisted");
      assert.equal(m.serialLogs.length, 2);
      await m.powerCut();
      assert.equal(m.running, false);
      await m.boot();
      assert.equal((await m.sh("cat /root/probe")).trim(), "persisted");
      assert.equal(m.serialLogs.length, 3);
      await m.reset();
      assert.equal((await m.sh("cat /root/probe")).trim(), "persisted");
      assert.equal(m.serialLogs.length, 4);
    });
  },
);
