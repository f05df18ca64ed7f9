// A set's snapshots mounted read-only as one tree, each where its origin is mounted,
// with what each file system needs to be read without being written.
import { RUN_DIR } from "../system/paths.ts";
import { posix } from "node:path";
import { mountPointsOf, type Mount } from "../config/mounts.ts";
import { DataError, OperationError } from "../system/errors.ts";
import type { Lvm } from "../lvm/lvm.ts";
import type { SetVolume, SnapshotSet } from "../sets/model.ts";

/** Where a set is mounted when no directory is named. */
export const MOUNT_BASE = RUN_DIR;

export function defaultMountDir(setName: string): string {
  return posix.join(MOUNT_BASE, setName);
}

export interface MountEntry {
  readonly snapshot: string;
  readonly origin: string;
  readonly device: string;
  /** Where the origin is mounted on the running system ("/", "/var"). */
  readonly place: string;
  /** Where the snapshot goes: the place below the tree's directory. */
  readonly target: string;
  readonly fsType: string;
  readonly options: readonly string[];
  /** A thin snapshot with the activation-skip flag, inactive until rootsnap activates it. */
  readonly activate: boolean;
}

/**
 * Read-only, and no journal or log replay: lvcreate freezes the origin, so the
 * snapshot's journal is already flushed, and a replay would write into the COW area.
 */
export function mountOptions(fsType: string): string[] {
  const base = ["ro", "nosuid", "nodev"];
  if (fsType === "ext4" || fsType === "ext3") return [...base, "noload"];
  // XFS refuses a second file system with the same UUID unless told nouuid.
  if (fsType === "xfs") return [...base, "nouuid", "norecovery"];
  return base;
}

function originPlace(volume: SetVolume, mounts: readonly Mount[]): Mount {
  const device = volume.originLv?.device ?? null;
  const place = device === null ? undefined : mountPointsOf(mounts, device)[0];
  const mount = place === undefined ? undefined : mounts.find((m) => m.mountPoint === place);
  if (mount === undefined) {
    throw new DataError(
      `the origin of ${volume.snapshot} (${volume.origin ?? "gone"}) is not mounted, so its place in the tree is unknown`,
      "mount the origin, or make a set of mounted volumes only",
    );
  }
  return mount;
}

function usable(set: SnapshotSet, volume: SetVolume): void {
  if (volume.state === "invalid") {
    throw new DataError(
      `snapshot ${volume.snapshot} of set ${set.name} is invalid (it filled up): its data is lost`,
      `remove the set with rootsnap remove ${set.name}`,
    );
  }
  if (volume.state === "merging") {
    throw new DataError(
      `snapshot ${volume.snapshot} of set ${set.name} is being merged and cannot be mounted`,
    );
  }
}

/** Where each snapshot of the set would be mounted below `dir`, outermost first. */
export function planMounts(set: SnapshotSet, mounts: readonly Mount[], dir: string): MountEntry[] {
  const entries = set.volumes.map((volume): MountEntry => {
    usable(set, volume);
    const origin = originPlace(volume, mounts);
    const lv = volume.snapshotLv;
    return {
      snapshot: volume.snapshot,
      origin: volume.origin ?? "",
      device: lv.path || `/dev/${lv.vg}/${lv.name}`,
      place: origin.mountPoint,
      target: origin.mountPoint === "/" ? dir : posix.join(dir, origin.mountPoint),
      fsType: origin.fsType,
      options: mountOptions(origin.fsType),
      activate: !lv.active,
    };
  });
  const places = new Set<string>();
  for (const entry of entries) {
    if (places.has(entry.place))
      throw new DataError(`set ${set.name} has two volumes for ${entry.place}`);
    places.add(entry.place);
  }
  return entries.sort((a, b) => depth(a.place) - depth(b.place));
}

function depth(path: string): number {
  return path === "/" ? 0 : path.split("/").length - 1;
}

/** Where the set's snapshots are mounted now, deepest first. */
export function mountsOfSet(set: SnapshotSet, mounts: readonly Mount[]): Mount[] {
  const devices = new Set(
    set.volumes.map((volume) => volume.snapshotLv.device).filter((d): d is string => d !== null),
  );
  return mounts
    .filter((mount) => devices.has(mount.device))
    .sort((a, b) => depth(b.mountPoint) - depth(a.mountPoint));
}

