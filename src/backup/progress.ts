// What a running backup or restore reports, and the two ways it is shown: a bar on a
// terminal, a line every few seconds elsewhere (journal, pipe).
import { formatBytes } from "../sets/plan.ts";

export interface Progress {
  readonly verb: "backup" | "restore" | "verify";
  /** Bytes read so far (tar from the snapshot, or the archive). */
  readonly done: number;
  /** What there is to read: the snapshots' used space, or the archive's size. */
  readonly total: number;
  readonly elapsedMs: number;
  /** The fullest snapshot's fill, percent, while a backup runs. */
  readonly fillPercent: number | null;
}

export type ProgressListener = (progress: Progress) => void;

export const FILL_WARN_PERCENT = 80;
export const FILL_STOP_PERCENT = 95;

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const two = (n: number): string => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

export interface Figures {
  readonly percent: number;
  readonly rate: number;
  readonly etaSeconds: number | null;
}

/** Percent (capped below 100 until the end: used space is only an estimate), rate, ETA. */
export function figures(p: Progress): Figures {
  const percent = p.total > 0 ? Math.min(99, (100 * p.done) / p.total) : 0;
  const rate = p.elapsedMs > 0 ? (p.done * 1000) / p.elapsedMs : 0;
  const left = Math.max(0, p.total - p.done);
  return { percent, rate, etaSeconds: rate > 0 ? left / rate : null };
}

function tail(p: Progress, f: Figures): string {
  const eta = f.etaSeconds === null ? "--:--" : clock(f.etaSeconds);
  const fill = p.fillPercent === null ? "" : `  snapshot ${p.fillPercent.toFixed(0)}% full`;
  return `${formatBytes(f.rate)}/s  ETA ${eta}${fill}`;
}

export function progressBar(p: Progress, width = 24): string {
  const f = figures(p);
  const filled = Math.round((f.percent / 100) * width);
  const bar = `${"#".repeat(filled)}${"-".repeat(width - filled)}`;
  return `${p.verb} [${bar}] ${formatBytes(p.done)} / ${formatBytes(p.total)}  ${tail(p, f)}`;
}

export function progressLine(p: Progress): string {
  const f = figures(p);
  return `${p.verb}: ${formatBytes(p.done)} of ${formatBytes(p.total)} (${f.percent.toFixed(0)}%) after ${clock(p.elapsedMs / 1000)}, ${tail(p, f)}`;
}
