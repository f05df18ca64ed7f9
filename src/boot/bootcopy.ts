// The boot partition outside the snapshot: when /boot (GRUB) or systemd-boot's $BOOT (the
// ESP or XBOOTLDR) is its own file system and / is in a set, the set keeps a copy of what
// booting needs (kernels, initramfs, grub.cfg, Boot Loader Spec entries) in a tar on /,
// and revert puts it back, so the reverted / boots a kernel whose modules it has.
import { BOOT_COPY_DIR } from "../system/paths.ts";
import { blsField, parseBlsEntry } from "./bls.ts";
import { grubReadsBls } from "./grub.ts";
import { findSystemdBoot } from "./sdboot.ts";
import type { Commands, Context } from "../system/context.ts";
import { readMounts } from "../config/mounts.ts";
import { mountAt, type Mount } from "../config/mounts.ts";
import { OperationError } from "../system/errors.ts";
import type { SnapshotSet } from "../sets/model.ts";
import type { BootFiles } from "../system/files.ts";
import type { Effects } from "../system/effects.ts";

/** Re-exported from src/system/paths.ts, where every path rootsnap owns is listed. */
export { BOOT_COPY_DIR };

/** Files a kernel package puts into /boot; only these are removed when absent from a copy. */
const KERNEL_FILE = /^(vmlinuz|vmlinux|initrd\.img|initramfs|config|System\.map)-/;
const GRUB_CONFIGS = ["grub/grub.cfg", "grub2/grub.cfg"];
const ENTRIES = "loader/entries";

/** The file system the boot loader reads kernels from, when it is not inside /. */
export interface BootArea {
  /** /boot for GRUB; $BOOT for systemd-boot (/efi, /boot/efi or an XBOOTLDR /boot). */
  readonly root: string;
  /** Boot Loader Spec entries (systemd-boot's $BOOT, or GRUB with BLSCFG) and kernel-install's directories. */
  readonly bls: boolean;
  /** Whether its files keep owners and modes: not on systemd-boot's $BOOT, often an ESP (vfat). */
  readonly owners: boolean;
}

/** GRUB's /boot, with no BLS entries: the area when nothing else is found. */
export const GRUB_BOOT: BootArea = { root: "/boot", bls: false, owners: true };

export function bootCopyPath(setName: string): string {
  return `${BOOT_COPY_DIR}/${setName}.tar`;
}

/** Where this system's boot loader reads its kernels: systemd-boot's $BOOT, else /boot. */
export async function bootArea(files: BootFiles): Promise<BootArea> {
  const sd = await findSystemdBoot(files);
  if (sd !== undefined) return { root: sd.boot, bls: true, owners: false };
  return { ...GRUB_BOOT, bls: await grubReadsBls(files) };
}

/** True when / is among `originDevices` and the boot area is a separate file system that is not. */
export function bootLeftOut(
  mounts: readonly Mount[],
  originDevices: ReadonlySet<string>,
  area: BootArea = GRUB_BOOT,
): boolean {
  const root = mountAt(mounts, "/");
  const boot = mountAt(mounts, area.root);
  return (
    root !== undefined &&
    boot !== undefined &&
    originDevices.has(root.device) &&
    !originDevices.has(boot.device)
  );
}

/** The directories kernel-install keeps kernels in ($BOOT/<entry token>/<version>/), from the entries. */
async function entryDirectoriesOf(files: BootFiles, root: string): Promise<string[]> {
  const dirs = new Set<string>();
  for (const name of await files.list(`${root}/${ENTRIES}`)) {
    if (!name.endsWith(".conf")) continue;
    const entry = parseBlsEntry(
      name,
      (await files.read(`${root}/${ENTRIES}/${name}`))?.toString() ?? "",
    );
    for (const key of ["linux", "initrd", "devicetree"]) {
      const path = blsField(entry, key)?.split(/\s+/)[0] ?? "";
      const parts = path.replace(/^\/+/, "").split("/");
      if (parts.length >= 3 && parts[0] !== "" && parts[0] !== "EFI") {
        dirs.add(`${parts[0] ?? ""}/${parts[1] ?? ""}`);
      }
    }
  }
  return [...dirs].sort();
}

/** Every file below `dir` (relative to `root`), depth first. */
async function filesBelow(files: BootFiles, root: string, dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await files.list(`${root}/${dir}`)).sort()) {
    const rel = `${dir}/${name}`;
    if (await files.isDirectory(`${root}/${rel}`))
      out.push(...(await filesBelow(files, root, rel)));
    else out.push(rel);
  }
  return out;
}

/**
 * What the copy holds: every file at the top of the area (kernels, initramfs images, and
 * microcode where an ESP holds them), GRUB's configuration, and on $BOOT the entries and
 * the kernel directories they name.
 */
export async function bootFilesToCopy(
  files: BootFiles,
  area: BootArea = GRUB_BOOT,
): Promise<string[]> {
  const names: string[] = [];
  for (const name of await files.list(area.root)) {
    if (name === "lost+found" || name.startsWith(".")) continue;
    if (!(await files.isDirectory(`${area.root}/${name}`))) names.push(name);
  }
  for (const config of GRUB_CONFIGS) {
    if (await files.exists(`${area.root}/${config}`)) names.push(config);
  }
  if (!area.bls) return names;
  for (const name of (await files.list(`${area.root}/${ENTRIES}`)).sort()) {
    if (name.endsWith(".conf")) names.push(`${ENTRIES}/${name}`);
  }
  for (const dir of await entryDirectoriesOf(files, area.root)) {
    names.push(...(await filesBelow(files, area.root, dir)));
  }
  return names;
}

