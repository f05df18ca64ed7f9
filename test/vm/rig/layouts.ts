// The Debian systems the scenarios boot. Each is built once by a builder boot (the host
// has no device-mapper) and cached, keyed by a hash of everything below.

export type LayoutName =
  | "bookworm-simple"
  | "trixie-split"
  | "trixie-thin"
  | "bookworm-uefi"
  | "trixie-luks"
  | "trixie-sdboot";

/** How the machine starts: SeaBIOS and GRUB in the MBR gap, or OVMF and GRUB on the ESP. */
export type Firmware = "bios" | "uefi";

export interface Layout {
  name: LayoutName;
  suite: "bookworm" | "trixie";
  /** Default "bios". */
  firmware?: Firmware;
  /** Default GRUB with initramfs-tools; systemd-boot comes with dracut (UEFI only). */
  stack?: "grub" | "systemd-boot";
  /** Packages beyond every layout's, e.g. cryptsetup-initramfs. */
  extraPackages?: readonly string[];
  /** Shell lines run once the system is copied onto /mnt/t, before its chroot (crypttab). */
  afterCopy?: string;
  /** Shell lines run in the builder: partition /dev/vdb, make the VG and file systems,
   * mount the new root at /mnt/t (and its other file systems below it), print fstab
   * lines to /tmp/fstab. */
  storage: string;
  /** What the scenarios may rely on; checked from inside by test/vm/layouts.test.ts. */
  expect: {
    vg: string;
    rootLv: string;
    mounts: { target: string; source: string; fstype: string }[];
    /** LVs besides the root that must exist (a swap LV), as "lv_name:segtype". */
    otherLvs?: string[];
    /** The PV is a LUKS2 mapping opened in the initramfs. */
    encrypted?: boolean;
  };
}

const BIOS_GRUB = "grub-pc";

const PACKAGES = [
  "systemd-sysv",
  "udev",
  "lvm2",
  "thin-provisioning-tools",
  "linux-image-cloud-amd64",
  BIOS_GRUB,
  "initramfs-tools",
  "e2fsprogs",
  "xfsprogs",
  "tar",
  "zstd",
  "kmod",
  "procps",
  "util-linux",
  "fdisk",
  "qemu-guest-agent",
  "nodejs",
  "acl",
  "attr",
  "libcap2-bin",
  // What an admin reads rootsnap with: man rootsnap, and bash's completion.
  "man-db",
  "bash-completion",
];

export const DISK_GIB = 10;

const bookwormSimple: Layout = {
  name: "bookworm-simple",
  suite: "bookworm",
  storage: `
printf 'label: dos\\nstart=2048, type=8e\\n' | sfdisk --wipe always /dev/vdb
udevadm settle
pvcreate -y /dev/vdb1
vgcreate vg0 /dev/vdb1
lvcreate -y -W y -L 3G -n root vg0
mkfs.ext4 -q -L root /dev/vg0/root
mount /dev/vg0/root /mnt/t
echo '/dev/mapper/vg0-root / ext4 errors=remount-ro 0 1' >> /tmp/fstab
`,
  expect: {
    vg: "vg0",
    rootLv: "root",
    mounts: [{ target: "/", source: "/dev/mapper/vg0-root", fstype: "ext4" }],
  },
};

/** Partition 1 for /boot (ext4, as Debian's installer makes it), partition 2 a PV of `vg`. */
function separateBoot(vg: string): string {
  return `printf 'label: dos\\nstart=2048, size=300MiB, type=83, bootable\\ntype=8e\\n' | sfdisk --wipe always /dev/vdb
udevadm settle
mkfs.ext4 -q -L boot /dev/vdb1
pvcreate -y /dev/vdb2
vgcreate ${vg} /dev/vdb2
`;
}

