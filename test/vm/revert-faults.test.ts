// Power cuts around a revert on trixie-split (/ and /var in one set): right after
// `rootsnap revert` returns, and again during the boot that merges. The system must
// boot, the merges must end with the changes undone, and nothing may stay suspended.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkMergeFinished,
  installConfigured,
  rootsnap,
  rootsnapJson,
  SPLIT_CONFIG,
} from "./core-steps.ts";
import { stepLog, vmSkip, withMachine } from "./rig/index.ts";

const say = stepLog("revert-faults");

test(
  "trixie-split: power cuts right after revert and during the merge boot",
  { skip: vmSkip(), timeout: 40 * 60_000 },
  async () => {
    await withMachine(
      "trixie-split",
      async (m) => {
        await installConfigured(m, SPLIT_CONFIG);
        assert.equal((await rootsnap(m, "create before")).code, 0);
        // Enough changed blocks that the merge is still running when the power goes.
        await m.sh(
          "echo bad > /root/marker.txt && echo bad > /var/marker.txt && dd if=/dev/urandom of=/var/junk bs=1M count=120 status=none && dd if=/dev/urandom of=/root/junk bs=1M count=120 status=none && sync",
          { timeoutMs: 300_000 },
        );
        const reverted = await rootsnapJson<{ volumes: { outcome: string }[] }>(
          m,
          "revert before --yes",
        );
        assert.deepEqual(
          reverted.volumes.map((volume) => volume.outcome),
          ["pending", "pending"],
        );

        say("power cut right after revert returned");
        await m.powerCut();

        say("power cut during the boot that merges");
        const booting = m.boot().catch((error: unknown) => error);
        const started = Date.now();
        // The initramfs has activated the VG (and so started both merges) once the real
        // root runs.
        await m.waitForConsole(/Welcome to .*Debian/, 600_000);
        await m.powerCut();
        say(`power cut ${((Date.now() - started) / 1000).toFixed(1)} s after power-on`);
        await booting;

        say("the next boot finishes the revert");
        await m.boot();
        const running = await m.sh("systemctl is-system-running --wait 2>&1 || true", {
          timeoutMs: 300_000,
        });
        assert.match(running, /^(running|degraded)$/m, "no emergency or maintenance mode");
        const suspended = await m.sh(
          "dmsetup info -c --noheadings -o name,attr | awk -F: '$2 ~ /^..s/'",
        );
        assert.equal(suspended, "", "no device is left suspended");
        await checkMergeFinished(m, say);
        for (const path of ["/root/marker.txt", "/var/marker.txt", "/root/junk", "/var/junk"]) {
          assert.notEqual((await m.shResult(`test -e ${path}`)).code, 0, `${path} is gone`);
        }
        const { sets } = await rootsnapJson<{ sets: unknown[] }>(m, "list");
        assert.deepEqual(sets, [], "the set merged away");
      },
      { bootTimeoutMs: 240_000 },
    );
  },
);
