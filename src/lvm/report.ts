// Parses `--reportformat json` output. lvm2 2.03.16 prints every value as a string;
// 2.03.26+ adds a top-level "log" array; json_std (2.03.17+) would give numbers and
// nulls. All three reduce to rows of strings here, "" meaning "no value".
import { DataError } from "../system/errors.ts";

export type ReportRow = Readonly<Record<string, string>>;
export type ReportKind = "lv" | "vg" | "pv" | "seg";

function asText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return value.map(asText).join(",");
  return JSON.stringify(value);
}

/** Normalises a row in place: rows are fresh from JSON.parse, and copying them costs more than the rest of `list`. */
function toRow(entry: unknown): ReportRow {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new DataError("lvm report row is not an object");
  }
  const row = entry as Record<string, unknown>;
  for (const key in row) {
    const value = row[key];
    if (typeof value !== "string") row[key] = asText(value);
  }
  return row as ReportRow;
}

/** Every row of kind `kind` in every report of one lvm2 JSON document. */
export function parseReport(stdout: string, kind: ReportKind): ReportRow[] {
  let document: unknown;
  try {
    document = JSON.parse(stdout);
  } catch (error) {
    const start = stdout.trim().slice(0, 60);
    throw new DataError(
      `lvm printed no JSON report (${(error as Error).message}): ${JSON.stringify(start)}`,
      "check that lvm2 is 2.03 or newer",
    );
  }
  const reports = (document as { report?: unknown }).report;
  if (!Array.isArray(reports)) throw new DataError('lvm JSON report has no "report" array');
  const rows: ReportRow[] = [];
  for (const report of reports as unknown[]) {
    const entries = (report as Record<string, unknown> | null)?.[kind];
    if (entries === undefined) continue;
    if (!Array.isArray(entries)) throw new DataError(`lvm JSON report: "${kind}" is not an array`);
    for (const entry of entries as unknown[]) rows.push(toRow(entry));
  }
  return rows;
}

/** A field that must be present in every row: a missing one means lvm ignored our -o list. */
export function field(row: ReportRow, name: string): string {
  const value = row[name];
  if (value === undefined) throw new DataError(`lvm report lacks the field ${name}`);
  return value;
}

/** Integer bytes or counts; "" (not applicable) and "-1" (undefined) become null. */
export function integerOrNull(text: string): number | null {
  const trimmed = text.trim();
  if (trimmed === "" || trimmed === "-1") return null;
  if (!/^\d+$/.test(trimmed)) throw new DataError(`lvm report: expected an integer, got "${text}"`);
  return Number(trimmed);
}

/** Percentages: "26.16" (or "26,16" from a non-C locale that slipped through). */
export function percentOrNull(text: string): number | null {
  const trimmed = text.trim().replace(",", ".");
  if (trimmed === "") return null;
  const value = Number(trimmed);
  if (!Number.isFinite(value))
    throw new DataError(`lvm report: expected a percentage, got "${text}"`);
  return value;
}

/** Binary fields print their own name ("merging") when set, "" or "0" when not. */
export function flag(text: string): boolean {
  const trimmed = text.trim();
  return trimmed !== "" && trimmed !== "0" && trimmed !== "-1" && trimmed !== "unknown";
}

/** lv_time with report/time_format="%s" is epoch seconds; older formats are dates. */
export function timeOrNull(text: string): Date | null {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  if (/^\d+$/.test(trimmed)) return new Date(Number(trimmed) * 1000);
  const parsed = Date.parse(trimmed);
  return Number.isNaN(parsed) ? null : new Date(parsed);
}

export function listOf(text: string): string[] {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}
