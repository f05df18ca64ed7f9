// The boot stack and the boot-loader record, on the files each distribution really has:
// Debian's ESP stub grub.cfg, an ESP that holds the real file, secure boot's variable,
// grubenv on LVM, on LUKS and on a plain partition, debconf's grub-pc/install_devices.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseMountinfo } from "../../src/config/mounts.ts";
import { detectGrub, isStubConfig } from "../../src/boot/grub.ts";
import { detectStack, encryptionUnder, grubEnvWritable } from "../../src/boot/stack.ts";
import {
  bootLoaderChanged,
  bootLoaderForRevert,
  debconfInstallDevices,
  decodeRecord,
  describeRecord,
  detectBootLoader,
  encodeRecord,
  finishPendingInstalls,
  grubVersion,
  reinstallCommands,
  type BootLoaderRecord,
} from "../../src/boot/loader.ts";
import { readSetTags, setTags } from "../../src/sets/tags.ts";
import type { LogicalVolume } from "../../src/lvm/model.ts";
import { fakeRunner, GRUB_TOOLS, memoryFiles, testContext } from "./helpers.ts";

/** What Debian's grub-install writes to EFI/debian/grub.cfg (util/grub-install.c). */
const DEBIAN_ESP_STUB = `search.fs_uuid 7c1f0b7e-1f0b-4c55-9c3b-3c2f6f4b6c11 root hd0,gpt2 
set prefix=($root)'/grub'
configfile $prefix/grub.cfg
`;

/** Fedora 34 and later: the ESP's grub.cfg finds /boot and loads grub2/grub.cfg. */
const FEDORA_ESP_STUB = `search --no-floppy --fs-uuid --set=dev 1d5cb5c3-5a0e-4f0c-9d7e-6c1b8c2a3f47
set prefix=($dev)/grub2

export $prefix
configfile $prefix/grub.cfg
`;

const REAL_CFG = `### BEGIN /etc/grub.d/10_linux ###
menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-x' {
	linux	/vmlinuz-6.1.0-40-cloud-amd64 root=/dev/mapper/systemvg-root ro
	initrd	/initrd.img-6.1.0-40-cloud-amd64
}
`;

/** bookworm-uefi's mounts: / and /home on LVM, /boot on vda2, the ESP on vda1. */
const UEFI_MOUNTINFO = `21 1 254:1 / / rw,relatime shared:1 - ext4 /dev/mapper/systemvg-root rw
28 21 252:2 / /boot rw,relatime shared:15 - ext4 /dev/vda2 rw
30 28 252:1 / /boot/efi rw,relatime shared:17 - vfat /dev/vda1 rw,fmask=0077
31 21 254:2 / /home rw,relatime shared:19 - ext4 /dev/mapper/systemvg-home rw
`;

/** trixie-luks's: / on an LV of a VG whose PV is the LUKS mapping vda2_crypt (dm-0). */
const LUKS_MOUNTINFO = `22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/mapper/debian--vg-root rw
29 22 252:1 / /boot rw,relatime shared:15 - ext4 /dev/vda1 rw
`;

const SECURE_BOOT = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

test("a stub that only loads another grub.cfg is told from the real one", () => {
  assert.equal(isStubConfig(DEBIAN_ESP_STUB), true);
  assert.equal(isStubConfig(FEDORA_ESP_STUB), true);
  assert.equal(isStubConfig(REAL_CFG), false);
});

test("GRUB on EFI: Debian's /boot/grub/grub.cfg beside the ESP's stub; the ESP's own where it holds the real file", async () => {
  const debian = memoryFiles({
    ...GRUB_TOOLS,
    "/boot/grub/grub.cfg": REAL_CFG,
    "/boot/efi/EFI/debian/grub.cfg": DEBIAN_ESP_STUB,
    "/boot/efi/EFI/debian/grubx64.efi": "",
  }).files;
  assert.equal((await detectGrub(debian)).config, "/boot/grub/grub.cfg");
  const esp = memoryFiles({
    ...Object.fromEntries(
      ["mkconfig", "reboot", "editenv", "script-check", "install"].map((t) => [
        `/usr/sbin/grub2-${t}`,
        "",
      ]),
    ),
    "/boot/efi/EFI/BOOT/BOOTX64.EFI": "",
    "/boot/efi/EFI/fedora/grub.cfg": REAL_CFG,
    "/boot/efi/EFI/fedora/grubenv": "# GRUB Environment Block\n",
  }).files;
  const grub = await detectGrub(esp);
  assert.equal(grub.config, "/boot/efi/EFI/fedora/grub.cfg");
  assert.equal(grub.env, "/boot/efi/EFI/fedora/grubenv");
  assert.equal(grub.mkconfig, "/usr/sbin/grub2-mkconfig");
});