const trixieSplit: Layout = {
  name: "trixie-split",
  suite: "trixie",
  storage: `
${separateBoot("sysvg")}lvcreate -y -W y -L 3G -n root sysvg
lvcreate -y -W y -L 1G -n var sysvg
mkfs.ext4 -q -L root /dev/sysvg/root
mkfs.xfs -q -L var /dev/sysvg/var
mount /dev/sysvg/root /mnt/t
mkdir -p /mnt/t/boot /mnt/t/var
mount /dev/vdb1 /mnt/t/boot
mount /dev/sysvg/var /mnt/t/var
echo '/dev/mapper/sysvg-root / ext4 errors=remount-ro 0 1' >> /tmp/fstab
echo "UUID=$(blkid -s UUID -o value /dev/vdb1) /boot ext4 defaults 0 2" >> /tmp/fstab
echo '/dev/mapper/sysvg-var /var xfs defaults 0 2' >> /tmp/fstab
`,
  expect: {
    vg: "sysvg",
    rootLv: "root",
    mounts: [
      { target: "/", source: "/dev/mapper/sysvg-root", fstype: "ext4" },
      { target: "/boot", source: "/dev/vda1", fstype: "ext4" },
      { target: "/var", source: "/dev/mapper/sysvg-var", fstype: "xfs" },
    ],
  },
};

/** What the initramfs prints when the root LV has not appeared: see ROOT_LV_MISSING. */
export const ROOT_LV_MISSING = "rig: the root LV has not appeared; what lvm sees:";

/**
 * A power cut now and then leaves trixie-thin's initramfs waiting for ever for its thin
 * root, with lvm silent. This initramfs-tools script, run at each turn of that wait, says
 * on the console what lvm sees and tries the activation itself, verbosely, after ten turns.
 */
const THIN_ROOT_DIAGNOSIS = `mkdir -p /mnt/t/etc/initramfs-tools/scripts/local-block
cat > /mnt/t/etc/initramfs-tools/scripts/local-block/rig-diagnose <<'DIAGNOSE'
#!/bin/sh
case "$1" in prereqs) echo lvm2; exit 0 ;; esac
n=$(( $(cat /run/rig-diagnose 2>/dev/null || echo 0) + 1 ))
echo "$n" > /run/rig-diagnose
[ "$n" = 10 ] || exit 0
echo "${ROOT_LV_MISSING}"
lvm pvs 2>&1
lvm lvs -a -o lv_name,lv_attr,lv_health_status,pool_lv,transaction_id 2>&1
dmsetup info -c 2>&1
lvm lvchange -aay --sysinit -vv thinvg/root 2>&1 | tail -40
DIAGNOSE
chmod 755 /mnt/t/etc/initramfs-tools/scripts/local-block/rig-diagnose
`;

const trixieThin: Layout = {
  name: "trixie-thin",
  suite: "trixie",
  storage: `
${separateBoot("thinvg")}lvcreate -y --type thin-pool -L 4G -n pool thinvg
lvcreate -y -W y -V 3G -T thinvg/pool -n root
mkfs.ext4 -q -L root /dev/thinvg/root
mount /dev/thinvg/root /mnt/t
mkdir -p /mnt/t/boot
mount /dev/vdb1 /mnt/t/boot
echo '/dev/mapper/thinvg-root / ext4 errors=remount-ro 0 1' >> /tmp/fstab
echo "UUID=$(blkid -s UUID -o value /dev/vdb1) /boot ext4 defaults 0 2" >> /tmp/fstab
`,
  afterCopy: THIN_ROOT_DIAGNOSIS,
  expect: {
    vg: "thinvg",
    rootLv: "root",
    mounts: [
      { target: "/", source: "/dev/mapper/thinvg-root", fstype: "ext4" },
      { target: "/boot", source: "/dev/vda1", fstype: "ext4" },
    ],
  },
};

/**
 * Debian's guided LVM install on an EFI machine: GPT, the ESP at /boot/efi, /boot on
 * ext4, then the PV; GRUB for EFI, which reads /boot/grub/grub.cfg through the ESP's stub.
 */
