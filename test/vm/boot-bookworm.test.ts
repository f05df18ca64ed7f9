// Boot integration on bookworm-simple (/boot inside the root LV, grubenv on LVM):
// setup, one-shot snapshot boots before and after a kernel upgrade, a revert across the
// upgrade, and uninstall leaving the boot configuration byte for byte as it was.
import { test } from "node:test";
import { installRootsnap, stepLog, vmSkip, withMachine } from "./rig/index.ts";
import { bootScenario } from "./scenarios/boot-flow.ts";
import { bookwormKernelUpgrade } from "./scenarios/kernel-debs.ts";

const say = stepLog("boot-bookworm");

test(
  "bookworm-simple: setup, next-boot, kernel upgrade, revert across it, uninstall",
  { skip: vmSkip(), timeout: 40 * 60_000 },
  async () => {
    await withMachine("bookworm-simple", async (m) => {
      await installRootsnap(m);
      const result = await bootScenario(m, bookwormKernelUpgrade, say);
      say(
        `boot times ${result.boots.map((b) => `${b.toFixed(1)} s`).join(", ")}; rootsnap-boot.service ran ${result.unitSeconds.map((s) => `${s.toFixed(2)} s`).join(", ")}`,
      );
    });
  },
);