export async function saveBootCopy(
  files: BootFiles,
  effects: Effects,
  setName: string,
  area: BootArea = GRUB_BOOT,
): Promise<string> {
  const path = bootCopyPath(setName);
  const names = await bootFilesToCopy(files, area);
  // The copy holds the initramfs (maybe a LUKS key file) and grub.cfg (maybe a password hash).
  await effects.makePrivateDirectory(BOOT_COPY_DIR);
  const temp = await effects.createPrivateFile(
    BOOT_COPY_DIR,
    `${setName}.tar.partial-`,
    `${path}.partial`,
  );
  await effects.run(["tar", "-C", area.root, "--numeric-owner", "-cf", temp, "--", ...names], {
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

/**
 * On $BOOT, what kernel-install made after the copy: entries it does not hold, and the
 * files of kernel directories it does not hold, below the entry tokens it knows.
 */
async function blsFilesToDrop(
  files: BootFiles,
  root: string,
  copied: readonly string[],
): Promise<string[]> {
  const kept = new Set(copied);
  const drop: string[] = [];
  for (const name of await files.list(`${root}/${ENTRIES}`)) {
    const rel = `${ENTRIES}/${name}`;
    if (name.endsWith(".conf") && !kept.has(rel)) drop.push(rel);
  }
  const tokens = new Set(
    copied
      .filter((name) => !name.startsWith("loader/") && name.split("/").length >= 3)
      .map((name) => name.split("/")[0] ?? ""),
  );
  for (const token of [...tokens].sort()) {
    for (const file of await filesBelow(files, root, token)) {
      if (!kept.has(file)) drop.push(file);
    }
  }
  return drop;
}

/** Puts a set's copy back into its area: staged there first, then each file renamed into place. */
export async function restoreBootCopy(
  files: BootFiles,
  effects: Effects,
  setName: string,
  area: BootArea = GRUB_BOOT,
): Promise<{ restored: string[]; dropped: string[] }> {
  const path = bootCopyPath(setName);
  const staging = `${area.root}/.rootsnap-restore`;
  const copied = (await effects.read(["tar", "-tf", path]))
    .split("\n")
    .filter((name) => name !== "" && !name.endsWith("/"));
  const current: string[] = [];
  for (const name of await files.list(area.root)) {
    if (!(await files.isDirectory(`${area.root}/${name}`))) current.push(name);
  }
  const dropped = [
    ...filesToDrop(current, copied),
    ...(area.bls ? await blsFilesToDrop(files, area.root, copied) : []),
  ];
  await effects.run(["rm", "-rf", staging]);
  await effects.run(["mkdir", "-p", staging]);
  // An ESP (vfat) keeps no owners or modes: tar would fail setting them.
  const keepOwners = area.owners ? ["-p"] : ["--no-same-owner", "--no-same-permissions"];
  await effects.run(["tar", "-C", staging, "--numeric-owner", ...keepOwners, "-xf", path], {
    timeoutMs: 10 * 60_000,
  });
  await effects.run(["sync", "-f", staging]);
  const dirs = new Set(copied.map((name) => name.split("/").slice(0, -1).join("/")));
  for (const dir of [...dirs].filter((d) => d !== "").sort()) {
    await effects.run(["mkdir", "-p", `${area.root}/${dir}`]);
  }
  for (const name of copied) {
    await effects.move(`${staging}/${name}`, `${area.root}/${name}`);
  }
  for (const name of dropped) {
    await effects.remove(`${area.root}/${name}`);
  }
  for (const dir of new Set(dropped.map((name) => name.split("/").slice(0, -1).join("/")))) {
    // A kernel's directory the copy does not have goes once it is empty.
    if (dir !== "" && dir !== ENTRIES) await effects.removeEmptyDirectory(`${area.root}/${dir}`);
  }
  await effects.run(["rm", "-rf", staging]);
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

/** Makes the set's copy of the boot area when / is in the set and the area is not; the commands run. */
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
  const area = await bootArea(files);
  if (!bootLeftOut(await readMounts(context), devices, area)) return [];
  const mark = context.effects.changes.length;
  try {
    await saveBootCopy(files, context.effects, setName, area);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    context.output.warn(
      `set ${setName} was made, but its copy of ${area.root} was not (${message}): a revert to it keeps ${area.root} as it is`,
    );
  }
  return context.effects.changes.slice(mark);
}

/** The copy a revert of this set restores, or undefined when the boot area is in the set or has none. */
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
  if (!bootLeftOut(await readMounts(context), devices, await bootArea(files))) return undefined;
  const path = bootCopyPath(set.name);
  return (await files.exists(path)) ? path : undefined;
}

/** Restores the copy after the merges started; a failure leaves exact instructions. */
export async function restoreBootForRevert(context: Context, setName: string): Promise<Commands> {
  const files = context.bootFiles;
  if (files === undefined) return [];
  const mark = context.effects.changes.length;
  const area = await bootArea(files);
  try {
    const { dropped } = await restoreBootCopy(files, context.effects, setName, area);
    if (!context.dryRun) {
      context.output.note(
        `${area.root} restored from ${bootCopyPath(setName)}${dropped.length > 0 ? `; removed ${dropped.join(", ")}` : ""}`,
      );
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new OperationError(
      `the merge of set ${setName} is started, but restoring ${area.root} failed: ${message}`,
      `before rebooting, restore ${area.root} by hand: tar -C ${area.root} ${area.owners ? "-p " : "--no-same-owner "}-xf ${bootCopyPath(setName)}`,
      { cause: error },
    );
  }
  return context.effects.changes.slice(mark);
}
