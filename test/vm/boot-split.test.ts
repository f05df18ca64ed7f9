// Boot integration on trixie-split (/boot on its own partition, / and /var on LVM): the
// same claims as on bookworm-simple, with a kernel from trixie-backports as the upgrade,
// so revert must put back the set's copy of /boot.
import { test } from "node:test";
import { installRootsnap, stepLog, vmSkip, withMachine } from "./rig/index.ts";
import { bootScenario } from "./scenarios/boot-flow.ts";
import { newerTrixieKernel } from "./scenarios/kernel-debs.ts";

const say = stepLog("boot-split");

test(
  "trixie-split: setup, next-boot, kernel upgrade, revert restores /boot, uninstall",
  { skip: vmSkip(), timeout: 40 * 60_000 },
  async () => {
    await withMachine("trixie-split", async (m) => {
      await installRootsnap(m);
      const result = await bootScenario(m, () => newerTrixieKernel(), say);
      say(
        `boot times ${result.boots.map((b) => `${b.toFixed(1)} s`).join(", ")}; rootsnap-boot.service ran ${result.unitSeconds.map((s) => `${s.toFixed(2)} s`).join(", ")}`,
      );
    });
  },
);
