// rootsnap show NAME: one set with all it knows about its volumes.
import type { SnapshotSet } from "../sets/model.ts";
import { lvmOf, readSet, type Context } from "./context.ts";

export interface ShowResult {
  readonly set: SnapshotSet;
}

export async function show(context: Context, name: string): Promise<ShowResult> {
  return { set: await readSet(lvmOf(context), name) };
}