const bookwormUefi: Layout = {
  name: "bookworm-uefi",
  suite: "bookworm",
  firmware: "uefi",
  storage: `
printf 'label: gpt\nstart=2048, size=100MiB, type=U, name=esp\nsize=300MiB, type=L, name=boot\ntype=E6D6D379-F507-44C2-A23C-238F2A3DF928, name=lvm\n' | sfdisk --wipe always /dev/vdb
udevadm settle
mkfs.vfat -F 32 -n ESP /dev/vdb1
mkfs.ext4 -q -L boot /dev/vdb2
pvcreate -y /dev/vdb3
vgcreate systemvg /dev/vdb3
lvcreate -y -W y -L 3G -n root systemvg
lvcreate -y -W y -L 512M -n home systemvg
mkfs.ext4 -q -L root /dev/systemvg/root
mkfs.ext4 -q -L home /dev/systemvg/home
mount /dev/systemvg/root /mnt/t
mkdir -p /mnt/t/boot /mnt/t/home
mount /dev/vdb2 /mnt/t/boot
mkdir -p /mnt/t/boot/efi
mount /dev/vdb1 /mnt/t/boot/efi
mount /dev/systemvg/home /mnt/t/home
echo '/dev/mapper/systemvg-root / ext4 errors=remount-ro 0 1' >> /tmp/fstab
echo "UUID=$(blkid -s UUID -o value /dev/vdb2) /boot ext4 defaults 0 2" >> /tmp/fstab
echo "UUID=$(blkid -s UUID -o value /dev/vdb1) /boot/efi vfat umask=0077 0 1" >> /tmp/fstab
echo '/dev/mapper/systemvg-home /home ext4 defaults 0 2' >> /tmp/fstab
`,
  expect: {
    vg: "systemvg",
    rootLv: "root",
    mounts: [
      { target: "/", source: "/dev/mapper/systemvg-root", fstype: "ext4" },
      { target: "/boot", source: "/dev/vda2", fstype: "ext4" },
      { target: "/boot/efi", source: "/dev/vda1", fstype: "vfat" },
      { target: "/home", source: "/dev/mapper/systemvg-home", fstype: "ext4" },
    ],
    otherLvs: ["home:linear"],
  },
};

/** The key file that unlocks the PV in the initramfs, and the passphrase of the other slot. */
export const LUKS_PASSPHRASE = "rootsnap-luks";
const LUKS_KEY_DIR = "/etc/cryptsetup-keys.d";

/**
 * Debian's guided encrypted LVM install: /boot on a partition, the rest one LUKS2
 * mapping that is the only PV, a VG named after the host ("debian-vg", so device-mapper
 * names carry doubled dashes) with /, /home and swap. A key file in the initramfs
 * unlocks it so that boots need nobody at the console; slot 1 holds a passphrase.
 */
const trixieLuks: Layout = {
  name: "trixie-luks",
  suite: "trixie",
  extraPackages: ["cryptsetup", "cryptsetup-initramfs"],
  storage: `
modprobe dm-crypt
printf 'label: dos\nstart=2048, size=300MiB, type=83, bootable\ntype=83\n' | sfdisk --wipe always /dev/vdb
udevadm settle
mkfs.ext4 -q -L boot /dev/vdb1
head -c 64 /dev/urandom > /tmp/vda2_crypt.key
printf '%s' '${LUKS_PASSPHRASE}' > /tmp/passphrase
# pbkdf2 with few iterations for the key file: argon2 under emulation costs seconds a boot.
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-slot 0 --key-file /tmp/vda2_crypt.key /dev/vdb2
cryptsetup luksAddKey -q --key-file /tmp/vda2_crypt.key --key-slot 1 --pbkdf argon2id --iter-time 500 --pbkdf-memory 65536 /dev/vdb2 /tmp/passphrase
rm /tmp/passphrase
cryptsetup open --key-file /tmp/vda2_crypt.key /dev/vdb2 vda2_crypt
pvcreate -y /dev/mapper/vda2_crypt
vgcreate debian-vg /dev/mapper/vda2_crypt
lvcreate -y -W y -L 3G -n root debian-vg
lvcreate -y -W y -L 512M -n home debian-vg
lvcreate -y -W y -L 256M -n swap_1 debian-vg
mkfs.ext4 -q -L root /dev/debian-vg/root
mkfs.ext4 -q -L home /dev/debian-vg/home
mkswap -L swap /dev/debian-vg/swap_1
mount /dev/debian-vg/root /mnt/t
mkdir -p /mnt/t/boot /mnt/t/home
mount /dev/vdb1 /mnt/t/boot
mount /dev/debian-vg/home /mnt/t/home
echo '/dev/mapper/debian--vg-root / ext4 errors=remount-ro 0 1' >> /tmp/fstab
echo "UUID=$(blkid -s UUID -o value /dev/vdb1) /boot ext4 defaults 0 2" >> /tmp/fstab
echo '/dev/mapper/debian--vg-home /home ext4 defaults 0 2' >> /tmp/fstab
echo '/dev/mapper/debian--vg-swap_1 none swap sw 0 0' >> /tmp/fstab
echo "vda2_crypt UUID=$(blkid -s UUID -o value /dev/vdb2) ${LUKS_KEY_DIR}/vda2_crypt.key luks,discard" > /tmp/crypttab
`,
  afterCopy: `
cp /tmp/crypttab /mnt/t/etc/crypttab
install -d -m 0700 /mnt/t${LUKS_KEY_DIR}
install -m 0400 /tmp/vda2_crypt.key /mnt/t${LUKS_KEY_DIR}/vda2_crypt.key
echo 'KEYFILE_PATTERN="${LUKS_KEY_DIR}/*.key"' >> /mnt/t/etc/cryptsetup-initramfs/conf-hook
# The initramfs holds the key: only root may read it.
echo UMASK=0077 > /mnt/t/etc/initramfs-tools/conf.d/umask.conf
`,
  expect: {
    vg: "debian-vg",
    rootLv: "root",
    mounts: [
      { target: "/", source: "/dev/mapper/debian--vg-root", fstype: "ext4" },
      { target: "/boot", source: "/dev/vda1", fstype: "ext4" },
      { target: "/home", source: "/dev/mapper/debian--vg-home", fstype: "ext4" },
    ],
    otherLvs: ["home:linear", "swap_1:linear"],
    encrypted: true,
  },
};

