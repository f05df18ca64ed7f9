// rootsnap prune: remove the sets the retention policies of rootsnap.toml no longer keep.
import { lvmOf } from "../lvm/lvm.ts";
import { pruneWith, type PruneResult } from "../lifecycle/prune.ts";
import type { Context } from "../system/context.ts";

export type { PruneResult };

export function prune(context: Context): Promise<PruneResult> {
  return pruneWith(context, lvmOf(context), { ask: true });
}
