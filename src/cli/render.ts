// Turns command results into text for people or into the versioned JSON of the contract.
import { formatArgv } from "../system/runner.ts";
import type { Commands } from "../system/context.ts";
import type { CreateResult } from "../lifecycle/make.ts";
import type { PruneResult } from "../lifecycle/prune.ts";
import type { RemoveResult } from "../commands/remove.ts";
import type { WatchResult } from "../commands/watch.ts";
import type { RevertResult } from "../commands/revert.ts";
import type { StatusResult } from "../lifecycle/state.ts";
import type { RepairResult } from "../lifecycle/repair.ts";
import type { BackupResult } from "../commands/backup.ts";
import type { MountResult } from "../commands/mount.ts";
import type { UmountResult } from "../commands/umount.ts";
import type { VerifyResult } from "../backup/verify.ts";
import type { SetVolume, SnapshotSet } from "../sets/model.ts";
import { snapshotLvName } from "../sets/names.ts";
import { formatBytes } from "../sets/plan.ts";

export const JSON_VERSION = 1;

export function jsonDocument(body: Record<string, unknown>): string {
  return `${JSON.stringify({ version: JSON_VERSION, ...body }, null, 2)}\n`;
}

/** ISO 8601 without milliseconds: 2024-01-31T23:59:59Z. */
export function isoTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function volumeJson(volume: SetVolume): Record<string, unknown> {
  return {
    origin: volume.origin,
    snapshot: volume.snapshot,
    used_percent: volume.usedPercent,
    used_of: volume.usedOf,
    state: volume.state,
    merge_failed: volume.mergeFailed,
    thin: volume.thin,
    size_bytes: volume.snapshotLv.sizeBytes,
    origin_size_bytes: volume.originLv?.sizeBytes ?? null,
    lv_attr: volume.snapshotLv.attr.raw,
  };
}

export function setJson(set: SnapshotSet): Record<string, unknown> {
  return {
    name: set.name,
    kind: set.kind,
    created: isoTime(set.created),
    label: set.label ?? null,
    missing: set.missing,
    unavailable: set.unavailable.length,
    absent_vgs: set.absentVgs,
    temporary: set.temporary !== undefined,
    volumes: set.volumes.map(volumeJson),
  };
}

export function commandLines(commands: Commands): string[] {
  return commands.map((argv) => formatArgv(argv));
}

/** Left-aligned columns separated by two spaces; no trailing blanks. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

function percent(value: number | null, usedOf: SetVolume["usedOf"]): string {
  if (value === null) return "-";
  return `${value.toFixed(2)}%${usedOf === "pool" ? " (pool)" : ""}`;
}

function humanTime(date: Date): string {
  return isoTime(date)
    .replace("T", " ")
    .replace(/:\d\dZ$/, " UTC");
}

export function setsTable(sets: readonly SnapshotSet[]): string {
  const rows = sets.flatMap((set) => {
    const volumes = set.volumes.map((volume) => [
      volume.origin ?? "-",
      volume.snapshot,
      percent(volume.usedPercent, volume.usedOf),
      volume.state,
    ]);
    // One row per snapshot the set lacks, each cell one word for whoever splits the columns.
    for (let i = 0; i < set.missing; i += 1) volumes.push(["-", "-", "-", "missing"]);
    for (const origin of set.unavailable) {
      const [vg = "", lv = ""] = origin.split("/");
      volumes.push([origin, `${vg}/${snapshotLvName(lv, set.name)}`, "-", "unavailable"]);
    }
    return volumes.map((cells, index) => [
      index === 0 ? set.name : "",
      index === 0 ? (set.temporary === undefined ? set.kind : "temporary") : "",
      index === 0 ? humanTime(set.created) : "",
      ...cells,
    ]);
  });
  return table(["SET", "KIND", "CREATED", "ORIGIN", "SNAPSHOT", "USED", "STATE"], rows);
}

export function createJson(result: CreateResult): string {
  const volumes = result.snapshots.map((snapshot) => ({
    origin: snapshot.origin.fullName,
    snapshot: snapshot.snapshot,
    thin: snapshot.thin,
    size_bytes: snapshot.bytes,
    size_policy: snapshot.thin ? null : snapshot.size.text,
  }));
  const set = {
    name: result.set.name,
    kind: result.set.kind,
    created: isoTime(result.set.created),
    volumes,
  };
  return jsonDocument({ dry_run: result.dryRun, set, commands: commandLines(result.commands) });
}

export function createNote(result: CreateResult): string {
  const parts = result.snapshots.map((snapshot) =>
    snapshot.thin
      ? `${snapshot.snapshot} (thin)`
      : `${snapshot.snapshot} (${formatBytes(snapshot.bytes ?? 0)})`,
  );
  return `created set ${result.set.name}: ${parts.join(", ")}`;
}

export function removeJson(result: RemoveResult): string {
  return jsonDocument({
    dry_run: result.dryRun,
    name: result.set.name,
    removed: result.removed,
    commands: commandLines(result.commands),
  });
}

export function revertJson(result: RevertResult): string {
  return jsonDocument({
    dry_run: result.dryRun,
    name: result.set.name,
    volumes: result.volumes,
    commands: commandLines(result.commands),
  });
}

export function revertText(result: RevertResult): string {
  const rows = result.volumes.map((volume) => [volume.origin, volume.snapshot, volume.outcome]);
  return table(["ORIGIN", "SNAPSHOT", "MERGE"], rows);
}

export function revertNotes(result: RevertResult): string[] {
  return result.volumes.map((volume) =>
    volume.outcome === "merged"
      ? `${volume.origin} is reverted: the merge is done`
      : volume.outcome === "pending"
        ? `${volume.origin} is in use: the merge starts at its next activation; reboot: rootsnap-finish.service finishes it at boot after rootsnap setup, else rootsnap repair does`
        : `${volume.origin} would be merged`,
  );
}

export function statusJson(result: StatusResult): string {
  return jsonDocument({
    sets: result.sets.map(setJson),
    volume_groups: result.volumeGroups.map((vg) => ({
      name: vg.name,
      size_bytes: vg.sizeBytes,
      free_bytes: vg.freeBytes,
    })),
    merges: result.merges,
    leftovers: result.leftovers,
    repair_due: result.repairDue,
    boot_failure: result.bootFailure,
    setup_interrupted: result.setupInterrupted,
    invalid: result.sets.flatMap((set) =>
      set.volumes.filter((volume) => volume.state === "invalid").map((volume) => volume.snapshot),
    ),
    warnings: result.warnings,
  });
}

export function statusText(result: StatusResult): string {
  const sections = [result.sets.length === 0 ? "No snapshot sets.\n" : setsTable(result.sets)];
  const vgRows = result.volumeGroups.map((vg) => [
    vg.name,
    formatBytes(vg.sizeBytes),
    formatBytes(vg.freeBytes),
  ]);
  sections.push(table(["VG", "SIZE", "FREE"], vgRows));
  if (result.merges.length > 0) {
    sections.push(
      table(
        ["MERGING INTO", "SNAPSHOT", "STATE"],
        result.merges.map((merge) => [merge.origin, merge.snapshot, merge.state]),
      ),
    );
  }
  if (result.warnings.length > 0)
    sections.push(result.warnings.map((warning) => `warning: ${warning}\n`).join(""));
  return sections.join("\n");
}

export function repairJson(result: RepairResult): string {
  return jsonDocument({
    dry_run: result.dryRun,
    merges: result.merges,
    leftovers: result.leftovers,
    warnings: result.warnings,
    commands: commandLines(result.commands),
  });
}

/** What a repair did, one line each; empty when there was nothing to do. */
export function repairNotes(result: RepairResult): string[] {
  const finished = result.merges
    .filter((merge) => merge.state === "finished")
    .map((merge) => `merge of ${merge.snapshot} into ${merge.origin} finished`);
  return finished.length === 0 && result.leftovers.length === 0 && result.warnings.length === 0
    ? ["nothing to repair"]
    : finished;
}

