// Makes a planned set all or nothing (if one lvcreate fails, the snapshots already made
// are removed again, so no partial set is left behind), and removes a set.
import { DataError, NoSpaceError, OperationError, type RootsnapError } from "../system/errors.ts";
import { LvmError } from "../lvm/errors.ts";
import type { Lvm } from "../lvm/lvm.ts";
import { collectSets, type SnapshotSet } from "./model.ts";
import type { CreatePlan, PlannedSnapshot } from "./plan.ts";

export function removeArgv(snapshot: string): string[] {
  return ["lvremove", "--yes", snapshot];
}

/** LVs carrying the set's tag now: a failed lvcreate may have left its LV behind too. */
async function setMembers(
  lvm: Lvm,
  plan: CreatePlan,
  made: readonly PlannedSnapshot[],
): Promise<string[]> {
  try {
    const sets = collectSets(await lvm.logicalVolumes());
    const set = sets.find((candidate) => candidate.name === plan.set.name);
    return (set?.volumes ?? []).map((volume) => volume.snapshot);
  } catch {
    return made.map((snapshot) => snapshot.snapshot);
  }
}

interface RollBack {
  readonly removed: readonly string[];
  readonly left: readonly string[];
}

/** Removes every member of the half-made set. */
async function rollBack(
  lvm: Lvm,
  plan: CreatePlan,
  made: readonly PlannedSnapshot[],
): Promise<RollBack> {
  const removed: string[] = [];
  const left: string[] = [];
  for (const snapshot of (await setMembers(lvm, plan, made)).reverse()) {
    try {
      await lvm.change(removeArgv(snapshot));
      removed.push(snapshot);
    } catch {
      left.push(snapshot);
    }
  }
  return { removed, left };
}

function failure(error: unknown, failed: PlannedSnapshot, undo: RollBack): RootsnapError {
  const why = error instanceof Error ? error.message : String(error);
  const { removed, left } = undo;
  const undone =
    left.length > 0
      ? `could not remove ${left.join(", ")}`
      : removed.length > 0
        ? `removed ${removed.join(", ")} again`
        : "nothing was made";
  const message = `creating ${failed.snapshot} failed, ${undone}: ${why}`;
  const hint = left.length === 0 ? undefined : `remove them by hand: lvremove ${left.join(" ")}`;
  const noSpace = error instanceof LvmError && /insufficient|not enough/i.test(error.stderr);
  return noSpace && left.length === 0
    ? new NoSpaceError(message, hint)
    : new OperationError(message, hint, { cause: error });
}

export async function executeCreate(lvm: Lvm, plan: CreatePlan): Promise<void> {
  const made: PlannedSnapshot[] = [];
  for (const snapshot of plan.snapshots) {
    try {
      await lvm.change(snapshot.argv);
    } catch (error) {
      throw failure(error, snapshot, await rollBack(lvm, plan, made));
    }
    made.push(snapshot);
  }
}

export function refuseMerging(set: SnapshotSet): void {
  const merging = set.volumes.find((volume) => volume.state === "merging");
  if (merging !== undefined) {
    throw new DataError(
      `set ${set.name} is being merged (${merging.snapshot} into ${merging.origin ?? "its origin"}); it cannot be removed`,
      "rootsnap status shows when the merge ends",
    );
  }
}

/** Removes every snapshot of the set; a failure names what was already removed. */
export async function dropSet(lvm: Lvm, set: SnapshotSet): Promise<string[]> {
  refuseMerging(set);
  const removed: string[] = [];
  for (const { snapshot } of set.volumes) {
    try {
      await lvm.change(removeArgv(snapshot));
    } catch (error) {
      const done = removed.length === 0 ? "nothing was removed" : `removed ${removed.join(", ")}`;
      const message = error instanceof Error ? error.message : String(error);
      throw new OperationError(
        `removing ${snapshot} failed, ${done}: ${message}`,
        `run rootsnap remove ${set.name} again`,
        { cause: error },
      );
    }
    removed.push(snapshot);
  }
  return removed;
}
