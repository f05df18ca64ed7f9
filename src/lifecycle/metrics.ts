// Prometheus text exposition for node_exporter's textfile collector: fill levels, sets
// and VG free space, so an alert fires before a snapshot becomes invalid.
import type { VolumeGroup } from "../lvm/model.ts";
import type { SnapshotSet } from "../sets/model.ts";
import { SET_KINDS } from "../sets/tags.ts";

type Labels = Record<string, string>;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function sample(name: string, labels: Labels, value: number): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return `${name}${pairs.length > 0 ? `{${pairs.join(",")}}` : ""} ${Number.isFinite(value) ? value : "NaN"}`;
}

class Family {
  readonly lines: string[];
  constructor(
    readonly name: string,
    help: string,
  ) {
    this.lines = [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`];
  }
  add(labels: Labels, value: number): void {
    this.lines.push(sample(this.name, labels, value));
  }
}

export function renderMetrics(
  sets: readonly SnapshotSet[],
  vgs: readonly VolumeGroup[],
  now: Date,
): string {
  const used = new Family(
    "rootsnap_snapshot_used_percent",
    "Fill of a snapshot's copy-on-write area (thin: its pool), in percent.",
  );
  const invalid = new Family(
    "rootsnap_snapshot_invalid",
    "1 when the snapshot overflowed and its data is gone.",
  );
  const merging = new Family(
    "rootsnap_snapshot_merging",
    "1 when a merge back into the origin is pending or running.",
  );
  const created = new Family("rootsnap_set_created_timestamp_seconds", "When the set was taken.");
  const count = new Family("rootsnap_sets", "Snapshot sets by kind.");
  const free = new Family("rootsnap_vg_free_bytes", "Free space in the volume group, in bytes.");
  const size = new Family("rootsnap_vg_size_bytes", "Size of the volume group, in bytes.");
  const run = new Family("rootsnap_metrics_timestamp_seconds", "When these metrics were written.");
  for (const set of sets) {
    created.add({ set: set.name, kind: set.kind }, Math.floor(set.created.getTime() / 1000));
    for (const v of set.volumes) {
      const labels = {
        set: set.name,
        kind: set.kind,
        snapshot: v.snapshot,
        origin: v.origin ?? "",
      };
      if (v.usedPercent !== null) used.add(labels, v.usedPercent);
      invalid.add(labels, v.state === "invalid" ? 1 : 0);
      merging.add(labels, v.state === "merging" ? 1 : 0);
    }
  }
  for (const kind of SET_KINDS) count.add({ kind }, sets.filter((s) => s.kind === kind).length);
  for (const vg of vgs) {
    free.add({ vg: vg.name }, vg.freeBytes);
    size.add({ vg: vg.name }, vg.sizeBytes);
  }
  run.add({}, Math.floor(now.getTime() / 1000));
  return (
    [used, invalid, merging, created, count, free, size, run]
      .map((f) => f.lines.join("\n"))
      .join("\n") + "\n"
  );
}
