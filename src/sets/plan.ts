// Plans a whole set before anything is made: every origin checked, every snapshot
// named, the space of every VG counted. A plan that passes here is then executed.
import { DataError, NoSpaceError, UsageError } from "../system/errors.ts";
import { isThin, type LogicalVolume, type VolumeGroup } from "../lvm/model.ts";
import { collectSets } from "./model.ts";
import { LV_NAME_MAX, snapshotLvName, validateSetName } from "./names.ts";
import { cowExtents, type SizePolicy } from "./size.ts";
import { setTags, type SetIdentity } from "./tags.ts";

export interface VolumeRequest {
  /** "vg/lv" of the origin. */
  readonly volume: string;
  readonly size: SizePolicy;
}

export interface PlannedSnapshot {
  readonly origin: LogicalVolume;
  readonly snapshot: string;
  readonly thin: boolean;
  /** COW extents of a thick snapshot; null for a thin one. */
  readonly extents: number | null;
  readonly bytes: number | null;
  readonly size: SizePolicy;
  readonly argv: readonly string[];
}

export interface CreatePlan {
  readonly set: SetIdentity;
  readonly snapshots: readonly PlannedSnapshot[];
}

export interface PlanInputs {
  readonly set: SetIdentity;
  readonly requests: readonly VolumeRequest[];
  readonly lvs: readonly LogicalVolume[];
  readonly vgs: readonly VolumeGroup[];
  /** Used bytes of the file system on each origin ("vg/lv"), for N%USED. */
  readonly usedBytes: ReadonlyMap<string, number>;
}

export function parseVolumeName(text: string): { vg: string; lv: string } {
  const match = /^(?:\/dev\/)?([^/\s]+)\/([^/\s]+)$/.exec(text.trim());
  if (match?.[1] === undefined || match[2] === undefined) {
    throw new UsageError(
      `--volume ${JSON.stringify(text)} is not of the form VG/LV`,
      "example: --volume vg0/root",
    );
  }
  return { vg: match[1], lv: match[2] };
}

/** Why `lv` cannot be snapshotted, or undefined when it can. */
function originProblem(lv: LogicalVolume): string | undefined {
  if (lv.hidden) return "is an internal volume of LVM";
  if (lv.attr.isSnapshot || (lv.origin !== null && !isThin(lv))) return "is itself a snapshot";
  if (lv.attr.isThinPool || lv.segtype.startsWith("thin-pool"))
    return "is a thin pool, not a volume";
  if (lv.attr.isMergingOrigin || lv.merging) return "has a snapshot merging into it";
  return undefined;
}

function findOrigin(lvs: readonly LogicalVolume[], volume: string): LogicalVolume {
  const { vg, lv } = parseVolumeName(volume);
  const found = lvs.find((candidate) => candidate.vg === vg && candidate.name === lv);
  if (found === undefined) {
    throw new DataError(`${vg}/${lv} is not a logical volume`, "`lvs` lists the logical volumes");
  }
  const problem = originProblem(found);
  if (problem !== undefined) {
    const hint = found.merging
      ? "rootsnap status shows the merge; rootsnap repair finishes one an earlier boot left running"
      : undefined;
    throw new DataError(`${found.fullName} ${problem}; it cannot be snapshotted`, hint);
  }
  return found;
}

function snapshotArgv(
  set: SetIdentity,
  origin: LogicalVolume,
  name: string,
  extents: number | null,
): string[] {
  const tags = setTags(set).flatMap((tag) => ["--addtag", tag]);
  // A thin snapshot gets no size; -kn clears the activation skip so it is active like a thick one.
  const size = extents === null ? ["--setactivationskip", "n"] : ["--extents", String(extents)];
  return ["lvcreate", "--snapshot", ...size, "--name", name, ...tags, origin.fullName];
}

