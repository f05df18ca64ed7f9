// rootsnap mount NAME [DIR]: a read-only view of a set, each volume at its place.
import { resolve } from "node:path";
import {
  defaultMountDir,
  mountTree,
  planMounts,
  refuseMounted,
  type MountEntry,
} from "../backup/mount.ts";
import type { SnapshotSet } from "../sets/model.ts";
import type { Commands, Context } from "../system/context.ts";
import { lvmOf } from "../lvm/lvm.ts";
import { readMounts } from "../config/mounts.ts";
import { readSet } from "../sets/model.ts";

export interface MountResult {
  readonly set: SnapshotSet;
  readonly dir: string;
  readonly entries: readonly MountEntry[];
  readonly commands: Commands;
  readonly dryRun: boolean;
}

export async function mount(context: Context, name: string, dir?: string): Promise<MountResult> {
  const lvm = lvmOf(context);
  const [set, mounts] = await Promise.all([readSet(lvm, name), readMounts(context)]);
  refuseMounted(set, mounts);
  const root = dir === undefined ? defaultMountDir(name) : resolve(dir);
  const entries = planMounts(set, mounts, root);
  await mountTree(lvm, root, entries);
  return { set, dir: root, entries, commands: lvm.effects.changes, dryRun: lvm.dryRun };
}
