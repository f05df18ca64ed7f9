// /boot inside a reverted volume: GRUB reads grub.cfg from the origin before the merge
// runs, so it would start the newest kernel, whose modules the merge takes away. The
// one-shot entry is pointed at the set's own default kernel instead; the merge then
// brings back the set's grubenv, so the one-shot clears itself.
import type { Commands, Context } from "../system/context.ts";
import { readMounts } from "../config/mounts.ts";
import { mountAt, type Mount } from "../config/mounts.ts";
import type { SnapshotSet } from "../sets/model.ts";
import { defaultKernel, entryForKernel, grubEntries } from "./entries.ts";
import { detectGrub, type Grub } from "./grub.ts";

export interface KernelEntry {
  readonly grub: Grub;
  /** The entry to start once, or undefined when the set's kernel has none now. */
  readonly path: string | undefined;
  readonly kernel: string;
  readonly current: string | undefined;
  /** The releases of the kernels the set's grub.cfg lists: all the merge leaves to boot. */
  readonly setReleases: ReadonlySet<string>;
}

/** "6.1.0-50-cloud-amd64" of "/boot/vmlinuz-6.1.0-50-cloud-amd64". */
export function kernelRelease(kernel: string): string {
  return kernel.slice(kernel.lastIndexOf("/") + 1).replace(/^vmlinuz-/, "");
}

/** The mount holding `path`: the longest mount point that is a prefix of it. */
export function mountHolding(mounts: readonly Mount[], path: string): Mount | undefined {
  return [...mounts]
    .filter(
      (m) =>
        path === m.mountPoint || path.startsWith(m.mountPoint === "/" ? "/" : `${m.mountPoint}/`),
    )
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0];
}

function readOnlyOptions(fsType: string): string {
  if (fsType === "ext4" || fsType === "ext3") return "ro,noload";
  if (fsType === "xfs") return "ro,nouuid,norecovery";
  return "ro";
}

/** Reads the set's grub.cfg from its snapshot, before the merge hides the snapshot. */
export async function kernelEntryForRevert(
  context: Context,
  set: SnapshotSet,
): Promise<KernelEntry | undefined> {
  const files = context.bootFiles;
  if (files === undefined || context.dryRun) return undefined;
  let grub: Grub;
  try {
    grub = await detectGrub(files);
  } catch {
    return undefined;
  }
  const mounts = await readMounts(context);
  const holder = mountHolding(mounts, grub.config);
  const volume = set.volumes.find((v) => v.originLv?.device === holder?.device);
  if (holder === undefined || volume === undefined || mountAt(mounts, "/") === undefined) {
    return undefined;
  }
  const relative = grub.config.slice(holder.mountPoint === "/" ? 0 : holder.mountPoint.length);
  const dir = `/run/rootsnap-revert-${process.pid}`;
  // A scratch mount of the snapshot, read-only and gone again before revert changes anything.
  await context.effects.makeDirectory(dir);
  let setConfig: string | undefined;
  try {
    await context.effects.read([
      "mount",
      "-o",
      readOnlyOptions(holder.fsType),
      volume.snapshotLv.path,
      dir,
    ]);
    try {
      setConfig = (await files.read(`${dir}${relative}`))?.toString("utf8");
    } finally {
      await context.effects.read(["umount", dir]);
    }
  } catch (error) {
    context.output.warn(
      `could not read grub.cfg of set ${set.name}: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    await context.effects.removeEmptyDirectory(dir, null);
  }
  const kernel = setConfig === undefined ? undefined : defaultKernel(setConfig);
  const config = (await files.read(grub.config))?.toString("utf8") ?? "";
  const current = defaultKernel(config);
  if (setConfig === undefined || kernel === undefined || kernel === current) return undefined;
  const setReleases = new Set(
    grubEntries(setConfig).flatMap((entry) =>
      entry.kernel === undefined ? [] : [kernelRelease(entry.kernel)],
    ),
  );
  return { grub, path: entryForKernel(config, kernel)?.path, kernel, current, setReleases };
}

/** After the merges started: the next boot starts the set's kernel. */
export async function startSetKernelNext(context: Context, entry: KernelEntry): Promise<Commands> {
  if (entry.path === undefined) {
    context.output.warn(
      `GRUB would start ${entry.current ?? "a newer kernel"} before the merge, and has no entry for the set's ${entry.kernel}: choose it in the GRUB menu at the next boot`,
    );
    return [];
  }
  await context.effects.run([entry.grub.reboot, entry.path]);
  context.output.note(`the next boot starts ${entry.kernel}, the set's kernel`);
  return [[entry.grub.reboot, entry.path]];
}
