// The long help of each verb, beside the verb table: paragraphs, examples and the exit
// codes it returns. `rootsnap help VERB`, `VERB --help` and the man page show them.
import { ExitCode, type ExitCodeValue } from "../system/errors.ts";
import type { VerbName } from "./verbs.ts";

export interface Example {
  /** After "rootsnap ". */
  readonly command: string;
  readonly says: string;
}

export interface VerbManual {
  /** Paragraphs after the verb's description. */
  readonly about: readonly string[];
  readonly examples: readonly Example[];
  /** The exit codes it can return besides 0, 64 and 70, which every verb can. */
  readonly exits: readonly ExitCodeValue[];
}

/** What each exit code means, for help and the man page. */
export const EXIT_MEANINGS: Readonly<Record<ExitCodeValue, string>> = {
  [ExitCode.ok]: "success",
  [ExitCode.failed]: "an operation failed, a check failed or a question was answered no",
  [ExitCode.usage]: "the command line is wrong",
  [ExitCode.dataError]: "a set, snapshot or archive is not what it must be (no such set, invalid)",
  [ExitCode.unavailable]: "a program rootsnap needs is missing",
  [ExitCode.internal]: "a bug in rootsnap: please report it with the output of -v",
  [ExitCode.noSpace]: "a volume group lacks the free space for the set",
  [ExitCode.locked]: "another rootsnap holds the lock for longer than --wait",
  [ExitCode.notRoot]: "not run as root, or setup found a program others can replace",
  [ExitCode.config]: "the configuration file is missing, does not parse or has a bad value",
};

/** Every verb can exit 0, 64 and 70. */
export const COMMON_EXITS: readonly ExitCodeValue[] = [
  ExitCode.ok,
  ExitCode.usage,
  ExitCode.internal,
];

const { failed, dataError, unavailable, noSpace, locked, notRoot, config } = ExitCode;

