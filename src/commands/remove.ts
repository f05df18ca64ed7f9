// rootsnap remove NAME: drop a set's snapshots, keeping every change made since.
import { CancelledError } from "../system/errors.ts";
import { dropSet, refuseMerging } from "../sets/apply.ts";
import type { SnapshotSet } from "../sets/model.ts";
import type { Commands, Context } from "../system/context.ts";
import { lvmOf } from "../lvm/lvm.ts";
import { readSet } from "../sets/model.ts";

export interface RemoveResult {
  readonly set: SnapshotSet;
  readonly removed: readonly string[];
  readonly commands: Commands;
  readonly dryRun: boolean;
}

export async function remove(context: Context, name: string): Promise<RemoveResult> {
  const lvm = lvmOf(context);
  const set = await readSet(lvm, name);
  refuseMerging(set);
  const names = set.volumes.map((volume) => volume.snapshot);
  const question = `Remove set ${name} (${names.join(", ")})? Changes made since it was taken are kept.`;
  if (!(await context.confirm(question))) throw new CancelledError(`remove ${name}`);
  const removed = await dropSet(lvm, set);
  return { set, removed, commands: lvm.effects.changes, dryRun: lvm.dryRun };
}
