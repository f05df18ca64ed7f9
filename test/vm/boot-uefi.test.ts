// Boot integration on bookworm-uefi (OVMF, the ESP at /boot/efi, /boot on ext4, / and
// /home on LVM): the same claims as on BIOS, with GRUB on the ESP and its own EFI variables.
import { test } from "node:test";
import { installRootsnap, stepLog, vmSkip, withMachine } from "./rig/index.ts";
import { bootScenario } from "./scenarios/boot-flow.ts";
import { newerBookwormKernel } from "./scenarios/kernel-debs.ts";

const say = stepLog("boot-uefi");

test(
  "bookworm-uefi: setup, next-boot, kernel upgrade, revert restores /boot, uninstall",
  { skip: vmSkip(), timeout: 40 * 60_000 },
  async () => {
    await withMachine("bookworm-uefi", async (m) => {
      await installRootsnap(m);
      const result = await bootScenario(
        m,
        async (running) => {
          const kernel = await newerBookwormKernel(running);
          return { debs: [kernel.deb], release: kernel.release };
        },
        say,
      );
      say(
        `boot times ${result.boots.map((b) => `${b.toFixed(1)} s`).join(", ")}; rootsnap-boot.service ran ${result.unitSeconds.map((s) => `${s.toFixed(2)} s`).join(", ")}`,
      );
    });
  },
);