/**
 * systemd-boot with dracut, as Debian 13 packages them: GPT, the ESP (vfat) at /efi as the
 * one boot partition (kernel-install copies kernels and initramfs images there and writes
 * Boot Loader Spec entries; /boot stays on /, which dpkg needs), / on XFS and /var on ext4
 * in VG vgsys. The ESP at /efi rather than /boot: dpkg cannot install kernels onto vfat.
 */
const trixieSdboot: Layout = {
  name: "trixie-sdboot",
  suite: "trixie",
  firmware: "uefi",
  stack: "systemd-boot",
  storage: `
printf 'label: gpt\nstart=2048, size=400MiB, type=U, name=esp\ntype=E6D6D379-F507-44C2-A23C-238F2A3DF928, name=lvm\n' | sfdisk --wipe always /dev/vdb
udevadm settle
mkfs.vfat -F 32 -n ESP /dev/vdb1
pvcreate -y /dev/vdb2
vgcreate vgsys /dev/vdb2
lvcreate -y -W y -L 3G -n root vgsys
lvcreate -y -W y -L 1G -n var vgsys
mkfs.xfs -q -L root /dev/vgsys/root
mkfs.ext4 -q -L var /dev/vgsys/var
mount /dev/vgsys/root /mnt/t
mkdir -p /mnt/t/efi /mnt/t/var
mount /dev/vdb1 /mnt/t/efi
mount /dev/vgsys/var /mnt/t/var
echo '/dev/mapper/vgsys-root / xfs defaults 0 1' >> /tmp/fstab
echo '/dev/mapper/vgsys-var /var ext4 defaults 0 2' >> /tmp/fstab
echo "UUID=$(blkid -s UUID -o value /dev/vdb1) /efi vfat umask=0077 0 1" >> /tmp/fstab
`,
  expect: {
    vg: "vgsys",
    rootLv: "root",
    mounts: [
      { target: "/", source: "/dev/mapper/vgsys-root", fstype: "xfs" },
      { target: "/efi", source: "/dev/vda1", fstype: "vfat" },
      { target: "/var", source: "/dev/mapper/vgsys-var", fstype: "ext4" },
    ],
    otherLvs: ["var:linear"],
  },
};

export const LAYOUTS: Record<LayoutName, Layout> = {
  "bookworm-simple": bookwormSimple,
  "trixie-split": trixieSplit,
  "trixie-thin": trixieThin,
  "bookworm-uefi": bookwormUefi,
  "trixie-luks": trixieLuks,
  "trixie-sdboot": trixieSdboot,
};

export function getLayout(name: string): Layout {
  if (Object.hasOwn(LAYOUTS, name)) return LAYOUTS[name as LayoutName];
  throw new Error(`unknown VM layout "${name}": choose one of ${Object.keys(LAYOUTS).join(", ")}`);
}