function planOne(inputs: PlanInputs, request: VolumeRequest): PlannedSnapshot {
  const origin = findOrigin(inputs.lvs, request.volume);
  const name = snapshotLvName(origin.name, inputs.set.name);
  if (name.length > LV_NAME_MAX) {
    throw new DataError(
      `snapshot name ${origin.vg}/${name} is longer than LVM allows (${LV_NAME_MAX})`,
      "choose a shorter set name",
    );
  }
  if (inputs.lvs.some((lv) => lv.vg === origin.vg && lv.name === name)) {
    throw new DataError(
      `${origin.vg}/${name} already exists, so the set's snapshot of ${origin.fullName} cannot be made`,
      "choose another set name",
    );
  }
  const thin = isThin(origin);
  if (thin) checkPool(inputs.lvs, origin);
  const vg = inputs.vgs.find((candidate) => candidate.name === origin.vg);
  if (vg === undefined)
    throw new DataError(`volume group ${origin.vg} is missing from the vgs report`);
  const extents = thin
    ? null
    : cowExtents(request.size, {
        originBytes: origin.sizeBytes,
        vgFreeBytes: vg.freeBytes,
        extentBytes: vg.extentSizeBytes,
        usedBytes: inputs.usedBytes.get(origin.fullName),
      });
  return {
    origin,
    snapshot: `${origin.vg}/${name}`,
    thin,
    extents,
    bytes: extents === null ? null : extents * vg.extentSizeBytes,
    size: request.size,
    argv: snapshotArgv(inputs.set, origin, name, extents),
  };
}

/** Pool fill from which a new thin snapshot is refused: unsharing blocks could fill it. */
export const THIN_POOL_LIMIT_PERCENT = 90;

/** A full thin pool fails writes and can damage file systems (lvmthin(7)). */
function checkPool(lvs: readonly LogicalVolume[], origin: LogicalVolume): void {
  const pool = lvs.find((lv) => lv.vg === origin.vg && lv.name === origin.pool);
  const fullest = Math.max(pool?.dataPercent ?? 0, pool?.metadataPercent ?? 0);
  if (pool !== undefined && fullest >= THIN_POOL_LIMIT_PERCENT) {
    throw new NoSpaceError(
      `thin pool ${pool.fullName} is ${fullest}% full; a snapshot of ${origin.fullName} could fill it`,
      `extend the pool (lvextend -L +SIZE ${pool.fullName}) or remove old sets`,
    );
  }
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(2)} ${units[unit] ?? "B"}`;
}

/** Throws NoSpaceError naming every VG whose free extents cannot hold its snapshots. */
function checkSpace(snapshots: readonly PlannedSnapshot[], vgs: readonly VolumeGroup[]): void {
  const shortfalls: string[] = [];
  for (const vg of vgs) {
    const needed = snapshots
      .filter((snapshot) => snapshot.origin.vg === vg.name)
      .reduce((sum, snapshot) => sum + (snapshot.extents ?? 0), 0);
    if (needed > vg.freeExtents) {
      const need = formatBytes(needed * vg.extentSizeBytes);
      shortfalls.push(
        `${vg.name} needs ${need} but has ${formatBytes(vg.freeExtents * vg.extentSizeBytes)} free`,
      );
    }
  }
  if (shortfalls.length > 0) {
    throw new NoSpaceError(
      `not enough space for the set: ${shortfalls.join("; ")}`,
      "choose a smaller --size, or remove old sets (rootsnap list)",
    );
  }
}

export function planCreate(inputs: PlanInputs): CreatePlan {
  validateSetName(inputs.set.name);
  if (collectSets(inputs.lvs).some((set) => set.name === inputs.set.name)) {
    throw new DataError(
      `a set named ${inputs.set.name} already exists`,
      "choose another name, or remove it first",
    );
  }
  const seen = new Set<string>();
  for (const request of inputs.requests) {
    const { vg, lv } = parseVolumeName(request.volume);
    if (seen.has(`${vg}/${lv}`)) throw new UsageError(`${vg}/${lv} is named twice`);
    seen.add(`${vg}/${lv}`);
  }
  if (inputs.requests.length === 0) throw new UsageError("no volume to snapshot");
  // Every member names all the set's volumes, so a set cut short by a crash is recognised,
  // and a member in a VG that is absent for a while is told from a missing one.
  const set: SetIdentity = { ...inputs.set, members: seen.size, memberVolumes: [...seen] };
  const snapshots = inputs.requests.map((request) => planOne({ ...inputs, set }, request));
  checkSpace(snapshots, inputs.vgs);
  return { set, snapshots };
}
