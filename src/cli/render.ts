// Turns command results into text for people or into the versioned JSON of the contract.
import { decodeRecord, describeRecord } from "../boot/loader.ts";
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
import type { ShowResult } from "../commands/show.ts";
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

/** How tables are shown: --utc, --no-headings, and the terminal's width. */
export interface TableStyle {
  readonly utc: boolean;
  readonly headings: boolean;
  /** Columns of the terminal stdout is; undefined when it is none: then nothing is cut. */
  readonly width?: number;
}

export const DEFAULT_STYLE: TableStyle = { utc: false, headings: true };

function two(value: number): string {
  return String(value).padStart(2, "0");
}

/** "+01:00": the local offset from UTC at that moment (summer time included). */
function localOffset(date: Date): string {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${two(Math.floor(abs / 60))}:${two(abs % 60)}`;
}

function localParts(date: Date): [string, string] {
  const day = `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}`;
  const time = `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
  return [day, time];
}

/** ISO 8601 in local time with its offset: 2026-12-03T05:12:09+01:00. */
export function localIsoTime(date: Date): string {
  const [day, time] = localParts(date);
  return `${day}T${time}${localOffset(date)}`;
}

/** The one time format of tables: 2026-12-03 05:12:09 +01:00, or 2026-12-03 04:12:09 UTC. */
export function displayTime(date: Date, utc: boolean): string {
  if (utc) return isoTime(date).replace("T", " ").replace(/Z$/, " UTC");
  const [day, time] = localParts(date);
  return `${day} ${time} ${localOffset(date)}`;
}

/** Each row's cells padded to its column's width, two spaces apart; no trailing blanks. */
function aligned(rows: readonly (readonly string[])[]): string[] {
  const columns = Math.max(0, ...rows.map((row) => row.length));
  const widths = Array.from({ length: columns }, (_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? "").length)),
  );
  return rows.map((cells) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd(),
  );
}

function joined(lines: readonly string[]): string {
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

/** Left-aligned columns separated by two spaces; no trailing blanks. */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  style: Pick<TableStyle, "headings"> = DEFAULT_STYLE,
): string {
  const lines = aligned([header, ...rows]);
  return joined(style.headings ? lines : lines.slice(1));
}

function percent(value: number | null, usedOf: SetVolume["usedOf"]): string {
  if (value === null) return "-";
  return `${value.toFixed(2)}%${usedOf === "pool" ? " (pool)" : ""}`;
}

/** A thin snapshot takes its pool's space, not its own size: its size would mislead. */
function sizeOf(volume: SetVolume): string {
  return volume.thin ? "thin" : formatBytes(volume.snapshotLv.sizeBytes);
}

/** The volumes of a set, and one row per snapshot it lacks. */
function memberRows(set: SnapshotSet): string[][] {
  const rows = set.volumes.map((volume) => [
    volume.origin ?? "-",
    volume.snapshot,
    sizeOf(volume),
    percent(volume.usedPercent, volume.usedOf),
    volume.state,
  ]);
  // Each cell one word for whoever splits the columns.
  for (let i = 0; i < set.missing; i += 1) rows.push(["-", "-", "-", "-", "missing"]);
  for (const origin of set.unavailable) {
    const [vg = "", lv = ""] = origin.split("/");
    rows.push([origin, `${vg}/${snapshotLvName(lv, set.name)}`, "-", "-", "unavailable"]);
  }
  return rows;
}

function kindOf(set: SnapshotSet): string {
  return set.temporary === undefined ? set.kind : "temporary";
}

/** Cut to `width` columns with "...", but never into the columns before the label. */
function fit(line: string, width: number | undefined, labelAt: number): string {
  if (width === undefined || line.length <= width) return line;
  const keep = Math.max(width, labelAt + 16) - 3;
  return line.length <= keep + 3 ? line : `${line.slice(0, keep)}...`;
}

const SET_HEADER = ["SET", "KIND", "CREATED", "LABEL"];
const MEMBER_HEADER = ["ORIGIN", "SNAPSHOT", "SIZE", "USED", "STATE"];
const INDENT = "  ";