/**
 * The guest kernel's extra parameter, in the images' GRUB configuration and the builder
 * boot alike: no address space randomisation in these throwaway guests. QEMU's software
 * emulation reuses the code it has translated only where a program's code sits at the same
 * address as before, so with randomisation every process start translates its libraries
 * again. In a trixie-split guest: update-initramfs 22 s instead of 58-62 s, 50 starts of
 * /bin/true 0.2 s instead of 1.1-1.6 s.
 */
export const GUEST_KERNEL_PARAMS = "norandmaps";

/**
 * Units masked in the images: nothing to do on a headless machine with no display, FUSE,
 * configfs or binfmt users, and under emulation each costs CPU the rest of the boot waits
 * for. The apt timers would start downloads with no network.
 */
export const MASKED_UNITS: readonly string[] = [
  "apt-daily.timer",
  "apt-daily-upgrade.timer",
  "modprobe@drm.service",
  "modprobe@fuse.service",
  "modprobe@configfs.service",
  "getty-static.service",
  "systemd-binfmt.service",
];

/** What UEFI layouts install instead of grub-pc: GRUB for EFI, the ESP's tools. */
const UEFI_GRUB = ["grub-efi-amd64", "dosfstools", "efibootmgr"];
/** systemd-boot's layouts: the boot loader and bootctl, the ESP's tools. */
const SYSTEMD_BOOT = ["systemd-boot", "systemd-boot-efi", "dosfstools", "efibootmgr"];

/**
 * Every layout gets the same packages, so a scenario may use any of them anywhere; the
 * boot loader is the firmware's (or systemd-boot, with dracut for initramfs-tools), and a
 * layout may add its own (cryptsetup).
 */
export function guestPackages(layout: Layout): string[] {
  const sdboot = layout.stack === "systemd-boot";
  const grub = sdboot
    ? SYSTEMD_BOOT
    : (layout.firmware ?? "bios") === "uefi"
      ? UEFI_GRUB
      : [BIOS_GRUB];
  return [
    ...PACKAGES.flatMap((name) =>
      name === BIOS_GRUB ? grub : name === "initramfs-tools" && sdboot ? ["dracut"] : [name],
    ),
    ...(layout.extraPackages ?? []),
  ];
}

/** The lines that put GRUB where the firmware looks for it, before and after the initramfs. */
function grubLines(layout: Layout): { debconf: string; install: string } {
  if ((layout.firmware ?? "bios") === "bios") {
    return {
      debconf:
        "echo 'grub-pc grub-pc/install_devices multiselect /dev/vda' | debconf-set-selections",
      install: "grub-install --target=i386-pc /dev/vdb",
    };
  }
  // The builder has no EFI variables: GRUB goes to the ESP's removable path too (what
  // grub2/force_efi_extra_removable does), so OVMF finds it before any boot entry exists;
  // the package's later grub-install runs in a UEFI boot and adds its entry then.
  return {
    debconf:
      "echo 'grub-efi-amd64 grub2/force_efi_extra_removable boolean true' | debconf-set-selections",
    install:
      "grub-install --target=x86_64-efi --efi-directory=/boot/efi --bootloader-id=debian --no-nvram --force-extra-removable",
  };
}

