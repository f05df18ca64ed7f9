// Runs tar (and zstd) over a mounted tree into a sink, while watching progress, the
// snapshots' fill level and cancellation; stops everything cleanly on any of them.
import type { Programs } from "../system/effects.ts";
import { run, start } from "../system/runner.ts";
import type { ArchiveSink } from "./archive.ts";
import {
  bytesRead,
  describeEnd,
  dieWithRootsnap,
  startPipeline,
  type StageEnd,
} from "./pipeline.ts";
import { FILL_STOP_PERCENT, FILL_WARN_PERCENT, type ProgressListener } from "./progress.ts";
import { openTap } from "./tap.ts";

export interface Fill {
  /** "vg/lv" of what fills: the snapshot, or a thin snapshot's pool. */
  readonly volume: string;
  readonly snapshot: string;
  readonly percent: number | null;
  readonly invalid: boolean;
}

export interface ArchiveJob {
  /** tar's argv, given the file its listing goes to (--index-file). */
  readonly tar: (indexFile: string) => readonly string[];
  /** The compressor's argv, if any; a `tee` into the checksum follows it. */
  readonly compressor?: readonly string[];
  readonly sink: ArchiveSink;
  /** Bytes tar is expected to read: the snapshots' used space. */
  readonly total: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressListener;
  readonly readFill: () => Promise<Fill[]>;
  readonly warn: (message: string) => void;
  readonly clock: () => number;
  readonly intervalMs?: number;
  /** How the stages and the checksum's readers start: the run's Effects, which traces them. */
  readonly programs?: Programs;
}

export type Stop =
  | { readonly kind: "cancelled"; readonly reason: string }
  | { readonly kind: "full"; readonly fill: Fill }
  | { readonly kind: "invalid"; readonly fill: Fill }
  | { readonly kind: "checksum"; readonly error: unknown };

export interface ArchiveOutcome {
  readonly stop: Stop | undefined;
  /** tar's, the compressor's and the tee's ends, in that order. */
  readonly ends: readonly StageEnd[];
  readonly files: number;
  readonly bytesRead: number;
  readonly elapsedMs: number;
  /** The archive's checksum and size; empty and 0 when it did not complete. */
  readonly sha256: string;
  readonly bytes: number;
}

/** What a fill reading asks for: nothing, a warning (once per volume), or a stop. */
export function judgeFill(fills: readonly Fill[], warned: Set<string>): Stop | string[] {
  const invalid = fills.find((fill) => fill.invalid);
  if (invalid !== undefined) return { kind: "invalid", fill: invalid };
  const full = fills.find((fill) => (fill.percent ?? 0) >= FILL_STOP_PERCENT);
  if (full !== undefined) return { kind: "full", fill: full };
  const warnings: string[] = [];
  for (const fill of fills) {
    if ((fill.percent ?? 0) < FILL_WARN_PERCENT || warned.has(fill.volume)) continue;
    warned.add(fill.volume);
    warnings.push(
      `${fill.volume} is ${fill.percent?.toFixed(0)}% full; the backup stops at ${FILL_STOP_PERCENT}% before the snapshot becomes invalid`,
    );
  }
  return warnings;
}

/**
 * Milliseconds until the next fill reading (each one starts a program): half the time the
 * fullest snapshot would take to reach the stop level at its last rate, between 1 s and
 * 5 s (2 s once it is half full, every second from the warning level on).
 */
export function nextFillDelayMs(percent: number, percentPerMs: number): number {
  const longest = percent < 50 ? 5000 : percent < FILL_WARN_PERCENT ? 2000 : 1000;
  if (!(percentPerMs > 0)) return longest;
  const untilStop = (FILL_STOP_PERCENT - percent) / percentPerMs;
  return Math.min(longest, Math.max(1000, untilStop / 2));
}

/** What a cancellation says it was: the signal's name. */
export function cancelReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return typeof reason === "string" ? reason : "interrupted";
}