export const MANUAL = {
  create: {
    about: [
      "A set is one snapshot per volume, taken together and named together: the root LV and, when configured, /home, /var or any other LV. Each snapshot is tagged with the set's name and kind, so rootsnap finds the set again from lvm alone.",
      "Thick snapshots get the size the policy gives (20%ORIGIN by default): the space they need is the amount of data that changes while they exist. Thin volumes get thin snapshots, which take space from their pool. With a /boot file system of its own, a copy of /boot is kept with every set that holds /, so a revert can put back the kernels that match the reverted root.",
    ],
    examples: [
      { command: "create pre-upgrade", says: "a set named pre-upgrade of the configured volumes" },
      {
        command: "create --volume vg0/root --volume vg0/home --size 5G",
        says: "a set of two volumes, 5 GiB of snapshot each, named manual-DATE-TIME",
      },
      { command: "create --dry-run", says: "the lvcreate commands it would run, changing nothing" },
    ],
    exits: [failed, dataError, unavailable, noSpace, locked, notRoot, config],
  },
  list: {
    about: [
      "USED is how much of a thick snapshot's space is used; a snapshot that reaches 100 % becomes invalid and can no longer be merged or mounted. list takes no lock and changes nothing.",
    ],
    examples: [
      { command: "list", says: "a table of every set" },
      { command: "list --json", says: "the same as one JSON document, for scripts" },
    ],
    exits: [unavailable, notRoot],
  },
  show: {
    about: ["show takes no lock and changes nothing."],
    examples: [
      { command: "show pre-upgrade", says: "the set pre-upgrade, volume by volume" },
      { command: "show pre-upgrade --json", says: "the same as JSON" },
    ],
    exits: [dataError, unavailable, notRoot],
  },
  remove: {
    about: [
      "This is how a change is kept: the system stays as it is now and the snapshots' space is freed. Unmount a set that rootsnap mount mounted (rootsnap umount NAME) before removing it.",
    ],
    examples: [
      { command: "remove pre-upgrade", says: "asks, then removes the set" },
      { command: "remove pre-upgrade --yes", says: "without asking, for scripts" },
    ],
    exits: [failed, dataError, unavailable, locked, notRoot],
  },
  revert: {
    about: [
      "A volume that is not in use (not mounted, not open) is merged at once. The root volume is always in use: its merge starts when it is next activated, early in the next boot, and the system comes up as it was when the set was taken. Reboot soon: whatever is written until then is undone too.",
      "The merge consumes the snapshot: after it the set is gone. When /boot is a file system of its own, the set's copy of /boot is put back too, so the kernels match the reverted root. rootsnap-finish.service finishes what the boot started and reports it in the journal.",
      "When the set was made with another GRUB than the one installed now, GRUB's core image (in the MBR gap or on the ESP) is installed again from the reverted system once the merge has run, so that it matches the modules in /boot/grub: at once for a merge done now, else at the next boot by rootsnap-finish.service (or rootsnap repair). rootsnap show prints the boot loader a set was made with.",
    ],
    examples: [
      { command: "revert pre-upgrade", says: "asks, then merges the set; reboot to finish" },
      {
        command: "revert pre-upgrade --dry-run",
        says: "the lvconvert --merge commands, changing nothing",
      },
    ],
    exits: [failed, dataError, unavailable, locked, notRoot],
  },
  status: {
    about: [
      "Use it to see whether a revert is waiting for the next boot, whether a snapshot is filling up, or whether a set needs attention.",
    ],
    examples: [
      { command: "status", says: "the whole picture, for people" },
      { command: "status --json", says: "the same for monitoring" },
    ],
    exits: [unavailable, notRoot],
  },
  repair: {
    about: [
      "A merge that ran while nothing polled it (a boot that ended early, a crash) is left half done; lvm finishes it only when asked. repair asks, and tidies what such a merge left. status says when a repair is due.",
    ],
    examples: [
      { command: "repair", says: "finish and tidy what an interrupted merge left" },
      { command: "repair --dry-run", says: "the commands it would run" },
    ],
    exits: [failed, unavailable, locked, notRoot],
  },
  setup: {
    about: [
      "Also installs the package managers' hooks (apt, pacman, dnf: a pre-update set before each run, see [hooks]), the [watchdog] service and the [schedule] timer when configured, and a boot plan: the exact commands the boot-time unit runs, made ahead so the boot runs nothing it has not checked.",
      "Installing the package changes nothing in the boot; setup does. Run rootsnap doctor first: it says what setup needs. Every change is listed by --dry-run first, and rootsnap uninstall takes all of it back.",
    ],
    examples: [
      { command: "setup --dry-run", says: "the files it would write, as a diff, and the commands" },
      { command: "setup", says: "install the boot integration" },
      { command: "next-boot", says: "then: take a boot-time set at the next boot" },
    ],
    exits: [failed, unavailable, locked, notRoot, config],
  },
  uninstall: {
    about: [
      "The snapshot sets stay: they are data. Remove them with rootsnap remove first if they are not wanted. Removing the Debian package runs uninstall by itself.",
    ],
    examples: [
      { command: "uninstall --dry-run", says: "what it would remove and put back" },
      { command: "uninstall --yes", says: "remove the boot integration without asking" },
    ],
    exits: [failed, unavailable, locked, notRoot],
  },
  "next-boot": {
    about: [
      "It needs rootsnap setup first. GRUB's environment block (grubenv) must be writable by GRUB at boot: on a /boot inside LVM it is not, and doctor says so.",
    ],
    examples: [
      { command: "next-boot", says: "the next boot takes a set of kind boot" },
      { command: "next-boot --cancel", says: "the next boot is a normal one again" },
    ],
    exits: [failed, unavailable, locked, notRoot, config],
  },
  doctor: {
    about: [
      "Each line is ok, warn or fail with what it found; a fail says what to do. Run it before setup and after changing the disk layout. doctor takes no lock and changes nothing.",
      "It names the boot stack one part a line: the firmware (BIOS or UEFI, secure boot, the ESP), the boot loader and the file it reads, where grubenv lies and whether GRUB can write it, the initramfs generator, whether / lies on LUKS, and whether boot integration supports that combination.",
    ],
    examples: [
      { command: "doctor", says: "every check, one per line" },
      { command: "doctor --json", says: "the same as JSON" },
    ],
    exits: [failed, notRoot, config],
  },
  mount: {
    about: [
      "Use it to take back one file from before a change, or to look at what a set holds. The snapshots are activated for the mount when they are not, and mounted read-only without replaying their journal (noload for ext4; nouuid and norecovery for XFS, which refuses a second file system with the same UUID otherwise). rootsnap umount NAME undoes it.",
    ],
    examples: [
      { command: "mount pre-upgrade", says: "prints /run/rootsnap/pre-upgrade" },
      { command: "mount pre-upgrade /mnt/old", says: "the set below /mnt/old" },
    ],
    exits: [failed, dataError, unavailable, locked, notRoot],
  },
  umount: {
    about: ["A set that is not mounted is not an error."],
    examples: [{ command: "umount pre-upgrade", says: "unmount the set" }],
    exits: [failed, dataError, unavailable, locked, notRoot],
  },
  backup: {
    about: [
      "The archive is GNU tar with numeric owners, ACLs, extended attributes and SELinux labels, of the snapshots mounted read-only, so the running system is backed up as it was at one instant while it keeps running. The manifest (FILE.manifest.json) lists the volumes, the tar options and a checksum of the archive.",
      "A backup that fails or is interrupted leaves no archive behind and no snapshot mounted.",
    ],
    examples: [
      {
        command: "backup --to /srv/backup/host.tar.zst",
        says: "a temporary set, archived, then removed",
      },
      {
        command: "backup nightly --to - | ssh backup cat >host.tar.zst",
        says: "a set, to another machine",
      },
      {
        command: "backup --verify /srv/backup/host.tar.zst",
        says: "check an archive against its manifest",
      },
    ],
    exits: [failed, dataError, unavailable, noSpace, locked, notRoot, config],
  },
  restore: {
    about: [
      "Make and mount the new file systems first (for example from a rescue system), restore into them, then make the restored system bootable (fstab, grub-install). Check the archive first with rootsnap backup --verify ARCHIVE.",
    ],
    examples: [
      {
        command: "restore /srv/backup/host.tar.zst --to /mnt/target",
        says: "extract into /mnt/target",
      },
    ],
    exits: [failed, dataError, unavailable, notRoot],
  },
  prune: {
    about: [
      "Manual sets are kept unless [retention.manual] says otherwise. rootsnap-finish.service prunes boot sets after a boot that made one, and rootsnap-prune.timer (installed by setup) runs prune hourly; run it by hand to apply a policy you changed at once.",
    ],
    examples: [
      { command: "prune --dry-run", says: "what would be removed and why" },
      { command: "prune --yes", says: "remove it without asking" },
    ],
    exits: [failed, unavailable, locked, notRoot, config],
  },
  watch: {
    about: [
      "setup installs rootsnap-watch.service, which runs watch --follow. With metrics set it also writes a Prometheus text file for node_exporter's textfile collector.",
    ],
    examples: [
      { command: "watch", says: "one pass now" },
      { command: "watch --follow", says: "keep watching until stopped" },
    ],
    exits: [failed, unavailable, notRoot, config],
  },
  hook: {
    about: [
      "setup installs the hooks of the package managers it finds: /etc/apt/apt.conf.d/80rootsnap (DPkg::Pre-Invoke), a pacman hook, and a dnf5 actions file (with the libdnf5 actions plugin). It is not meant to be run by hand, except to test a hook.",
    ],
    examples: [{ command: "hook apt", says: "what apt runs before it unpacks packages" }],
    exits: [failed, unavailable, noSpace, locked, notRoot, config],
  },
  "boot-entry": {
    about: [
      "kernel-install runs it through /etc/kernel/install.d/95-rootsnap.install after adding or removing a kernel; by hand it does the same.",
    ],
    examples: [{ command: "boot-entry --dry-run", says: "the entry it would write or remove" }],
    exits: [failed, unavailable, locked, notRoot],
  },
  "boot-finish": {
    about: ["It is not meant to be run by hand."],
    examples: [{ command: "boot-finish --dry-run", says: "what it would do now" }],
    exits: [failed, unavailable, locked, notRoot, config],
  },
} satisfies Record<VerbName, VerbManual>;

/** The exit codes one verb can return, in order. */
export function exitsOf(name: VerbName): ExitCodeValue[] {
  const manual: VerbManual = MANUAL[name];
  return [...new Set([...COMMON_EXITS, ...manual.exits])].sort((a, b) => a - b);
}