export function refuseMounted(set: SnapshotSet, mounts: readonly Mount[]): void {
  const mounted = mountsOfSet(set, mounts).at(-1);
  if (mounted !== undefined) {
    throw new DataError(
      `set ${set.name} is already mounted at ${mounted.mountPoint}`,
      `unmount it first: rootsnap umount ${set.name}`,
    );
  }
}

export interface MountedTree {
  readonly dir: string;
  readonly entries: readonly MountEntry[];
}

/** What a failed mount or an unmount could not undo, for the message. */
async function undo(
  lvm: Lvm,
  mounted: readonly MountEntry[],
  activated: readonly MountEntry[],
  made: readonly string[],
): Promise<string[]> {
  const left: string[] = [];
  for (const entry of [...mounted].reverse()) {
    try {
      await lvm.change(["umount", entry.target]);
    } catch {
      left.push(`${entry.target} is still mounted`);
    }
  }
  for (const entry of activated) {
    try {
      await lvm.change(["lvchange", "-an", entry.snapshot]);
    } catch {
      left.push(`${entry.snapshot} is still active`);
    }
  }
  for (const dir of [...made].reverse())
    await lvm.effects.removeEmptyDirectory(dir, null).catch(() => false);
  return left;
}

/** Mounts every volume of the plan, or nothing: a failure undoes what was done. */
export async function mountTree(
  lvm: Lvm,
  dir: string,
  entries: readonly MountEntry[],
): Promise<MountedTree> {
  const mounted: MountEntry[] = [];
  const activated: MountEntry[] = [];
  const made: string[] = [];
  try {
    if (dir.startsWith(`${MOUNT_BASE}/`))
      made.push(...(await lvm.effects.makeMountPoint(MOUNT_BASE)));
    for (const entry of entries.filter((e) => e.activate)) {
      // -K: a thin snapshot carries the activation-skip flag.
      await lvm.change(["lvchange", "-ay", "-K", entry.snapshot]);
      activated.push(entry);
    }
    for (const entry of entries) {
      made.push(...(await lvm.effects.makeMountPoint(entry.target)));
      const options = entry.options.join(",");
      await lvm.change(["mount", "-t", entry.fsType, "-o", options, entry.device, entry.target]);
      mounted.push(entry);
    }
  } catch (error) {
    const left = await undo(lvm, mounted, activated, made);
    const why = error instanceof Error ? error.message : String(error);
    throw new OperationError(
      `mounting the set at ${dir} failed: ${why}${left.length > 0 ? `; ${left.join(", ")}` : ""}`,
      left.length > 0 ? "clean up with rootsnap umount NAME" : undefined,
      { cause: error },
    );
  }
  return { dir, entries };
}

export interface UnmountResult {
  readonly unmounted: readonly string[];
  readonly deactivated: readonly string[];
}

/** Unmounts every mount of the set's snapshots and deactivates what needs -K to activate. */
export async function unmountSet(
  lvm: Lvm,
  set: SnapshotSet,
  mounts: readonly Mount[],
): Promise<UnmountResult> {
  const unmounted: string[] = [];
  for (const mount of mountsOfSet(set, mounts)) {
    try {
      await lvm.change(["umount", mount.mountPoint]);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new OperationError(
        `unmounting ${mount.mountPoint} failed: ${why}`,
        `see who uses it with fuser -vm ${mount.mountPoint}, then run rootsnap umount ${set.name} again`,
        { cause: error },
      );
    }
    unmounted.push(mount.mountPoint);
    // Only directories rootsnap made are removed: those below its own base.
    if (mount.mountPoint.startsWith(`${MOUNT_BASE}/`))
      await lvm.effects.removeEmptyDirectory(mount.mountPoint, null).catch(() => false);
  }
  const deactivated: string[] = [];
  for (const volume of set.volumes) {
    const lv = volume.snapshotLv;
    if (!lv.skipActivation || !lv.active) continue;
    await lvm.change(["lvchange", "-an", volume.snapshot]);
    deactivated.push(volume.snapshot);
  }
  return { unmounted, deactivated };
}

/** The tree's members for tar: "." and each nested place, e.g. "./var". */
export function treeMembers(entries: readonly MountEntry[]): string[] {
  return entries.map((entry) => (entry.place === "/" ? "." : `.${entry.place}`));
}
