// Temporary sets (backup with no NAME) carry the run they belong to: one whose run is gone
// (killed with SIGKILL, or the machine went down) is removed by the next prune or backup.
import { defaultMountDir, mountsOfSet, unmountSet } from "../backup/mount.ts";
import { mountPointsOf, type Mount } from "../config/mounts.ts";
import type { FileSystem } from "../system/fs.ts";
import type { Lvm } from "../lvm/lvm.ts";
import type { SnapshotSet } from "../sets/model.ts";
import type { SetKind, SetOwner } from "../sets/tags.ts";
import type { Context } from "../system/context.ts";
import { readMounts } from "../config/mounts.ts";
import { dropSet } from "../sets/apply.ts";

const BOOT_ID = "/proc/sys/kernel/random/boot_id";

async function readOrUndefined(fs: FileSystem, path: string): Promise<string | undefined> {
  // A process that exits while its stat is read gives ESRCH: it is gone as well.
  return fs.readText(path).catch(() => undefined);
}

/** Field 22 of /proc/PID/stat (start time in clock ticks); the name in field 2 may hold spaces. */
export function startTimeOf(stat: string): string | undefined {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const started = fields[19];
  return started !== undefined && /^\d+$/.test(started) ? started : undefined;
}

/** This run, as a temporary set's tag names it. */
export async function currentOwner(fs: FileSystem, pid: number): Promise<SetOwner> {
  const [stat, boot] = await Promise.all([
    readOrUndefined(fs, `/proc/${pid}/stat`),
    readOrUndefined(fs, BOOT_ID),
  ]);
  return { pid, started: startTimeOf(stat ?? "") ?? "", boot: boot?.trim() ?? "" };
}

/** True once the run is over: another boot, no such pid, or a later process with its pid. */
export async function ownerGone(fs: FileSystem, owner: SetOwner): Promise<boolean> {
  const [boot, stat] = await Promise.all([
    readOrUndefined(fs, BOOT_ID),
    readOrUndefined(fs, `/proc/${owner.pid}/stat`),
  ]);
  if (owner.boot !== "" && boot !== undefined && boot.trim() !== owner.boot) return true;
  if (stat === undefined) return true;
  const started = startTimeOf(stat);
  return owner.started !== "" && started !== undefined && started !== owner.started;
}

/** Why a temporary set whose run is gone must stay, or undefined when it can go. */
function heldBy(set: SnapshotSet, mounts: readonly Mount[]): string | undefined {
  if (set.volumes.some((v) => v.state === "merging")) return "a merge is pending";
  const own = defaultMountDir(set.name);
  const elsewhere = mountsOfSet(set, mounts).find(
    (m) => m.mountPoint !== own && !m.mountPoint.startsWith(`${own}/`),
  );
  if (elsewhere !== undefined) return `mounted at ${elsewhere.mountPoint}`;
  const open = set.volumes.find(
    (v) =>
      v.snapshotLv.open &&
      (v.snapshotLv.device === null || mountPointsOf(mounts, v.snapshotLv.device).length === 0),
  );
  return open === undefined ? undefined : `${open.snapshot} is in use`;
}

export interface TemporaryDecision {
  readonly name: string;
  readonly keep: boolean;
  readonly reason: string;
  readonly kind: SetKind;
  readonly created: Date;
}

/** What becomes of each temporary set: kept while its backup runs or something uses it. */
export async function decideTemporary(
  fs: FileSystem,
  sets: readonly SnapshotSet[],
  mounts: readonly Mount[],
): Promise<TemporaryDecision[]> {
  const decisions: TemporaryDecision[] = [];
  for (const set of sets) {
    const owner = set.temporary;
    if (owner === undefined) continue;
    const of = `temporary set of the backup run by pid ${owner.pid}`;
    const decided = { name: set.name, kind: set.kind, created: set.created };
    if (!(await ownerGone(fs, owner))) {
      decisions.push({ ...decided, keep: true, reason: `${of}, still running` });
      continue;
    }
    const held = heldBy(set, mounts);
    decisions.push(
      held === undefined
        ? { ...decided, keep: false, reason: `${of}, which is gone` }
        : { ...decided, keep: true, reason: `${of}, which is gone, but ${held}` },
    );
  }
  return decisions;
}

/** Unmounts what the gone run mounted at rootsnap's own directory, then removes the set. */
export async function removeLeftover(
  lvm: Lvm,
  set: SnapshotSet,
  mounts: readonly Mount[],
): Promise<string[]> {
  await unmountSet(lvm, set, mounts);
  return dropSet(lvm, set);
}

/** Before a backup makes its temporary set: removes those of runs that are gone. */
export async function removeLeftovers(
  context: Context,
  lvm: Lvm,
  sets: readonly SnapshotSet[],
): Promise<void> {
  const mounts = await readMounts(context);
  for (const decision of await decideTemporary(context.fs, sets, mounts)) {
    const set = sets.find((s) => s.name === decision.name);
    if (decision.keep || set === undefined) continue;
    try {
      await removeLeftover(lvm, set, mounts);
      context.output.note(`removed set ${set.name}, the ${decision.reason}`);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      context.output.warn(
        `set ${set.name}, the ${decision.reason}, could not be removed: ${why}; finish it with: rootsnap umount ${set.name} && rootsnap remove ${set.name} --yes`,
      );
    }
  }
}
