// What every command is handed: the ways it may reach the system, and nothing else.
import { MOUNTINFO_PATH, parseMountinfo, type Mount } from "../config/mounts.ts";
import { DataError } from "../errors.ts";
import type { BootFiles } from "../boot/files.ts";
import type { FileSystem } from "../fs.ts";
import { Lvm } from "../lvm/lvm.ts";
import type { Runner } from "../lvm/runner.ts";
import { collectSets, findSet, type SnapshotSet } from "../sets/model.ts";

export interface Output {
  /** Progress and notes for the person at the terminal (stderr); never data. */
  note(message: string): void;
  warn(message: string): void;
}

export interface Context {
  readonly runner: Runner;
  readonly fs: FileSystem;
  readonly clock: () => Date;
  readonly output: Output;
  readonly dryRun: boolean;
  readonly configPath: string;
  /** True when the config file was named with --config and so must exist. */
  readonly configNamed: boolean;
  /** Asks before a destructive step; false means the user declined. */
  readonly confirm: (question: string) => Promise<boolean>;
  /** File access for boot integration; without it /boot copies are skipped. */
  readonly bootFiles?: BootFiles;
  /** Waits; tests hand in one that returns at once. */
  readonly sleep?: (ms: number) => Promise<void>;
}

export function lvmOf(context: Context): Lvm {
  return new Lvm(context.runner, context.dryRun);
}

/** The commands a dry run would have run, or that a real run ran, as argv lists. */
export type Commands = readonly (readonly string[])[];

export function requireSet(sets: readonly SnapshotSet[], name: string): SnapshotSet {
  const set = findSet(sets, name);
  if (set === undefined)
    throw new DataError(`no set named ${name}`, "rootsnap list shows the sets");
  return set;
}

/** Refuses a set that lacks some of its snapshots: `what` of part of it would mislead. */
export function requireComplete(set: SnapshotSet, what: string): void {
  const had = set.volumes.length + set.missing + set.unavailable.length;
  if (set.missing > 0) {
    throw new DataError(
      `set ${set.name} is incomplete: ${set.missing} of its ${had} snapshots are missing (its creation was cut off, or one was removed by hand), so ${what}`,
      `nothing was changed; rootsnap remove ${set.name} drops what is left`,
    );
  }
  if (set.unavailable.length > 0) {
    const vgs = set.absentVgs.join(", ");
    throw new DataError(
      `set ${set.name} has ${set.unavailable.length} of its ${had} snapshots in VG ${vgs}, which lvm does not see now (${set.unavailable.join(", ")}), so ${what}`,
      `nothing was changed; connect the disk that holds ${vgs} (then vgchange -ay ${vgs}) and run it again`,
    );
  }
}

/** Reads all LVs once and finds the named set among them. */
export async function readSet(lvm: Lvm, name: string): Promise<SnapshotSet> {
  return requireSet(collectSets(await lvm.logicalVolumes()), name);
}

export async function readMounts(context: Context): Promise<Mount[]> {
  return parseMountinfo((await context.fs.readText(MOUNTINFO_PATH)) ?? "");
}
