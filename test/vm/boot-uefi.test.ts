// Boot integration on bookworm-uefi (OVMF, the ESP at /boot/efi, /boot on ext4, / and
// /home on LVM): the layout as built, then the same claims as on BIOS, with GRUB on the
// ESP, and a power cut during the boot that merges.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkLayout } from "./rig/checks.ts";
import { installRootsnap, stepLog, vmSkip, withMachine } from "./rig/index.ts";
import { bootScenario } from "./scenarios/boot-flow.ts";
import { bookwormKernelUpgrade } from "./scenarios/kernel-debs.ts";

const say = stepLog("boot-uefi");

test(
  "bookworm-uefi: OVMF and the ESP; setup, next-boot, kernel upgrade, revert with a power cut in its merge boot, uninstall",
  { skip: vmSkip(), timeout: 40 * 60_000 },
  async () => {
    await withMachine("bookworm-uefi", async (m) => {
      await checkLayout(m);
      assert.match(await m.sh("ls /boot/efi/EFI/debian /boot/efi/EFI/BOOT"), /grubx64\.efi/i);
      // A variable written now is read back after a reboot: the store is the machine's own.
      const probe = "/sys/firmware/efi/efivars/RootsnapProbe-3cc7c1a2-6c4d-4b9e-9a0e-2b1f3e6a7d10";
      await m.sh(`printf '\\007\\000\\000\\000rootsnap' > ${probe}`);
      await installRootsnap(m);
      const result = await bootScenario(m, bookwormKernelUpgrade, say, { cutMergeBoot: true });
      assert.equal((await m.sh(`cat ${probe} | tail -c +5`)).trim(), "rootsnap");
      say(
        `boot times ${result.boots.map((b) => `${b.toFixed(1)} s`).join(", ")}; rootsnap-boot.service ran ${result.unitSeconds.map((s) => `${s.toFixed(2)} s`).join(", ")}`,
      );
    });
  },
);
