// Typed views of the rows `lvs` and `vgs` print with the fields of fields.ts.
import { decodeLvAttr, type LvAttr } from "./attr.ts";
import {
  field,
  flag,
  integerOrNull,
  listOf,
  percentOrNull,
  timeOrNull,
  type ReportRow,
} from "./report.ts";

export interface LogicalVolume {
  readonly vg: string;
  readonly name: string;
  /** "vg/lv", the name lvm commands take. */
  readonly fullName: string;
  /** Shown as [name] by `lvs -a`: internal, or a snapshot whose merge is pending. */
  readonly hidden: boolean;
  readonly uuid: string;
  readonly path: string;
  readonly dmPath: string;
  readonly attr: LvAttr;
  readonly sizeBytes: number;
  /** Origin LV name (same VG) of a snapshot, or null. */
  readonly origin: string | null;
  readonly originSizeBytes: number | null;
  readonly pool: string | null;
  /** Empty while the LV is inactive. */
  readonly dataPercent: number | null;
  /** Thin pools only: fill of their metadata. */
  readonly metadataPercent: number | null;
  readonly snapPercent: number | null;
  readonly created: Date | null;
  readonly tags: readonly string[];
  readonly roles: readonly string[];
  readonly merging: boolean;
  readonly mergeFailed: boolean;
  readonly snapshotInvalid: boolean;
  readonly skipActivation: boolean;
  readonly active: boolean;
  readonly open: boolean;
  readonly segtype: string;
  readonly chunkSizeBytes: number | null;
  /** "major:minor" of the active device, as /proc/self/mountinfo names it. */
  readonly device: string | null;
}

export interface VolumeGroup {
  readonly name: string;
  readonly uuid: string;
  readonly sizeBytes: number;
  readonly freeBytes: number;
  readonly extentSizeBytes: number;
  readonly freeExtents: number;
  readonly attr: string;
}

function bracketless(name: string): string {
  return name.replace(/^\[(.*)\]$/, "$1");
}

function nameOrNull(text: string): string | null {
  const name = bracketless(text.trim());
  return name === "" ? null : name;
}

function device(row: ReportRow): string | null {
  const major = integerOrNull(row.lv_kernel_major ?? "");
  const minor = integerOrNull(row.lv_kernel_minor ?? "");
  return major === null || minor === null ? null : `${major}:${minor}`;
}

export function toLogicalVolume(row: ReportRow): LogicalVolume {
  const vg = field(row, "vg_name");
  const shownName = field(row, "lv_name");
  const name = bracketless(shownName);
  const attr = decodeLvAttr(field(row, "lv_attr"));
  return {
    vg,
    name,
    fullName: `${vg}/${name}`,
    hidden: shownName !== name,
    uuid: field(row, "lv_uuid"),
    path: field(row, "lv_path"),
    dmPath: row.lv_dm_path ?? "",
    attr,
    sizeBytes: integerOrNull(field(row, "lv_size")) ?? 0,
    origin: nameOrNull(field(row, "origin")),
    originSizeBytes: integerOrNull(row.origin_size ?? ""),
    pool: nameOrNull(row.pool_lv ?? ""),
    dataPercent: percentOrNull(row.data_percent ?? ""),
    metadataPercent: percentOrNull(row.metadata_percent ?? ""),
    snapPercent: percentOrNull(row.snap_percent ?? ""),
    created: timeOrNull(row.lv_time ?? ""),
    tags: listOf(field(row, "lv_tags")),
    roles: listOf(row.lv_role ?? ""),
    merging: flag(row.lv_merging ?? "") || attr.isMergingSnapshot || attr.isMergingOrigin,
    mergeFailed: flag(row.lv_merge_failed ?? "") || attr.mergeFailed,
    snapshotInvalid: flag(row.lv_snapshot_invalid ?? "") || attr.invalidSnapshot,
    skipActivation: flag(row.lv_skip_activation ?? "") || attr.skipActivation,
    active: row.lv_active === undefined ? attr.active : flag(row.lv_active),
    open: flag(row.lv_device_open ?? "") || attr.open,
    segtype: row.segtype ?? "",
    chunkSizeBytes: integerOrNull(row.chunk_size ?? ""),
    device: device(row),
  };
}

export function toVolumeGroup(row: ReportRow): VolumeGroup {
  return {
    name: field(row, "vg_name"),
    uuid: row.vg_uuid ?? "",
    sizeBytes: integerOrNull(field(row, "vg_size")) ?? 0,
    freeBytes: integerOrNull(field(row, "vg_free")) ?? 0,
    extentSizeBytes: integerOrNull(field(row, "vg_extent_size")) ?? 0,
    freeExtents: integerOrNull(field(row, "vg_free_count")) ?? 0,
    attr: row.vg_attr ?? "",
  };
}

/** The device-mapper name of vg/lv (a `-` inside either name is doubled), with a layer. */
export function dmName(vg: string, lv: string, layer?: string): string {
  const part = (name: string): string => name.replace(/-/g, "--");
  return [part(vg), part(lv), ...(layer === undefined ? [] : [layer])].join("-");
}

/** A thin snapshot or thin origin: no COW space of its own, its pool fills instead. */
export function isThin(lv: LogicalVolume): boolean {
  return lv.segtype === "thin" || (lv.attr.targetType === "t" && !lv.attr.isThinPool);
}
