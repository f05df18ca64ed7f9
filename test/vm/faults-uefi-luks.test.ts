// Faults on the UEFI and the encrypted layouts: a power cut during the boot that merges
// (bookworm-uefi, / and /home in one set), and a full VG when the boot-time set is due
// (trixie-luks). Each must leave a system that boots and a status that explains it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkMergeFinished, installConfigured, rootsnap, rootsnapJson } from "./core-steps.ts";
import { installRootsnap, stepLog, vmSkip, withMachine } from "./rig/index.ts";
import { bootState } from "./scenarios/boot-flow.ts";

const skip = vmSkip();

test(
  "bookworm-uefi: a power cut during the boot that merges / and /home",
  { skip, timeout: 40 * 60_000 },
  async () => {
    const say = stepLog("faults-uefi");
    await withMachine(
      "bookworm-uefi",
      async (m) => {
        await installConfigured(
          m,
          '[[volumes]]\nlv = "systemvg/root"\nsize = "1G"\n\n[[volumes]]\nlv = "systemvg/home"\nsize = "256M"\n',
        );
        assert.equal((await rootsnap(m, "create before")).code, 0);
        await m.sh(
          "echo bad > /root/marker.txt && echo bad > /home/marker.txt && dd if=/dev/urandom of=/root/junk bs=1M count=150 status=none && dd if=/dev/urandom of=/home/junk bs=1M count=100 status=none && sync",
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
        await m.spawn("systemctl poweroff");
        await m.waitForPowerOff();

        say("power cut during the boot that merges");
        const booting = m.boot().catch((error: unknown) => error);
        const started = Date.now();
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
        const status = await m.sh("rootsnap status 2>&1", { timeoutMs: 300_000 });
        say(status.trim());
        await checkMergeFinished(m, say);
        for (const path of ["/root/marker.txt", "/home/marker.txt", "/root/junk", "/home/junk"]) {
          assert.notEqual((await m.shResult(`test -e ${path}`)).code, 0, `${path} is gone`);
        }
        const { sets } = await rootsnapJson<{ sets: unknown[] }>(m, "list");
        assert.deepEqual(sets, [], "the set merged away");
        // The firmware still starts GRUB from its own variables' entries or the removable path.
        await m.reboot();
        assert.equal((await bootState(m)).defaultTargetActive, "active");
      },
      { bootTimeoutMs: 240_000 },
    );
  },
);

test(
  "trixie-luks: a full VG when the boot-time set is due leaves a booted system that says why",
  { skip, timeout: 40 * 60_000 },
  async () => {
    const say = stepLog("faults-luks");
    await withMachine("trixie-luks", async (m) => {
      await installRootsnap(m);
      await m.sh("rootsnap setup", { timeoutMs: 600_000 });
      await m.sh("lvcreate -y -l 100%FREE -n filler debian-vg >/dev/null && rootsnap next-boot");
      await m.reboot();
      const state = await bootState(m);
      assert.match(state.cmdline, /rootsnap\.boot=1/);
      assert.equal(state.bootUnit.Result, "exit-code", JSON.stringify(state.bootUnit));
      assert.equal(state.bootUnit.ExecMainStatus, "73", "exit 73: not enough space");
      assert.equal(state.defaultTargetActive, "active", "the boot went on");
      assert.equal(state.sets.length, 0);
      assert.equal(state.nextEntry, "", "the one-shot entry is cleared even so");
      const why = await m.sh(
        "rootsnap status 2>&1; rootsnap status --json | grep boot_failure; swapon --show=NAME --noheadings",
        { timeoutMs: 300_000 },
      );
      say(why.trim());
      assert.match(why, /warning: this boot's set was not made: .*(73|space|free)/i);
      assert.match(why, /"boot_failure": "/);
      assert.match(why, /dm-|swap/, "swap on the encrypted VG is in use");
    });
  },
);
