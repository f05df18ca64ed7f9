// Snapshot sets as read back from LVM: every LV tagged with a set name, grouped.
import { isThin, type LogicalVolume } from "../lvm/model.ts";
import { readSetTags, type SetKind, type SetOwner } from "./tags.ts";
import type { Lvm } from "../lvm/lvm.ts";
import { DataError } from "../system/errors.ts";

export type VolumeState = "active" | "inactive" | "invalid" | "merging";

export interface SetVolume {
  /** "vg/lv" of the origin, or null when the origin is gone (a thin snapshot outlives it). */
  readonly origin: string | null;
  readonly snapshot: string;
  readonly snapshotLv: LogicalVolume;
  readonly originLv: LogicalVolume | undefined;
  readonly thin: boolean;
  readonly state: VolumeState;
  readonly mergeFailed: boolean;
  /** Fill of what runs out first: the COW area, or for thin snapshots the pool. */
  readonly usedPercent: number | null;
  readonly usedOf: "snapshot" | "pool";
}

export interface SnapshotSet {
  readonly name: string;
  readonly kind: SetKind;
  readonly created: Date;
  readonly label?: string;
  /** Set for a temporary set (backup with no NAME): the run it belongs to. */
  readonly temporary?: SetOwner;
  /** The boot loader the set was made with, encoded by src/boot/loader.ts. */
  readonly bootLoader?: string;
  readonly volumes: readonly SetVolume[];
  /**
   * Snapshots the set was made with that LVM no longer has, while none of it merges (a
   * finished merge removes its snapshot): a create cut off by a crash, or an lvremove. Only
   * VGs that lvm reports count, when the set records its volumes.
   */
  readonly missing: number;
  /** "vg/lv" of the origins whose snapshots lie in a VG lvm does not report now (a disk away). */
  readonly unavailable: readonly string[];
  /** The VGs of those, each once. */
  readonly absentVgs: readonly string[];
  /** False for a set made without a record of its volumes: its missing ones may be in absent VGs. */
  readonly recordsVolumes: boolean;
}

/** Byte-order comparison: localeCompare would load ICU, which costs more than the listing. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function volumeState(lv: LogicalVolume): VolumeState {
  if (lv.snapshotInvalid) return "invalid";
  if (lv.merging || lv.mergeFailed) return "merging";
  return lv.active ? "active" : "inactive";
}

function toSetVolume(lv: LogicalVolume, byName: ReadonlyMap<string, LogicalVolume>): SetVolume {
  const thin = isThin(lv);
  const originLv = lv.origin === null ? undefined : byName.get(`${lv.vg}/${lv.origin}`);
  const pool = lv.pool === null ? undefined : byName.get(`${lv.vg}/${lv.pool}`);
  return {
    origin: lv.origin === null ? null : `${lv.vg}/${lv.origin}`,
    snapshot: lv.fullName,
    snapshotLv: lv,
    originLv,
    thin,
    state: volumeState(lv),
    mergeFailed: lv.mergeFailed,
    usedPercent: thin ? (pool?.dataPercent ?? null) : (lv.snapPercent ?? lv.dataPercent),
    usedOf: thin ? "pool" : "snapshot",
  };
}

function vgOf(volume: string): string {
  return volume.slice(0, volume.indexOf("/"));
}

type Completeness = Pick<SnapshotSet, "missing" | "unavailable" | "absentVgs" | "recordsVolumes">;

/** What the set lacks, told apart by whether lvm reports the VG it would lie in. */
function completeness(
  members: number | undefined,
  memberVolumes: readonly string[] | undefined,
  volumes: readonly SetVolume[],
  reported: ReadonlySet<string>,
): Completeness {
  const merging = volumes.some((v) => v.state === "merging");
  if (memberVolumes === undefined) {
    const missing = merging ? 0 : Math.max(0, (members ?? 0) - volumes.length);
    return { missing, unavailable: [], absentVgs: [], recordsVolumes: false };
  }
  const unavailable = memberVolumes.filter((volume) => !reported.has(vgOf(volume)));
  const absentVgs = [...new Set(unavailable.map(vgOf))];
  const expected = memberVolumes.length - unavailable.length;
  const missing = merging ? 0 : Math.max(0, expected - volumes.length);
  return { missing, unavailable, absentVgs, recordsVolumes: true };
}

/** All sets found in one `lvs` report, newest first; its VGs are those lvm reports now. */
export function collectSets(lvs: readonly LogicalVolume[]): SnapshotSet[] {
  const byName = new Map(lvs.map((lv) => [lv.fullName, lv]));
  const reported = new Set(lvs.map((lv) => lv.vg));
  const sets = new Map<
    string,
    {
      name: string;
      kind: SetKind;
      created: Date;
      label?: string;
      members?: number;
      memberVolumes?: readonly string[];
      temporary?: SetOwner;
      volumes: SetVolume[];
    }
  >();
  for (const lv of lvs) {
    const identity = readSetTags(lv.tags, lv.created);
    if (identity === undefined) continue;
    let set = sets.get(identity.name);
    if (set === undefined) {
      set = { ...identity, volumes: [] };
      sets.set(identity.name, set);
    }
    if (identity.created < set.created) set.created = identity.created;
    if (identity.members !== undefined && identity.members > (set.members ?? 0))
      set.members = identity.members;
    const recorded = identity.memberVolumes;
    if (recorded !== undefined && recorded.length > (set.memberVolumes?.length ?? 0))
      set.memberVolumes = recorded;
    set.volumes.push(toSetVolume(lv, byName));
  }
  return [...sets.values()]
    .map(({ members, memberVolumes, ...set }) => ({
      ...set,
      volumes: set.volumes.sort((a, b) => compareText(a.snapshot, b.snapshot)),
      ...completeness(members, memberVolumes, set.volumes, reported),
    }))
    .sort((a, b) => b.created.getTime() - a.created.getTime() || compareText(a.name, b.name));
}

export function findSet(sets: readonly SnapshotSet[], name: string): SnapshotSet | undefined {
  return sets.find((set) => set.name === name);
}

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
