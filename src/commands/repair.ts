// rootsnap repair: finishes merges that nothing polled to the end and removes what an
// interrupted merge left. A placeholder with the verb's signature until it is built.
import type { PendingMerge } from "../lifecycle/state.ts";
import type { Commands, Context } from "../system/context.ts";

export interface RepairResult {
  readonly merges: readonly PendingMerge[];
  readonly leftovers: readonly string[];
  readonly warnings: readonly string[];
  readonly commands: Commands;
  readonly dryRun: boolean;
}

export function repair(context: Context): Promise<RepairResult> {
  return Promise.reject(new Error("repair: not built", { cause: context.dryRun }));
}
