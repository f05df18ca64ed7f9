// The initramfs image a system boots and its generator's configuration, on recorded files:
// Arch's mkinitcpio.conf as mkinitcpio ships it (samples/arch/ORIGIN.md), Debian's and
// Arch's image names, and systemd-boot's selected entry.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  currentImage,
  dracutActivatesWithoutPolling,
  mkinitcpioConfig,
  mkinitcpioHooks,
  rebuildAdvice,
} from "../../src/boot/images.ts";
import { LOADER_GUID, type SystemdBoot } from "../../src/boot/sdboot.ts";
import { detectInitramfs } from "../../src/boot/stack.ts";
import { memoryFiles } from "./helpers.ts";

const ARCH_CONF = readFileSync(new URL("samples/arch/mkinitcpio.conf", import.meta.url), "utf8");

test("mkinitcpio: HOOKS as shipped has no lvm2; with it added before filesystems, and drop-ins", async () => {
  assert.deepEqual(mkinitcpioHooks([ARCH_CONF]), [
    "base",
    "udev",
    "autodetect",
    "modconf",
    "kms",
    "keyboard",
    "keymap",
    "consolefont",
    "block",
    "filesystems",
    "fsck",
  ]);
  const withLvm = ARCH_CONF.replace(/^(HOOKS=\(.*)block filesystems/m, "$1block lvm2 filesystems");
  assert.ok(mkinitcpioHooks([withLvm]).includes("lvm2"));
  const tree = memoryFiles({
    "/etc/mkinitcpio.conf": ARCH_CONF,
    "/etc/mkinitcpio.conf.d/10-systemd.conf":
      "HOOKS=(base systemd autodetect microcode modconf kms keyboard sd-vconsole block sd-encrypt lvm2 filesystems fsck)\n",
    "/etc/mkinitcpio.conf.d/20-extra.conf": "HOOKS+=(\n  sd-shutdown # comment\n)\n",
    "/usr/bin/mkinitcpio": "",
  });
  const hooks = mkinitcpioHooks(await mkinitcpioConfig(tree.files));
  assert.equal(hooks[1], "systemd", "a drop-in replaces HOOKS");
  assert.equal(hooks.at(-1), "sd-shutdown", "+= adds to it");
  assert.equal(await detectInitramfs(tree.files), "mkinitcpio");
  assert.match(rebuildAdvice("mkinitcpio", "6.12.1-arch1-1"), /mkinitcpio -P/);
  assert.match(rebuildAdvice("dracut", "6.12.1"), /dracut -f --kver 6\.12\.1/);
});

test("the image a boot used: systemd-boot's selected entry, else Debian's, Fedora's or Arch's name", async () => {
  const sd: SystemdBoot = {
    esp: "/efi",
    boot: "/efi",
    loaderConf: "/efi/loader/loader.conf",
    bootctl: "/usr/bin/bootctl",
  };
  const tree = memoryFiles({
    "/efi/loader/entries/abc-6.12.48.conf":
      "title Debian\nversion 6.12.48\nlinux /abc/6.12.48/linux\ninitrd /abc/6.12.48/initrd.img-6.12.48\n",
    [`/sys/firmware/efi/efivars/LoaderEntrySelected-${LOADER_GUID}`]: "",
    "/boot/initrd.img-6.1.0-50-cloud-amd64": "",
    "/boot/initramfs-6.5.6-300.fc39.x86_64.img": "",
    "/usr/lib/modules/6.12.1-arch1-1/pkgbase": "linux\n",
    "/boot/initramfs-linux.img": "",
  });
  tree.data.set(
    `/sys/firmware/efi/efivars/LoaderEntrySelected-${LOADER_GUID}`,
    Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.from("abc-6.12.48.conf\0", "utf16le")]),
  );
  assert.equal(
    await currentImage(tree.files, "6.12.48", sd),
    "/efi/abc/6.12.48/initrd.img-6.12.48",
  );
  assert.equal(
    await currentImage(tree.files, "6.1.0-50-cloud-amd64", undefined),
    "/boot/initrd.img-6.1.0-50-cloud-amd64",
  );
  assert.equal(
    await currentImage(tree.files, "6.5.6-300.fc39.x86_64", undefined),
    "/boot/initramfs-6.5.6-300.fc39.x86_64.img",
  );
  assert.equal(
    await currentImage(tree.files, "6.12.1-arch1-1", undefined),
    "/boot/initramfs-linux.img",
  );
});

test("dracut's lvm module: --sysinit polls no merges", async () => {
  const scan = (text: string): ReturnType<typeof memoryFiles> =>
    memoryFiles({ "/usr/lib/dracut/modules.d/90lvm/lvm_scan.sh": text });
  assert.equal(
    await dracutActivatesWithoutPolling(scan('activate_args="--sysinit $extraargs"\n').files),
    true,
  );
  assert.equal(await dracutActivatesWithoutPolling(scan("lvm vgchange -ay $VGS\n").files), false);
  assert.equal(await dracutActivatesWithoutPolling(memoryFiles({}).files), undefined);
});