/**
 * One line per set (name, kind, creation, the package manager's command line that made
 * it), each followed by its snapshots, indented; two header lines, one for each.
 */
export function setsTable(sets: readonly SnapshotSet[], style: TableStyle = DEFAULT_STYLE): string {
  const setLines = aligned([
    SET_HEADER,
    ...sets.map((set) => [
      set.name,
      kindOf(set),
      displayTime(set.created, style.utc),
      set.label ?? "-",
    ]),
  ]);
  const members = sets.map(memberRows);
  const memberLines = aligned([MEMBER_HEADER, ...members.flat()]).map((line) => INDENT + line);
  const labelAt = (setLines[0] ?? "").indexOf("LABEL");
  const lines = style.headings ? [setLines[0] ?? "", memberLines[0] ?? ""] : [];
  let next = 1;
  sets.forEach((_set, index) => {
    lines.push(fit(setLines[index + 1] ?? "", style.width, labelAt));
    const count = members[index]?.length ?? 0;
    lines.push(...memberLines.slice(next, next + count));
    next += count;
  });
  return joined(lines);
}

function retentionText({ keep, reason }: ShowResult["retention"]): string {
  return keep ? `kept: ${reason}` : `would be pruned: ${reason}`;
}

/** One set in detail: `show NAME`. Times in both local time and UTC, whatever --utc says. */
export function showText(result: ShowResult, style: TableStyle = DEFAULT_STYLE): string {
  const { set } = result;
  const fields: [string, string][] = [
    ["name", set.name],
    ["kind", kindOf(set)],
    ["label", set.label ?? "-"],
    ["created", `${displayTime(set.created, false)} (${displayTime(set.created, true)})`],
    ["retention", retentionText(result.retention)],
  ];
  const loader = decodeRecord(set.bootLoader);
  if (loader !== undefined) fields.push(["boot loader", describeRecord(loader)]);
  if (set.missing > 0) fields.push(["incomplete", `${set.missing} snapshot(s) missing`]);
  if (set.absentVgs.length > 0) fields.push(["absent VGs", set.absentVgs.join(", ")]);
  const head = fields.map(([name, value]) => `${`${name}:`.padEnd(12)}${value}\n`).join("");
  const members = table(MEMBER_HEADER, memberRows(set), style);
  return `${head}\n${members}`;
}

export function createNote(result: CreateResult): string {
  const parts = result.snapshots.map((snapshot) =>
    snapshot.thin
      ? `${snapshot.snapshot} (thin)`
      : `${snapshot.snapshot} (${formatBytes(snapshot.bytes ?? 0)})`,
  );
  return `created set ${result.set.name}: ${parts.join(", ")}`;
}

export function revertText(result: RevertResult, style: TableStyle = DEFAULT_STYLE): string {
  const rows = result.volumes.map((volume) => [volume.origin, volume.snapshot, volume.outcome]);
  return table(["ORIGIN", "SNAPSHOT", "MERGE"], rows, style);
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

export function statusText(result: StatusResult, style: TableStyle = DEFAULT_STYLE): string {
  const sections = [
    result.sets.length === 0 ? "No snapshot sets.\n" : setsTable(result.sets, style),
  ];
  const vgRows = result.volumeGroups.map((vg) => [
    vg.name,
    formatBytes(vg.sizeBytes),
    formatBytes(vg.freeBytes),
  ]);
  sections.push(table(["VG", "SIZE", "FREE"], vgRows, style));
  if (result.merges.length > 0) {
    sections.push(
      table(
        ["MERGING INTO", "SNAPSHOT", "STATE"],
        result.merges.map((merge) => [merge.origin, merge.snapshot, merge.state]),
        style,
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

/** Each set with what prune decided (a dry run: would decide) and the rule why. */
export function pruneText(result: PruneResult, style: TableStyle = DEFAULT_STYLE): string {
  if (result.decisions.length === 0) return "";
  const gone = result.dryRun ? "remove" : "removed";
  return table(
    ["SET", "KIND", "CREATED", "DECISION", "WHY"],
    result.decisions.map((d) => [
      d.name,
      d.kind,
      displayTime(d.created, style.utc),
      d.keep ? "keep" : gone,
      d.reason,
    ]),
    style,
  );
}