test("the stack of a UEFI machine: secure boot off, the ESP and its loaders, grubenv GRUB can write", async () => {
  const tree = memoryFiles({
    ...GRUB_TOOLS,
    "/usr/sbin/update-initramfs": "",
    "/boot/grub/grub.cfg": REAL_CFG,
    "/boot/efi/EFI/debian/grub.cfg": DEBIAN_ESP_STUB,
    "/boot/efi/EFI/debian/grubx64.efi": "",
    "/boot/efi/EFI/BOOT/BOOTX64.EFI": "",
    [SECURE_BOOT]: "\u0006\u0000\u0000\u0000\u0000",
    "/sys/dev/block/254:1/dm/uuid": "LVM-abc\n",
    "/sys/dev/block/254:1/dm/name": "systemvg-root\n",
  });
  await tree.files.makeDirectory("/sys/firmware/efi");
  await tree.files.makeDirectory("/etc/initramfs-tools");
  const mounts = parseMountinfo(UEFI_MOUNTINFO);
  const stack = await detectStack(tree.files, tree.files, mounts);
  assert.equal(stack.firmware, "uefi");
  assert.equal(stack.secureBoot, false);
  assert.deepEqual(stack.esp, {
    mountPoint: "/boot/efi",
    source: "/dev/vda1",
    loaders: ["BOOT", "debian"],
    shim: false,
  });
  assert.equal(stack.loader, "grub");
  assert.equal(stack.loaderConfig, "/boot/grub/grub.cfg");
  assert.equal(stack.grubEnv?.writable, true);
  assert.equal(stack.initramfs, "initramfs-tools");
  assert.deepEqual(stack.encryption, []);
  assert.equal(stack.unsupported, undefined);
});

test("secure boot on, shim beside GRUB; BLS without its entry directory is named as what rootsnap lacks, dracut is not", async () => {
  const tree = memoryFiles({
    "/usr/sbin/dracut": "",
    "/etc/default/grub": "GRUB_ENABLE_BLSCFG=true\n",
    "/boot/efi/EFI/fedora/shimx64.efi": "",
    "/boot/efi/EFI/fedora/grubx64.efi": "",
    [SECURE_BOOT]: "\u0006\u0000\u0000\u0000\u0001",
  });
  await tree.files.makeDirectory("/sys/firmware/efi");
  const stack = await detectStack(tree.files, tree.files, parseMountinfo(UEFI_MOUNTINFO));
  assert.equal(stack.secureBoot, true);
  assert.equal(stack.esp?.shim, true);
  assert.equal(stack.loader, "grub-bls");
  assert.equal(stack.initramfs, "dracut");
  assert.equal(
    stack.unsupported,
    "/etc/default/grub sets GRUB_ENABLE_BLSCFG=true, but /boot/loader/entries does not exist",
  );
});

test("LVM on LUKS: / is found on the crypt mapping under its LV; grubenv on LVM, on LUKS or plain", async () => {
  const tree = memoryFiles({
    "/sys/dev/block/254:1/dm/uuid": "LVM-Xy\n",
    "/sys/dev/block/254:1/dm/name": "debian--vg-root\n",
    "/sys/dev/block/254:1/slaves/dm-0": "",
    "/sys/class/block/dm-0/dm/uuid": "CRYPT-LUKS2-3f1c-vda2_crypt\n",
    "/sys/class/block/dm-0/dm/name": "vda2_crypt\n",
    "/sys/class/block/dm-0/slaves/vda2": "",
    "/sys/dev/block/254:5/dm/uuid": "CRYPT-LUKS2-77aa-boot_crypt\n",
    "/sys/dev/block/254:5/dm/name": "boot_crypt\n",
  });
  const mounts = parseMountinfo(LUKS_MOUNTINFO);
  assert.deepEqual(await encryptionUnder(tree.files, mounts, "/"), ["vda2_crypt"]);
  assert.deepEqual(await encryptionUnder(tree.files, mounts, "/boot"), []);
  const plain = await grubEnvWritable(tree.files, mounts, "/boot/grub/grubenv");
  assert.equal(plain.writable, true);
  const onLvm = await grubEnvWritable(tree.files, mounts, "/grubenv-inside-root");
  assert.deepEqual(onLvm, {
    path: "/grubenv-inside-root",
    writable: false,
    why: "on LVM (/dev/mapper/debian--vg-root)",
  });
  const cryptBoot = parseMountinfo(
    "29 22 254:5 / /boot rw - ext4 /dev/mapper/boot_crypt rw\n" + LUKS_MOUNTINFO,
  );
  const onCrypt = await grubEnvWritable(tree.files, cryptBoot, "/boot/grub/grubenv");
  assert.equal(onCrypt.writable, false);
  assert.match(onCrypt.why, /encrypted device/);
});

