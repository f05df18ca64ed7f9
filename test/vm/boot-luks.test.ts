// Boot integration on trixie-luks (BIOS, /boot on a partition, a LUKS2 PV holding /, /home
// and swap): sets of / and /home taken after the unlock, swap never a member, and the same
// claims as on the plain layouts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkLayout } from "./rig/checks.ts";
import { LUKS_PASSPHRASE } from "./rig/layouts.ts";
import { installRootsnap, stepLog, vmSkip, withMachine } from "./rig/index.ts";
import { assertNoRoomBoot, bootScenario, bootState } from "./scenarios/boot-flow.ts";
import { newerTrixieKernel } from "./scenarios/kernel-debs.ts";

const say = stepLog("boot-luks");

test(
  "trixie-luks: the LUKS2 PV; swap refused; setup, next-boot, kernel upgrade, revert of / and /home, uninstall; a full VG at boot",
  { skip: vmSkip(), timeout: 45 * 60_000 },
  async () => {
    await withMachine("trixie-luks", async (m) => {
      await checkLayout(m);
      const dump = await m.sh("cryptsetup luksDump /dev/vda2");
      assert.match(dump, /^Version:\s+2$/m);
      assert.match(dump, /^\s+0: luks2$/m, "slot 0: the key file");
      assert.match(dump, /^\s+1: luks2$/m, "slot 1: the passphrase");
      await m.sh(
        `printf '%s' '${LUKS_PASSPHRASE}' | cryptsetup open --test-passphrase --key-slot 1 /dev/vda2`,
      );
      assert.match(await m.sh("swapon --show=NAME --noheadings"), /dm-|swap_1/);
      assert.equal((await m.sh("stat -c %a /boot/initrd.img-$(uname -r)")).trim(), "600");
      await installRootsnap(m);
      say("a swap LV is never a member of a set");
      const swap = await m.shResult("rootsnap create --volume debian-vg/swap_1");
      assert.equal(swap.code, 65, swap.stderr);
      assert.match(swap.stderr, /^rootsnap: error: debian-vg\/swap_1 is swap space/m);
      assert.doesNotMatch(await m.sh("lvs --noheadings -o lv_name debian-vg"), /swap_1-/);
      await m.sh(
        `mkdir -p /etc/rootsnap && printf '[[volumes]]\\nlv = "debian-vg/root"\\n\\n[[volumes]]\\nlv = "debian-vg/home"\\n' > /etc/rootsnap/rootsnap.toml`,
      );
      const result = await bootScenario(m, () => newerTrixieKernel(), say);
      say("a full VG when the boot-time set is due: the boot goes on and says why");
      await m.sh("rootsnap setup", { timeoutMs: 600_000 });
      await m.sh("lvcreate -y -l 100%FREE -n filler debian-vg >/dev/null && rootsnap next-boot");
      await m.reboot();
      assertNoRoomBoot(await bootState(m));
      const why = await m.sh("rootsnap status 2>&1; rootsnap status --json | grep boot_failure", {
        timeoutMs: 300_000,
      });
      say(why.trim());
      assert.match(why, /warning: this boot's set was not made: .*(73|space|free)/i);
      assert.match(why, /"boot_failure": "/);
      say(
        `boot times ${result.boots.map((b) => `${b.toFixed(1)} s`).join(", ")}; rootsnap-boot.service ran ${result.unitSeconds.map((s) => `${s.toFixed(2)} s`).join(", ")}`,
      );
    });
  },
);
