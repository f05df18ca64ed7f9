// rootsnap repair [--dry-run]: finishes the merges nothing polls and removes what an
// interrupted merge left; rootsnap status says when one is due.
import { repair as repairState, type RepairResult } from "../lifecycle/repair.ts";
import type { Context } from "../system/context.ts";

export type { RepairResult };

export async function repair(context: Context): Promise<RepairResult> {
  const { merges, leftovers, bootLoader, warnings, commands, dryRun } = await repairState(context);
  return { merges, leftovers, bootLoader, warnings, commands, dryRun };
}
