// Reverts across a GRUB update, on BIOS (/boot inside /, the core image in the MBR gap) and
// on UEFI (/boot on its own partition, the core image on the ESP).
import { test } from "node:test";
import { installRootsnap, stepLog, vmSkip, withMachine } from "./rig/index.ts";
import { grubRevertScenario } from "./scenarios/grub-flow.ts";

const skip = vmSkip();

for (const layout of ["bookworm-simple", "bookworm-uefi"] as const) {
  test(
    `${layout}: a revert across a GRUB update boots twice with the core image in step`,
    { skip, timeout: 40 * 60_000 },
    async () => {
      await withMachine(layout, async (m) => {
        await installRootsnap(m);
        await grubRevertScenario(m, stepLog(`grub-${layout}`));
      });
    },
  );
}
