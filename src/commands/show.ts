// rootsnap show NAME: one set with all it knows about its volumes.
import type { SnapshotSet } from "../sets/model.ts";
import type { Context } from "../system/context.ts";
import { lvmOf } from "../lvm/lvm.ts";
import { readSet } from "../sets/model.ts";

export interface ShowResult {
  readonly set: SnapshotSet;
}

export async function show(context: Context, name: string): Promise<ShowResult> {
  return { set: await readSet(lvmOf(context), name) };
}