export async function runArchive(job: ArchiveJob): Promise<ArchiveOutcome> {
  // The archive passes tar -> compressor -> tee through kernel pipes (FIFOs in the tap's
  // directory), not the socket pairs Node joins children with: tar writes 10 KiB records,
  // and through a socket pair each costs the kernel so much more that the backup of the
  // bench's tree took 1.2-1.5 times the CPU of the same stages joined by pipes.
  const joins = job.compressor ? 2 : 1;
  const programs = job.programs ?? { runner: run, start };
  const tap = await openTap((await job.sink.size()) === undefined, joins, programs.runner);
  const stages = [job.tar(tap.listFifo), ...(job.compressor ? [job.compressor] : []), tap.teeArgv];
  const pipeline = startPipeline(stages, {
    stdout: job.sink.fd,
    prefix: await dieWithRootsnap(programs.runner),
    joins: tap.joins,
    start: programs.start,
  });
  const started = job.clock();
  const tarPid = pipeline.children[0]?.pid;
  let stop: Stop | undefined;
  let lastRead = 0;
  const halt = (why: Stop): void => {
    stop ??= why;
    pipeline.kill();
    tap.kill();
  };
  const onAbort = (): void => {
    if (job.signal) halt({ kind: "cancelled", reason: cancelReason(job.signal) });
  };
  if (job.signal?.aborted === true) onAbort();
  job.signal?.addEventListener("abort", onAbort);

  const warned = new Set<string>();
  let fillPercent: number | null = null;
  let fillReadAt = job.clock();
  let nextFillAt = fillReadAt;
  let polling = false;
  const readFill = async (): Promise<void> => {
    const fills = await job.readFill().catch(() => [] as Fill[]);
    const now = job.clock();
    const percent = Math.max(0, ...fills.map((fill) => fill.percent ?? 0));
    const rate = fillPercent === null ? 0 : (percent - fillPercent) / Math.max(1, now - fillReadAt);
    fillPercent = percent;
    fillReadAt = now;
    nextFillAt = now + nextFillDelayMs(percent, rate);
    const verdict = judgeFill(fills, warned);
    if (Array.isArray(verdict))
      verdict.forEach((message) => {
        job.warn(message);
      });
    else halt(verdict);
  };
  const tick = async (): Promise<void> => {
    if (polling) return;
    polling = true;
    try {
      lastRead = Math.max(lastRead, await bytesRead(tarPid));
      if (job.clock() >= nextFillAt) await readFill();
      job.onProgress?.({
        verb: "backup",
        done: lastRead,
        total: job.total,
        elapsedMs: job.clock() - started,
        fillPercent,
      });
    } finally {
      polling = false;
    }
  };
  const timer = setInterval(() => void tick(), job.intervalMs ?? 1000);
  // A checksum program that fails leaves the tee waiting on its FIFO: stop everything.
  // Its failure counts unless rootsnap ended it itself, after a stage had failed.
  let tapEnded = false;
  const summed = tap.result().catch((error: unknown) => {
    if (!tapEnded) halt({ kind: "checksum", error });
    return undefined;
  });
  try {
    const ends = await pipeline.ended;
    // A tee that failed before it opened the FIFOs leaves their readers waiting.
    if (failedStage(ends) !== undefined || stop !== undefined) {
      tapEnded = true;
      tap.kill();
    }
    const sum = await summed;
    const bytes = sum?.bytes ?? (await job.sink.size()) ?? 0;
    return {
      stop,
      ends,
      files: sum?.files ?? 0,
      bytesRead: lastRead,
      elapsedMs: job.clock() - started,
      sha256: sum?.sha256 ?? "",
      bytes,
    };
  } finally {
    clearInterval(timer);
    job.signal?.removeEventListener("abort", onAbort);
    await tap.close();
  }
}

/** The first stage that failed, as tar's exit codes mean it: 1 is only a warning. */
export function failedStage(ends: readonly StageEnd[]): StageEnd | undefined {
  return ends.find((end, index) => {
    if (end.code === 0) return false;
    return !(index === 0 && end.argv[0] === "tar" && end.code === 1);
  });
}

export function stageMessage(end: StageEnd): string {
  return describeEnd(end);
}