/** debconf's config.dat as Debian keeps it, grub-pc's records among others. */
const CONFIG_DAT = `Name: grub-pc/install_devices
Template: grub-pc/install_devices
Value: /dev/disk/by-id/virtio-disk0, /dev/vdb
Owners: grub-pc
Flags: seen

Name: grub-pc/install_devices_empty
Template: grub-pc/install_devices_empty
Value: false
Owners: grub-pc
`;

test("grub-pc's install devices come from debconf; GRUB's version from grub-install", () => {
  assert.deepEqual(debconfInstallDevices(CONFIG_DAT), ["/dev/disk/by-id/virtio-disk0", "/dev/vdb"]);
  assert.equal(debconfInstallDevices("Name: other\nValue: x\n"), undefined);
  assert.equal(grubVersion("grub-install (GRUB) 2.06-13+deb12u2\n"), "2.06-13+deb12u2");
  assert.equal(grubVersion("grub2-install (GRUB) 2.06\n"), "2.06");
});

test("the boot loader installed now: BIOS devices from debconf that exist, UEFI from the ESP", async () => {
  const runner = fakeRunner((argv) =>
    argv[1] === "--version"
      ? { stdout: "grub-install (GRUB) 2.06-13+deb12u2\n" }
      : argv[1] === "--help"
        ? {
            stdout:
              "  --force-extra-removable  also install in the removable path\n  --uefi-secure-boot\n",
          }
        : argv[0] === "uname"
          ? { stdout: "x86_64\n" }
          : {},
  );
  const bios = memoryFiles({
    ...GRUB_TOOLS,
    "/boot/grub/grub.cfg": REAL_CFG,
    "/var/cache/debconf/config.dat": CONFIG_DAT,
    "/dev/vdb": "",
  }).files;
  const record = await detectBootLoader(bios, runner.runner, []);
  assert.deepEqual(record, {
    firmware: "bios",
    version: "2.06-13+deb12u2",
    target: "i386-pc",
    devices: ["/dev/vdb"],
  });
  const uefiTree = memoryFiles({
    ...GRUB_TOOLS,
    "/boot/grub/grub.cfg": REAL_CFG,
    "/boot/efi/EFI/debian/grubx64.efi": "",
    "/boot/efi/EFI/debian/shimx64.efi": "",
    "/boot/efi/EFI/BOOT/BOOTX64.EFI": "",
  });
  await uefiTree.files.makeDirectory("/sys/firmware/efi");
  const uefi = await detectBootLoader(
    uefiTree.files,
    runner.runner,
    parseMountinfo(UEFI_MOUNTINFO),
  );
  assert.deepEqual(uefi, {
    firmware: "uefi",
    version: "2.06-13+deb12u2",
    target: "x86_64-efi",
    efiDirectory: "/boot/efi",
    bootloaderId: "debian",
    removable: true,
    shim: true,
  });
});

test("the core image is installed where the record says; a packaged signed GRUB is left alone", () => {
  const bios: BootLoaderRecord = {
    firmware: "bios",
    version: "2.06-13+deb12u2",
    target: "i386-pc",
    devices: ["/dev/vda", "/dev/vdb"],
  };
  assert.deepEqual(reinstallCommands("/usr/sbin/grub-install", bios, ""), [
    ["/usr/sbin/grub-install", "--target=i386-pc", "/dev/vda"],
    ["/usr/sbin/grub-install", "--target=i386-pc", "/dev/vdb"],
  ]);
  const uefi: BootLoaderRecord = {
    firmware: "uefi",
    version: "2.12-1~bpo12+1",
    target: "x86_64-efi",
    efiDirectory: "/boot/efi",
    bootloaderId: "debian",
    removable: true,
  };
  assert.deepEqual(reinstallCommands("/usr/sbin/grub-install", uefi, "--force-extra-removable"), [
    [
      "/usr/sbin/grub-install",
      "--target=x86_64-efi",
      "--efi-directory=/boot/efi",
      "--bootloader-id=debian",
      "--no-nvram",
      "--force-extra-removable",
    ],
  ]);
  // Upstream GRUB (Arch) has no --force-extra-removable: the removable copy is left as it is.
  assert.equal(reinstallCommands("/usr/bin/grub-install", uefi, "--removable")[0]?.length, 5);
  assert.deepEqual(
    reinstallCommands("/usr/sbin/grub2-install", { ...uefi, packaged: true }, ""),
    [],
  );
  assert.equal(bootLoaderChanged(bios, { ...bios, version: "2.12-1~bpo12+1" }), true);
  assert.equal(bootLoaderChanged(bios, { ...bios, devices: ["/dev/sda"] }), false);
  assert.equal(describeRecord(bios), "GRUB 2.06-13+deb12u2 (BIOS, /dev/vda, /dev/vdb)");
});

