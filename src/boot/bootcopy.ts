// /boot outside the snapshot: when /boot is its own file system and / is in a set, the
// set keeps a copy of what booting needs (kernels, initramfs, grub.cfg) in a tar on /,
// and revert puts it back, so the reverted / boots a kernel whose modules it has.
import { BOOT_COPY_DIR } from "../system/paths.ts";
import type { Commands, Context } from "../system/context.ts";
import { readMounts } from "../config/mounts.ts";
import { mountAt, type Mount } from "../config/mounts.ts";
import { OperationError } from "../system/errors.ts";
import type { SnapshotSet } from "../sets/model.ts";
import type { BootFiles } from "../system/files.ts";
import type { Effects } from "../system/effects.ts";

/** Re-exported from src/system/paths.ts, where every path rootsnap owns is listed. */
export { BOOT_COPY_DIR };

const STAGING = "/boot/.rootsnap-restore";
/** Files a kernel package puts into /boot; only these are removed when absent from a copy. */
const KERNEL_FILE = /^(vmlinuz|vmlinux|initrd\.img|initramfs|config|System\.map)-/;
const GRUB_CONFIGS = ["grub/grub.cfg", "grub2/grub.cfg"];

export function bootCopyPath(setName: string): string {
  return `${BOOT_COPY_DIR}/${setName}.tar`;
}

/** True when / is among `originDevices` and /boot is a separate file system that is not. */
export function bootLeftOut(mounts: readonly Mount[], originDevices: ReadonlySet<string>): boolean {
  const root = mountAt(mounts, "/");
  const boot = mountAt(mounts, "/boot");
  return (
    root !== undefined &&
    boot !== undefined &&
    originDevices.has(root.device) &&
    !originDevices.has(boot.device)
  );
}

/** What the copy holds: every file at the top of /boot, and the GRUB configuration. */
export async function bootFilesToCopy(files: BootFiles): Promise<string[]> {
  const names: string[] = [];
  for (const name of await files.list("/boot")) {
    if (name === "lost+found" || name.startsWith(".")) continue;
    if (!(await files.isDirectory(`/boot/${name}`))) names.push(name);
  }
  for (const config of GRUB_CONFIGS) {
    if (await files.exists(`/boot/${config}`)) names.push(config);
  }
  return names;
}

export async function saveBootCopy(
  files: BootFiles,
  effects: Effects,
  setName: string,
): Promise<string> {
  const path = bootCopyPath(setName);
  const names = await bootFilesToCopy(files);
  // The copy holds the initramfs (maybe a LUKS key file) and grub.cfg (maybe a password hash).
  await effects.makePrivateDirectory(BOOT_COPY_DIR);
  const temp = await effects.createPrivateFile(
    BOOT_COPY_DIR,
    `${setName}.tar.partial-`,
    `${path}.partial`,
  );
  await effects.run(["tar", "-C", "/boot", "--numeric-owner", "-cf", temp, "--", ...names], {
    timeoutMs: 10 * 60_000,
  });
  await effects.run(["sync", "-f", temp]);
  await effects.move(temp, path);
  return path;
}

/** Kernel files in /boot now that the copy does not hold: they belong to a later kernel. */
export function filesToDrop(current: readonly string[], copied: readonly string[]): string[] {
  const kept = new Set(copied);
  return current.filter((name) => KERNEL_FILE.test(name) && !kept.has(name));
}

/** Puts a set's copy back into /boot: staged on /boot first, then each file renamed into place. */
export async function restoreBootCopy(
  files: BootFiles,
  effects: Effects,
  setName: string,
): Promise<{ restored: string[]; dropped: string[] }> {
  const path = bootCopyPath(setName);
  const copied = (await effects.read(["tar", "-tf", path]))
    .split("\n")
    .filter((name) => name !== "" && !name.endsWith("/"));
  const current: string[] = [];
  for (const name of await files.list("/boot")) {
    if (!(await files.isDirectory(`/boot/${name}`))) current.push(name);
  }
  const dropped = filesToDrop(current, copied);
  await effects.run(["rm", "-rf", STAGING]);
  await effects.run(["mkdir", "-p", STAGING]);
  await effects.run(["tar", "-C", STAGING, "--numeric-owner", "-xpf", path], {
    timeoutMs: 10 * 60_000,
  });
  await effects.run(["sync", "-f", STAGING]);
  for (const name of copied) {
    await effects.move(`${STAGING}/${name}`, `/boot/${name}`);
  }
  for (const name of dropped) {
    await effects.remove(`/boot/${name}`);
  }
  await effects.run(["rm", "-rf", STAGING]);
  return { restored: copied, dropped };
}

/** Copies whose set is gone (removed, or merged by a revert) are deleted. */
export async function pruneBootCopies(
  files: BootFiles,
  effects: Effects,
  setNames: ReadonlySet<string>,
): Promise<string[]> {
  const pruned: string[] = [];
  const names = await files.list(BOOT_COPY_DIR);
  if (names.length > 0) await effects.makePrivateDirectory(BOOT_COPY_DIR);
  for (const name of names) {
    const set = name.replace(/\.tar(\.partial.*)?$/, "");
    if (name.endsWith(".tar") && setNames.has(set)) continue;
    await effects.remove(`${BOOT_COPY_DIR}/${name}`);
    pruned.push(name);
  }
  return pruned;
}

/** Makes the set's copy of /boot when / is in the set and /boot is not; the commands run. */
export async function keepBootCopy(
  context: Context,
  setName: string,
  originDevices: readonly (string | null | undefined)[],
): Promise<Commands> {
  const files = context.bootFiles;
  if (files === undefined) return [];
  const devices = new Set(
    originDevices.filter((device): device is string => typeof device === "string"),
  );
  if (!bootLeftOut(await readMounts(context), devices)) return [];
  const mark = context.effects.changes.length;
  try {
    await saveBootCopy(files, context.effects, setName);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    context.output.warn(
      `set ${setName} was made, but its copy of /boot was not (${message}): a revert to it keeps /boot as it is`,
    );
  }
  return context.effects.changes.slice(mark);
}

/** The copy a revert of this set restores, or undefined when /boot is in the set or has none. */
export async function bootCopyToRestore(
  context: Context,
  set: SnapshotSet,
): Promise<string | undefined> {
  const files = context.bootFiles;
  if (files === undefined) return undefined;
  const devices = new Set(
    set.volumes
      .map((volume) => volume.originLv?.device)
      .filter((d): d is string => typeof d === "string"),
  );
  if (!bootLeftOut(await readMounts(context), devices)) return undefined;
  const path = bootCopyPath(set.name);
  return (await files.exists(path)) ? path : undefined;
}

/** Restores the copy after the merges started; a failure leaves exact instructions. */
export async function restoreBootForRevert(context: Context, setName: string): Promise<Commands> {
  const files = context.bootFiles;
  if (files === undefined) return [];
  const mark = context.effects.changes.length;
  try {
    const { dropped } = await restoreBootCopy(files, context.effects, setName);
    if (!context.dryRun) {
      context.output.note(
        `/boot restored from ${bootCopyPath(setName)}${dropped.length > 0 ? `; removed ${dropped.join(", ")}` : ""}`,
      );
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new OperationError(
      `the merge of set ${setName} is started, but restoring /boot failed: ${message}`,
      `before rebooting, restore /boot by hand: tar -C /boot -xpf ${bootCopyPath(setName)}`,
      { cause: error },
    );
  }
  return context.effects.changes.slice(mark);
}
