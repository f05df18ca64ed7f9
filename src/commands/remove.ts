// rootsnap remove NAME: drop a set's snapshots, keeping every change made since.
import { CancelledError, DataError, OperationError } from "../errors.ts";
import { removeArgv } from "../sets/apply.ts";
import type { Lvm } from "../lvm/lvm.ts";
import type { SnapshotSet } from "../sets/model.ts";
import { lvmOf, readSet, type Commands, type Context } from "./context.ts";

export interface RemoveResult {
  readonly set: SnapshotSet;
  readonly removed: readonly string[];
  readonly commands: Commands;
  readonly dryRun: boolean;
}

function refuseMerging(set: SnapshotSet): void {
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

export async function remove(context: Context, name: string): Promise<RemoveResult> {
  const lvm = lvmOf(context);
  const set = await readSet(lvm, name);
  refuseMerging(set);
  const names = set.volumes.map((volume) => volume.snapshot);
  const question = `Remove set ${name} (${names.join(", ")})? Changes made since it was taken are kept.`;
  if (!(await context.confirm(question))) throw new CancelledError(`remove ${name}`);
  const removed = await dropSet(lvm, set);
  return { set, removed, commands: lvm.changes, dryRun: lvm.dryRun };
}
