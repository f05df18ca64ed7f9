// rootsnap status: sets, fill levels, pending merges, warnings.
import { status as readState, type StatusResult } from "../lifecycle/state.ts";
import type { Context } from "../system/context.ts";

export type { StatusResult };

export function status(context: Context): Promise<StatusResult> {
  return readState(context);
}