export function mountJson(result: MountResult): string {
  return jsonDocument({
    mount: {
      set: result.set.name,
      dir: result.dir,
      volumes: result.entries.map((entry) => ({
        snapshot: entry.snapshot,
        origin: entry.origin,
        mount_point: entry.target,
        place: entry.place,
        fs_type: entry.fsType,
        options: entry.options.join(","),
      })),
    },
    ...(result.dryRun ? { commands: result.commands } : {}),
  });
}

export function umountJson(result: UmountResult): string {
  return jsonDocument({
    umount: { set: result.set.name, unmounted: result.unmounted, deactivated: result.deactivated },
    ...(result.dryRun ? { commands: result.commands } : {}),
  });
}

export function backupNote(result: BackupResult): string {
  const m = result.manifest;
  const where = result.path ?? "stdout";
  const secs = (result.elapsedMs / 1000).toFixed(0);
  return `backup of set ${m.set} in ${where}: ${m.files} entries, ${formatBytes(m.bytes)} in ${secs} s, sha256 ${m.sha256}`;
}

export function verifyNote(result: VerifyResult): string {
  const checked =
    result.manifest === null
      ? "no manifest beside it, so no checksum to compare"
      : "sha256 and entry count match its manifest";
  return `${result.path}: read to the end, ${result.files} entries, ${formatBytes(result.bytes)}; ${checked}`;
}

export function pruneJson(result: PruneResult): string {
  return jsonDocument({
    prune: {
      sets: result.decisions.map((d) => ({
        name: d.name,
        kind: d.kind,
        created: isoTime(d.created),
        keep: d.keep,
        reason: d.reason,
      })),
      removed: result.removed,
    },
    ...(result.dryRun ? { commands: result.commands } : {}),
  });
}

export function pruneText(result: PruneResult): string {
  if (result.decisions.length === 0) return "";
  return table(
    ["SET", "KIND", "CREATED", "DECISION", "WHY"],
    result.decisions.map((d) => [
      d.name,
      d.kind,
      isoTime(d.created),
      d.keep ? "keep" : "removed",
      d.reason,
    ]),
  );
}

export function watchJson(result: WatchResult): string {
  return jsonDocument({
    watch: {
      events: result.events.map((e) => ({
        level: e.level,
        set: e.set,
        snapshot: e.snapshot,
        used_percent: e.usedPercent,
        action: e.action,
        message: e.message,
      })),
      metrics: result.metrics ?? null,
    },
  });
}
