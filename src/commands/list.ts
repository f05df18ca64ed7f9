// rootsnap list: every set, newest first, from one `lvs` call.
import { collectSets, type SnapshotSet } from "../sets/model.ts";
import type { Context } from "../system/context.ts";
import { lvmOf } from "../lvm/lvm.ts";

export interface ListResult {
  readonly sets: readonly SnapshotSet[];
}

export async function list(context: Context): Promise<ListResult> {
  // Its one report is all list waits for, so lvs may block the process meanwhile.
  return { sets: collectSets(await lvmOf(context).logicalVolumes({ blocking: true })) };
}
