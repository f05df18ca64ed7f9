// The lvm2 report commands rootsnap runs. The fixture recorder (test/vm/record-fixtures.ts)
// runs exactly these argv lists on real systems, so unit tests parse what the tool sees.

/** Fields read for every LV; one `lvs -a` call covers all VGs. */
export const LV_FIELDS = [
  "lv_name",
  "vg_name",
  "lv_uuid",
  "lv_path",
  "lv_dm_path",
  "lv_attr",
  "lv_size",
  "origin",
  "origin_size",
  "pool_lv",
  "data_percent",
  "metadata_percent",
  "snap_percent",
  "lv_time",
  "lv_tags",
  "lv_role",
  "lv_merging",
  "lv_merge_failed",
  "lv_snapshot_invalid",
  "lv_skip_activation",
  "lv_active",
  "lv_device_open",
  "segtype",
  "chunk_size",
  "lv_kernel_major",
  "lv_kernel_minor",
] as const;

export const VG_FIELDS = [
  "vg_name",
  "vg_uuid",
  "vg_size",
  "vg_free",
  "vg_extent_size",
  "vg_free_count",
  "vg_attr",
] as const;

const COMMON = [
  "--reportformat",
  "json",
  "--units",
  "b",
  "--nosuffix",
  "--config",
  'report/time_format="%s"',
] as const;

export function lvsArgv(): string[] {
  return ["lvs", "-a", ...COMMON, "-o", LV_FIELDS.join(",")];
}

export function vgsArgv(): string[] {
  return ["vgs", ...COMMON, "-o", VG_FIELDS.join(",")];
}
