// The layouts boot and have, from inside, the storage they were built with.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkLayout } from "./rig/checks.ts";
import { vmSkip, withMachine } from "./rig/index.ts";
import { LUKS_PASSPHRASE } from "./rig/layouts.ts";

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

test(
  "bookworm-uefi boots through OVMF with the ESP at /boot/efi; its EFI variables outlive a reboot",
  { skip, timeout: 30 * 60_000 },
  async () => {
    await withMachine("bookworm-uefi", async (m) => {
      await checkLayout(m);
      assert.match(await m.sh("ls /boot/efi/EFI/debian /boot/efi/EFI/BOOT"), /grubx64\.efi/i);
      // A variable written now is read back after the reboot: the store is the machine's.
      await m.sh(
        "printf '\\007\\000\\000\\000rootsnap' > /sys/firmware/efi/efivars/RootsnapProbe-3cc7c1a2-6c4d-4b9e-9a0e-2b1f3e6a7d10",
      );
      await m.reboot();
      assert.equal(
        (
          await m.sh(
            "cat /sys/firmware/efi/efivars/RootsnapProbe-3cc7c1a2-6c4d-4b9e-9a0e-2b1f3e6a7d10 | tail -c +5",
          )
        ).trim(),
        "rootsnap",
      );
    });
  },
);

test(
  "trixie-luks boots unattended from a LUKS2 PV with /, /home and swap on it",
  { skip, timeout: 30 * 60_000 },
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
    });
  },
);
