// rootsnap show NAME: one set with all it knows about its volumes, and what prune would do with it.
import type { SnapshotSet } from "../sets/model.ts";
import type { PruneDecision } from "../sets/retention.ts";
import type { Context } from "../system/context.ts";
import { lvmOf } from "../lvm/lvm.ts";
import { collectSets, requireSet } from "../sets/model.ts";
import { retentionOf } from "../lifecycle/prune.ts";

export interface ShowResult {
  readonly set: SnapshotSet;
  /** The rule of rootsnap.toml's [retention] that keeps it, or why prune would remove it. */
  readonly retention: Pick<PruneDecision, "keep" | "reason">;
}

export async function show(context: Context, name: string): Promise<ShowResult> {
  const sets = collectSets(await lvmOf(context).logicalVolumes());
  const set = requireSet(sets, name);
  const { keep, reason } = await retentionOf(context, sets, name);
  return { set, retention: { keep, reason } };
}
