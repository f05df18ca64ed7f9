// Boot integration on trixie-luks (BIOS, /boot on a partition, a LUKS2 PV holding /, /home
// and swap): sets of / and /home taken after the unlock, swap never a member, and the same
// claims as on the plain layouts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { installRootsnap, stepLog, vmSkip, withMachine } from "./rig/index.ts";
import { bootScenario } from "./scenarios/boot-flow.ts";
import { newerTrixieKernel } from "./scenarios/kernel-debs.ts";

const say = stepLog("boot-luks");

test(
  "trixie-luks: swap refused; setup, next-boot, kernel upgrade, revert of / and /home, uninstall",
  { skip: vmSkip(), timeout: 45 * 60_000 },
  async () => {
    await withMachine("trixie-luks", async (m) => {
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
      say(
        `boot times ${result.boots.map((b) => `${b.toFixed(1)} s`).join(", ")}; rootsnap-boot.service ran ${result.unitSeconds.map((s) => `${s.toFixed(2)} s`).join(", ")}`,
      );
    });
  },
);