test("a set's record of its boot loader survives LVM's tag characters and reads back", () => {
  const record: BootLoaderRecord = {
    firmware: "bios",
    version: "2:2.12-1",
    target: "i386-pc",
    devices: ["/dev/disk/by-path/pci-0000:00:04.0"],
  };
  const encoded = encodeRecord(record);
  assert.match(encoded, /^[A-Za-z0-9_-]+$/);
  const tags = setTags({ name: "s", kind: "manual", created: new Date(0), bootLoader: encoded });
  assert.ok(tags.every((tag) => /^[A-Za-z0-9_+.\-/=!:&#]+$/.test(tag)));
  const identity = readSetTags(tags, null);
  assert.deepEqual(decodeRecord(identity?.bootLoader), record);
  assert.equal(decodeRecord("not json"), undefined);
  assert.equal(decodeRecord(Buffer.from('{"firmware":"x"}').toString("base64url")), undefined);
});

/** A BIOS system whose grub-install says `version`; its debconf names /dev/vda. */
function biosSystem(version: string): {
  files: ReturnType<typeof memoryFiles>["files"];
  runner: ReturnType<typeof fakeRunner>;
} {
  const files = memoryFiles({
    ...GRUB_TOOLS,
    "/boot/grub/grub.cfg": REAL_CFG,
    "/var/cache/debconf/config.dat":
      "Name: grub-pc/install_devices\nTemplate: grub-pc/install_devices\nValue: /dev/vda\n",
    "/dev/vda": "",
  }).files;
  const runner = fakeRunner((argv) =>
    argv[1] === "--version" ? { stdout: `grub-install (GRUB) ${version}\n` } : {},
  );
  return { files, runner };
}

const SET_RECORD: BootLoaderRecord = {
  firmware: "bios",
  version: "2.06-13+deb12u2",
  target: "i386-pc",
  devices: ["/dev/vda"],
};

test("a revert to a set of another GRUB tags the origin whose merge waits; one of the same GRUB does nothing", async () => {
  const { files, runner } = biosSystem("2.12-1~bpo12+1");
  const context = testContext(runner.runner, { bootFiles: files });
  const set = { name: "before-grub", bootLoader: encodeRecord(SET_RECORD) };
  const commands = await bootLoaderForRevert(context, set, [
    { origin: "vg0/home", merged: false, root: false },
    { origin: "vg0/root", merged: false, root: true },
  ]);
  assert.deepEqual(commands, [
    [
      "lvchange",
      "--addtag",
      `rootsnap.reinstall-bootloader=${encodeRecord(SET_RECORD)}`,
      "vg0/root",
    ],
  ]);
  const same = biosSystem("2.06-13+deb12u2");
  const unchanged = testContext(same.runner.runner, { bootFiles: same.files });
  assert.deepEqual(
    await bootLoaderForRevert(unchanged, set, [{ origin: "vg0/root", merged: false, root: true }]),
    [],
  );
});

test("a merge done at once installs the core image at once; a finished merge's tag is acted on and dropped", async () => {
  const { files, runner } = biosSystem("2.12-1~bpo12+1");
  const context = testContext(runner.runner, { bootFiles: files });
  const set = { name: "before-grub", bootLoader: encodeRecord(SET_RECORD) };
  assert.deepEqual(
    await bootLoaderForRevert(context, set, [{ origin: "vg0/data", merged: true, root: false }]),
    [["/usr/sbin/grub-install", "--target=i386-pc", "/dev/vda"]],
  );
  const encoded = encodeRecord(SET_RECORD);
  const root = { vg: "vg0", name: "root", fullName: "vg0/root", merging: false, origin: null };
  const tagged = { ...root, tags: [`rootsnap.reinstall-bootloader=${encoded}`] };
  const later = testContext(runner.runner, { bootFiles: files });
  // Still merging: left for later.
  const snapshot = {
    vg: "vg0",
    name: "root-s",
    fullName: "vg0/root-s",
    origin: "root",
    merging: true,
    tags: [],
  };
  const waiting = await finishPendingInstalls(later, [
    tagged,
    snapshot,
  ] as unknown as LogicalVolume[]);
  assert.deepEqual(waiting, { installed: [], warnings: [] });
  assert.deepEqual(later.effects.changes, []);
  const done = await finishPendingInstalls(later, [tagged] as unknown as LogicalVolume[]);
  assert.deepEqual(done.installed, [
    "GRUB 2.06-13+deb12u2 (BIOS, /dev/vda), after the merge into vg0/root",
  ]);
  assert.deepEqual(later.effects.changes, [
    ["/usr/sbin/grub-install", "--target=i386-pc", "/dev/vda"],
    ["lvchange", "--deltag", `rootsnap.reinstall-bootloader=${encoded}`, "vg0/root"],
  ]);
});
