// The Debian systems the scenarios boot. Each is built once by a builder boot (the host
// has no device-mapper) and cached, keyed by a hash of everything below.

export type LayoutName = "bookworm-simple" | "trixie-split" | "trixie-thin";

export interface Layout {
  name: LayoutName;
  suite: "bookworm" | "trixie";
  /** Shell lines run in the builder: partition /dev/vdb, make the VG and file systems,
   * mount the new root at /mnt/t (and its other file systems below it), print fstab
   * lines to /tmp/fstab. */
  storage: string;
  /** What the scenarios may rely on; checked from inside by test/vm/layouts.test.ts. */
  expect: {
    vg: string;
    rootLv: string;
    mounts: { target: string; source: string; fstype: string }[];
  };
}

const PACKAGES = [
  "systemd-sysv",
  "udev",
  "lvm2",
  "thin-provisioning-tools",
  "linux-image-cloud-amd64",
  "grub-pc",
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
  expect: {
    vg: "thinvg",
    rootLv: "root",
    mounts: [
      { target: "/", source: "/dev/mapper/thinvg-root", fstype: "ext4" },
      { target: "/boot", source: "/dev/vda1", fstype: "ext4" },
    ],
  },
};

export const LAYOUTS: Record<LayoutName, Layout> = {
  "bookworm-simple": bookwormSimple,
  "trixie-split": trixieSplit,
  "trixie-thin": trixieThin,
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

/** Every layout gets the same packages, so a scenario may use any of them anywhere. */
export const GUEST_PACKAGES: readonly string[] = PACKAGES;

/** The script the builder boot runs as init, with the new system's disk as /dev/vdb. */
export function builderScript(layout: Layout): string {
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
echo 'rootsnap-${layout.name}' > /mnt/t/etc/hostname
printf '127.0.0.1 localhost\\n127.0.1.1 rootsnap-${layout.name}\\n' > /mnt/t/etc/hosts
for d in dev proc sys run; do mount --bind /$d /mnt/t/$d; done
cat > /mnt/t/etc/default/grub <<'GRUB'
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=\`( . /etc/os-release; echo \${NAME:-Debian} ) 2>/dev/null || echo Debian\`
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200 ${GUEST_KERNEL_PARAMS}"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
GRUB
chroot /mnt/t /bin/sh -eux <<'CHROOT'
systemd-machine-id-setup
passwd -d root
systemctl mask ${MASKED_UNITS.join(" ")}
# An initramfs with the modules this machine needs (what an admin sets with
# MODULES=dep), not every storage driver: 14 MB instead of 21 MB on trixie, and
# update-initramfs in a guest takes 58 s instead of 79-95 s under emulation. The lvm2
# and thin-provisioning-tools hooks still add dm-snapshot and dm-thin-pool.
echo MODULES=dep > /etc/initramfs-tools/conf.d/modules-dep.conf
echo 'grub-pc grub-pc/install_devices multiselect /dev/vda' | debconf-set-selections
update-initramfs -u -k all
# man finds pages without its index; rebuilding it after every package costs minutes here.
echo 'man-db man-db/auto-update boolean false' | debconf-set-selections
rm -f /var/lib/man-db/auto-update
grub-install --target=i386-pc /dev/vdb
update-grub
# Nothing was installed after this: no boot of the image needs to run ldconfig and
# systemd-update-done again (ConditionNeedsUpdate=).
touch /etc/.updated /var/.updated
CHROOT
grep -q 'root=/dev/mapper/' /mnt/t/boot/grub/grub.cfg
for d in run sys proc dev; do umount /mnt/t/$d; done
umount -R /mnt/t
vgchange -an
`;
}
