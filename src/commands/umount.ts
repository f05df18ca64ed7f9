// rootsnap umount NAME: the end of a read-only view of a set.
import { unmountSet, type UnmountResult } from "../backup/mount.ts";
import type { SnapshotSet } from "../sets/model.ts";
import type { Commands, Context } from "../system/context.ts";
import { lvmOf } from "../lvm/lvm.ts";
import { readMounts } from "../config/mounts.ts";
import { readSet } from "../sets/model.ts";

export interface UmountResult extends UnmountResult {
  readonly set: SnapshotSet;
  readonly commands: Commands;
  readonly dryRun: boolean;
}

export async function umount(context: Context, name: string): Promise<UmountResult> {
  const lvm = lvmOf(context);
  const [set, mounts] = await Promise.all([readSet(lvm, name), readMounts(context)]);
  const result = await unmountSet(lvm, set, mounts);
  return { ...result, set, commands: lvm.effects.changes, dryRun: lvm.dryRun };
}