/** The chroot's lines that make the initramfs and install the boot loader, then their check. */
function bootLines(layout: Layout): { config: string; chroot: string; check: string } {
  if (layout.stack === "systemd-boot") {
    const root = layout.expect.mounts.find((mount) => mount.target === "/")?.source ?? "";
    return {
      config: `echo 'root=${root} ro console=ttyS0,115200 ${GUEST_KERNEL_PARAMS}' > /mnt/t/etc/kernel/cmdline
`,
      chroot: `# man finds pages without its index; rebuilding it after every package costs minutes here.
echo 'man-db man-db/auto-update boolean false' | debconf-set-selections
rm -f /var/lib/man-db/auto-update
# An initramfs for this machine (dracut's own hostonly example), not every driver.
cp /usr/lib/dracut/dracut.conf.d/hostonly/50-hostonly.conf /etc/dracut.conf.d/
# The builder has no EFI variables: bootctl installs to the ESP's removable path too,
# where OVMF finds it; kernel-install then writes the entry and dracut the initramfs.
bootctl install --esp-path=/efi --no-variables
printf 'timeout 1\\n' > /efi/loader/loader.conf
# One initramfs per kernel, built for this machine and handed to kernel-install.
for kernel in /boot/vmlinuz-*; do
  version=\${kernel#/boot/vmlinuz-}
  dracut --force /boot/initrd.img-$version $version
  kernel-install add $version $kernel /boot/initrd.img-$version
done
ls -lR /efi
cat /efi/loader/entries/*.conf
`,
      check: "grep -q 'root=/dev/mapper/' /mnt/t/efi/loader/entries/*.conf",
    };
  }
  const grub = grubLines(layout);
  return {
    config: `cat > /mnt/t/etc/default/grub <<'GRUB'
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=\`( . /etc/os-release; echo \${NAME:-Debian} ) 2>/dev/null || echo Debian\`
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200 ${GUEST_KERNEL_PARAMS}"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
GRUB
`,
    chroot: `# An initramfs with the modules this machine needs (what an admin sets with
# MODULES=dep), not every storage driver: 14 MB instead of 21 MB on trixie, and
# update-initramfs in a guest takes 58 s instead of 79-95 s under emulation. The lvm2
# and thin-provisioning-tools hooks still add dm-snapshot and dm-thin-pool.
echo MODULES=dep > /etc/initramfs-tools/conf.d/modules-dep.conf
${grub.debconf}
update-initramfs -u -k all
# man finds pages without its index; rebuilding it after every package costs minutes here.
echo 'man-db man-db/auto-update boolean false' | debconf-set-selections
rm -f /var/lib/man-db/auto-update
${grub.install}
update-grub
`,
    check: "grep -q 'root=/dev/mapper/' /mnt/t/boot/grub/grub.cfg",
  };
}

/** The script the builder boot runs as init, with the new system's disk as /dev/vdb. */
export function builderScript(layout: Layout): string {
  const boot = bootLines(layout);
  return `#!/bin/sh
# Builds a Debian system with its root on LVM onto /dev/vdb, then powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C
exec >/dev/console 2>&1
set -eux
finish() {
  rc=$?
  set +e
  if [ "$rc" = 0 ]; then echo ROOTSNAP-BUILD-OK; else echo "ROOTSNAP-BUILD-FAILED rc=$rc"; fi
  sync
  echo o > /proc/sysrq-trigger
}
trap finish EXIT
# The initramfs hands over /proc, /sys, /dev and /run already mounted; mount what is not.
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sys /sys
mountpoint -q /dev || mount -t devtmpfs dev /dev
mkdir -p /dev/pts /run
mountpoint -q /dev/pts || mount -t devpts devpts /dev/pts
mountpoint -q /run || mount -t tmpfs run /run
echo 1 > /proc/sys/kernel/sysrq
/lib/systemd/systemd-udevd --daemon
udevadm trigger --action=add
udevadm settle
modprobe dm-mod
modprobe dm-snapshot
modprobe dm-thin-pool
mkdir -p /mnt/t
: > /tmp/fstab
${layout.storage}
tar -C / --one-file-system --numeric-owner --xattrs --xattrs-include='*' --acls \\
  --exclude=./builder.sh --exclude=./proc --exclude=./sys --exclude=./dev --exclude=./run \\
  -cf - . | tar -C /mnt/t --numeric-owner --xattrs --xattrs-include='*' --acls -xpf -
mkdir -p /mnt/t/proc /mnt/t/sys /mnt/t/dev /mnt/t/run
cp /tmp/fstab /mnt/t/etc/fstab
${layout.afterCopy === undefined ? "" : `${layout.afterCopy.trim()}\n`}echo 'rootsnap-${layout.name}' > /mnt/t/etc/hostname
printf '127.0.0.1 localhost\\n127.0.1.1 rootsnap-${layout.name}\\n' > /mnt/t/etc/hosts
for d in dev proc sys run; do mount --bind /$d /mnt/t/$d; done
${boot.config}chroot /mnt/t /bin/sh -eux <<'CHROOT'
systemd-machine-id-setup
passwd -d root
systemctl mask ${MASKED_UNITS.join(" ")}
${boot.chroot}# Nothing was installed after this: no boot of the image needs to run ldconfig and
# systemd-update-done again (ConditionNeedsUpdate=).
touch /etc/.updated /var/.updated
CHROOT
${boot.check}
for d in run sys proc dev; do umount /mnt/t/$d; done
umount -R /mnt/t
vgchange -an
`;
}
