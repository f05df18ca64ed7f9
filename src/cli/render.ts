// Turns command results into text for people or into the versioned JSON of the contract.
import { formatArgv } from "../system/runner.ts";
import type { Commands } from "../system/context.ts";
import type { CreateResult } from "../lifecycle/make.ts";
import type { PruneResult } from "../lifecycle/prune.ts";
import type { RevertResult } from "../commands/revert.ts";
import type { StatusResult } from "../lifecycle/state.ts";
import type { BackupResult } from "../commands/backup.ts";
import type { VerifyResult } from "../backup/verify.ts";
import type { SetDocument, SnakeCase, VolumeDocument } from "./json.ts";
import type { SetVolume, SnapshotSet } from "../sets/model.ts";
import { snapshotLvName } from "../sets/names.ts";
import { formatBytes } from "../sets/plan.ts";

export const JSON_VERSION = 1;

/** The document of the contract: `version` first, then the verb's body, snake_case throughout. */
export function jsonDocument<T extends object>(body: T & SnakeCase<T>): string {
  return `${JSON.stringify(Object.assign({ version: JSON_VERSION }, body), null, 2)}\n`;
}

/** ISO 8601 without milliseconds: 2024-01-31T23:59:59Z. */
export function isoTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function volumeJson(volume: SetVolume): VolumeDocument {
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

export function setJson(set: SnapshotSet): SetDocument {
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

export function createNote(result: CreateResult): string {
  const parts = result.snapshots.map((snapshot) =>
    snapshot.thin
      ? `${snapshot.snapshot} (thin)`
      : `${snapshot.snapshot} (${formatBytes(snapshot.bytes ?? 0)})`,
  );
  return `created set ${result.set.name}: ${parts.join(", ")}`;
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
