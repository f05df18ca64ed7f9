// A revert across a GRUB update: the set is taken with bookworm's GRUB 2.06, the package
// manager installs 2.12 (its own grub-install runs), revert; both boots after it must
// reach the default target, with the core image and /boot/grub's modules of one version.
import assert from "node:assert/strict";
import type { Machine } from "../rig/machine.ts";
import { backportedGrub } from "./kernel-debs.ts";
import { bootState, revertAlone, type Say } from "./boot-flow.ts";

async function grubVersion(m: Machine): Promise<string> {
  return (await m.sh("grub-install --version")).trim();
}

/**
 * The modules in /boot/grub/TARGET are the installed package's, and the core image the
 * firmware starts is the one grub-install made from them: on BIOS the sectors after the
 * MBR hold core.img; on
 * UEFI the ESP's grubx64.efi is core.efi. grub-bios-setup patches the header of the embedded
 * copy (its blocklist, the Reed-Solomon length), so the compressed payload after the first
 * 4 KiB is what is compared.
 */
async function assertGrubInStep(m: Machine): Promise<void> {
  const uefi = m.uefi;
  const target = uefi ? "x86_64-efi" : "i386-pc";
  const out = await m.sh(`cd /usr/lib/grub/${target} && for f in *.mod; do
      cmp -s "$f" "/boot/grub/${target}/$f" || echo "differs: $f"
    done
    ${
      uefi
        ? `cmp /boot/grub/${target}/core.efi /boot/efi/EFI/debian/grubx64.efi && echo core-in-step`
        : `size=$(stat -c %s /boot/grub/${target}/core.img)
    dd if=/dev/vda bs=512 skip=9 count=$(( (size + 511) / 512 - 8 )) status=none | head -c $((size - 4096)) > /tmp/gap
    tail -c +4097 /boot/grub/${target}/core.img | cmp - /tmp/gap && echo core-in-step`
    }`);
  assert.doesNotMatch(out, /differs:/, out);
  assert.match(out, /core-in-step/, out);
}

export async function grubRevertScenario(m: Machine, say: Say): Promise<void> {
  const firmware = m.uefi ? "uefi" : "bios";
  const grub = await backportedGrub(firmware);
  await m.sh("rootsnap setup", { timeoutMs: 600_000 });
  const before = await grubVersion(m);
  say(`set before-grub with ${before}`);
  await m.sh("rootsnap create before-grub");
  const show = await m.sh("rootsnap show before-grub");
  assert.match(show, /GRUB 2\.06/, show);

  say(`the package manager installs GRUB ${grub.version}; its grub-install runs`);
  await m.sh("mkdir -p /root/grub");
  for (const deb of grub.debs) await m.copyIn(deb, `/root/grub/${deb.split("/").pop() ?? ""}`);
  await m.sh(
    "DEBIAN_FRONTEND=noninteractive apt-get install -y /root/grub/*.deb >/root/apt.log 2>&1 || { tail -40 /root/apt.log; exit 1; }",
    { timeoutMs: 1_200_000 },
  );
  const log = await m.sh("cat /root/apt.log");
  assert.match(
    log,
    /Installation finished\. No error reported\./,
    "the package's grub-install ran",
  );
  assert.match(await grubVersion(m), /2\.12/);
  await assertGrubInStep(m);

  say("revert to before-grub");
  const revert = await revertAlone(m, "before-grub");
  say(revert.trim().replace(/\n/g, " / "));
  assert.match(revert, /made with GRUB 2\.06.*GRUB 2\.12.* installed again once the merge has run/);
  const pending = JSON.parse(await m.sh("rootsnap status --json")) as {
    boot_loader_pending: { origin: string; boot_loader: string }[];
  };
  assert.equal(pending.boot_loader_pending.length, 1, JSON.stringify(pending));

  for (const boot of [1, 2]) {
    say(`boot ${boot} after the revert`);
    await m.reboot();
    const state = await bootState(m);
    assert.equal(
      state.defaultTargetActive,
      "active",
      `boot ${boot} reached ${state.defaultTarget}`,
    );
    assert.equal(state.finishUnit.Result, "success", JSON.stringify(state.finishUnit));
    assert.match(await grubVersion(m), /2\.06/, "the reverted system's GRUB");
    await assertGrubInStep(m);
    const status = JSON.parse(await m.sh("rootsnap status --json")) as {
      boot_loader_pending: unknown[];
      merges: unknown[];
    };
    assert.deepEqual(status.boot_loader_pending, [], "nothing left to install");
    assert.deepEqual(status.merges, []);
    if (boot === 1) {
      const journal = await m.sh("journalctl -b -u rootsnap-finish.service -o cat");
      assert.match(journal, /installed the core image of GRUB 2\.06/, journal);
    }
  }
}
