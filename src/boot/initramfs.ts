// Merges that start at boot, and the initramfs. Debian's initramfs activates every LV
// of the root's volume group through lvm's udev rule (`lvm vgchange -aay --autoactivation
// event VG`, run directly: there is no systemd there). That starts the merges a revert left
// pending and forks lvm's merge poller inside the initramfs. The poller outlives the switch
// to the real root, where it no longer sees /dev, /run or /etc; finishing a merge there can
// leave the origin suspended with no lvm process to resume it (seen: `sysvg-var` attr `LIsw`
// and `mount /var` blocked for ever). Debian 12's rule is the same. rootsnap's hook gives
// the initramfs copy of the rule `--poll n` (which `--sysinit`, meant for early-boot
// scripts, also implies): the kernel still merges at activation, and lvm finishes the
// merges in the running system (rootsnap-finish.service or `rootsnap repair`:
// `lvchange --poll y`).
import type { BootFiles } from "../system/files.ts";
import type { Effects } from "../system/effects.ts";

export const INITRAMFS_HOOK = "/etc/initramfs-tools/hooks/rootsnap-lvm-poll";
const UPDATE_INITRAMFS = ["/usr/sbin/update-initramfs", "/sbin/update-initramfs"];
const LVM_HOOK = "/usr/share/initramfs-tools/hooks/lvm2";
const LVM_RULES = [
  "/etc/udev/rules.d/69-lvm.rules",
  "/usr/lib/udev/rules.d/69-lvm.rules",
  "/lib/udev/rules.d/69-lvm.rules",
];
/** update-initramfs can take minutes on a slow machine. */
const UPDATE_TIMEOUT_MS = 30 * 60_000;

/** The hook: initramfs-tools runs it after lvm2's own hook (PREREQ) has copied the rules. */
export const INITRAMFS_HOOK_TEXT = `#!/bin/sh
# Installed by rootsnap revert, removed by rootsnap uninstall.
# lvm's udev rule activates the volume groups in the initramfs with a direct
# "lvm vgchange -aay"; with "--poll n" the kernel still starts pending merges, and
# lvm finishes them in the running system instead of in a poller that outlives
# the initramfs.
PREREQ="lvm2"
prereqs() { echo "$PREREQ"; }
case "$1" in
prereqs)
	prereqs
	exit 0
	;;
esac
for rules in "$DESTDIR"/usr/lib/udev/rules.d/69-lvm.rules "$DESTDIR"/lib/udev/rules.d/69-lvm.rules; do
	[ -f "$rules" ] || continue
	sed -i 's|RUN+="\\([^" ]*/lvm\\) vgchange -aay |RUN+="\\1 vgchange --poll n -aay |' "$rules"
done
exit 0
`;

/**
 * True when a rule runs `lvm vgchange -aay` directly (not through systemd-run) and lets
 * it poll: what the hook rewrites.
 */
export function rulesStartPoller(rules: string): boolean {
  return rules
    .split("\n")
    .some(
      (line) =>
        !line.trimStart().startsWith("#") &&
        /RUN\+="[^" ]*\/lvm vgchange -aay /.test(line) &&
        !/--poll n|--sysinit/.test(line),
    );
}

async function firstExisting(
  files: BootFiles,
  paths: readonly string[],
): Promise<string | undefined> {
  for (const path of paths) if (await files.exists(path)) return path;
  return undefined;
}

export interface InitramfsPolling {
  /** update-initramfs, when the initramfs is built by initramfs-tools with lvm's rules. */
  readonly updater: string | undefined;
  /** The initramfs starts lvm's poller for merges (before rootsnap's hook). */
  readonly startsPoller: boolean;
  /** rootsnap's hook is installed as rootsnap writes it. */
  readonly hookInstalled: boolean;
  /** Initramfs images older than the hook: built without it. */
  readonly stale: readonly string[];
}

/** What this system's initramfs does with merges at boot. */
export async function initramfsPolling(files: BootFiles): Promise<InitramfsPolling> {
  const updater = await firstExisting(files, UPDATE_INITRAMFS);
  const lvmHook = (await files.read(LVM_HOOK))?.toString("utf8") ?? "";
  const rulesPath = await firstExisting(files, LVM_RULES);
  const rules = rulesPath === undefined ? "" : ((await files.read(rulesPath))?.toString() ?? "");
  const startsPoller =
    updater !== undefined && lvmHook.includes("69-lvm.rules") && rulesStartPoller(rules);
  const hookInstalled = (await files.read(INITRAMFS_HOOK))?.toString() === INITRAMFS_HOOK_TEXT;
  const hookTime = hookInstalled ? await files.modifiedMs(INITRAMFS_HOOK) : undefined;
  const stale: string[] = [];
  for (const name of await files.list("/boot")) {
    const image = `/boot/${name}`;
    if (!image.startsWith(INITRD_PREFIX) || image.endsWith(".bak")) continue;
    const time = await files.modifiedMs(image);
    if (hookTime === undefined || time === undefined || time < hookTime) stale.push(image);
  }
  return { updater, startsPoller, hookInstalled, stale };
}

export interface InitramfsRebuild {
  /** Images rebuilt with the hook. */
  readonly rebuilt: readonly string[];
  /** Stale images of kernels whose modules are not installed: update-initramfs cannot rebuild them. */
  readonly skipped: readonly string[];
  /** Stale images of kernels the reverted set does not have: the merge takes them away. */
  readonly leftAlone: readonly string[];
}

const INITRD_PREFIX = "/boot/initrd.img-";

/**
 * Before a reboot that starts merges: makes the initramfs leave lvm's poller out, by
 * installing the hook and rebuilding, one kernel at a time, the images built without it.
 */
export async function prepareInitramfsForMerge(
  files: BootFiles,
  effects: Effects,
  /** With /boot inside a reverted volume: the kernels the set has, the only ones left to boot. */
  setReleases?: ReadonlySet<string>,
): Promise<InitramfsRebuild> {
  const state = await initramfsPolling(files);
  const nothing = { rebuilt: [], skipped: [], leftAlone: [] };
  if (!state.startsPoller || state.updater === undefined) return nothing;
  if (state.hookInstalled && state.stale.length === 0) return nothing;
  if (!state.hookInstalled) {
    await effects.makeDirectory("/etc/initramfs-tools/hooks");
    await effects.writeFile(INITRAMFS_HOOK, INITRAMFS_HOOK_TEXT, 0o755, ["write", INITRAMFS_HOOK]);
  }
  const rebuilt: string[] = [];
  const skipped: string[] = [];
  const leftAlone: string[] = [];
  for (const image of state.stale) {
    const release = image.slice(INITRD_PREFIX.length);
    if (setReleases !== undefined && !setReleases.has(release)) {
      leftAlone.push(image);
      continue;
    }
    if (!(await files.isDirectory(`/lib/modules/${release}`))) {
      skipped.push(image);
      continue;
    }
    await effects.run([state.updater, "-u", "-k", release], { timeoutMs: UPDATE_TIMEOUT_MS });
    rebuilt.push(image);
  }
  return { rebuilt, skipped, leftAlone };
}
