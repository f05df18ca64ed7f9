// Programs chained stdout to stdin by the kernel (as a shell pipeline does), with only
// the last stage's output passing through rootsnap, and every stage's end observed.
import type { ChildProcess } from "node:child_process";
import { closeSync, constants, openSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { Starter } from "../system/effects.ts";
import { describeFailure, type ProgramEnd } from "../system/failure.ts";
import { run, start, type Runner } from "../system/runner.ts";

export interface StageEnd extends ProgramEnd {
  readonly argv: readonly string[];
  readonly code: number | null;
  readonly signal: string | null;
  /** The last lines the stage wrote to stderr. */
  readonly stderr: string;
  /** The stage could not be started (ENOENT: not installed). */
  readonly notFound: boolean;
  /** rootsnap ended it (Pipeline.kill: a cancellation, a stop). */
  readonly cancelled: boolean;
}

let guard: Promise<readonly string[]> | undefined;

/**
 * The stages do not outlive rootsnap, not even a kill -9 of it: they run under
 * `setpriv --pdeathsig KILL` (util-linux 2.33+), so tar stops reading the mounted tree and
 * nothing goes on writing an archive no one will finish. Empty where setpriv lacks it.
 */
export function dieWithRootsnap(runner: Runner = run): Promise<readonly string[]> {
  const prefix = ["setpriv", "--pdeathsig", "KILL", "--"];
  guard ??= runner([...prefix, "true"]).then(
    () => prefix,
    () => [],
  );
  return guard;
}

export interface PipelineOptions {
  /** Put before every stage's argv (dieWithRootsnap()); messages name the stage itself. */
  readonly prefix?: readonly string[];
  /** "pipe" to feed the first stage from rootsnap. */
  readonly stdin?: "ignore" | "pipe";
  /** The descriptor the last stage writes to; without it, rootsnap reads `output`. */
  readonly stdout?: number;
  /**
   * FIFOs, one per join, that carry each stage's output to the next as a kernel pipe.
   * Without them Node joins the stages with socket pairs, which cost the kernel more per
   * write than a pipe does: worth it only where little passes between the stages.
   */
  readonly joins?: readonly string[];
  /** Starts each stage (the run's Effects.start, which traces it); start() by default. */
  readonly start?: Starter;
}

export interface Pipeline {
  readonly children: readonly ChildProcess[];
  /** The first stage's stdin, when asked for. */
  readonly input: NodeJS.WritableStream | null;
  /** The last stage's stdout, when it is not a descriptor given in the options. */
  readonly output: Readable | null;
  /** Resolves once every stage has exited. */
  readonly ended: Promise<StageEnd[]>;
  /** Ends every stage still running. */
  kill(signal?: NodeJS.Signals): void;
}

const KEPT_STDERR_LINES = 20;

function watchStderr(child: ChildProcess): () => string {
  const kept: string[] = [];
  let partial = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (text: string) => {
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      kept.push(line);
      if (kept.length > KEPT_STDERR_LINES) kept.shift();
    }
  });
  return () => [...kept, partial].filter((line) => line.trim() !== "").join("\n");
}

function endOf(
  argv: readonly string[],
  child: ChildProcess,
  stderr: () => string,
  killed: () => boolean,
) {
  return new Promise<StageEnd>((resolve) => {
    let notFound = false;
    child.on("error", (error: NodeJS.ErrnoException) => {
      notFound = error.code === "ENOENT";
      // A failed spawn emits no "close" when it never started.
      if (child.pid === undefined)
        resolve({ argv, code: null, signal: null, stderr: stderr(), notFound, cancelled: false });
    });
    child.on("close", (code, signal) => {
      const cancelled = code === null && killed();
      resolve({ argv, code, signal, stderr: stderr(), notFound, cancelled });
    });
  });
}

interface PipeEnds {
  readonly read: number;
  readonly write: number;
}

/**
 * Both ends of a FIFO, opened blocking as a pipe's are: opening it read-write first (which
 * never waits on Linux) gives each end its peer, so neither open waits for the other.
 */
function openPipe(fifo: string): PipeEnds {
  const both = openSync(fifo, constants.O_RDWR);
  try {
    const read = openSync(fifo, constants.O_RDONLY);
    try {
      return { read, write: openSync(fifo, constants.O_WRONLY) };
    } catch (error) {
      closeSync(read);
      throw error;
    }
  } finally {
    closeSync(both);
  }
}

export function startPipeline(
  stages: readonly (readonly string[])[],
  options: PipelineOptions = {},
): Pipeline {
  const children: ChildProcess[] = [];
  const ends: Promise<StageEnd>[] = [];
  const pipes: PipeEnds[] = [];
  let previous: Readable | undefined;
  let killed = false;
  const starter = options.start ?? start;
  try {
    for (const fifo of options.joins?.slice(0, stages.length - 1) ?? []) pipes.push(openPipe(fifo));
    stages.forEach((argv, index) => {
      const stdin = pipes[index - 1]?.read ?? previous ?? options.stdin ?? "ignore";
      const last = index === stages.length - 1;
      const stdout =
        last && options.stdout !== undefined ? options.stdout : (pipes[index]?.write ?? "pipe");
      const child = starter([...(options.prefix ?? []), ...argv], {
        stdin,
        stdout,
        output: "pipe",
      });
      // The next stage holds the pipe now; rootsnap's copy would keep a dead reader's writer blocked.
      previous?.destroy();
      const stderr = watchStderr(child);
      ends.push(endOf(argv, child, stderr, () => killed));
      children.push(child);
      previous = child.stdout ?? undefined;
    });
  } finally {
    // The stages hold the FIFOs' ends now; rootsnap's would keep a reader from its EOF.
    for (const pipe of pipes) {
      closeSync(pipe.read);
      closeSync(pipe.write);
    }
  }
  if (children.length === 0) throw new Error("startPipeline: no stages");
  return {
    children,
    input: children[0]?.stdin ?? null,
    output: previous ?? null,
    ended: Promise.all(ends),
    kill(signal = "SIGTERM") {
      killed = true;
      for (const child of children) {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      }
    },
  };
}

/** How a stage ended, for messages: "tar -x ... failed with exit code 2: tar: x: Cannot open". */
export function describeEnd(end: StageEnd): string {
  return describeFailure(end, end.stderr.split("\n"));
}

/** Bytes a process has read so far (/proc/PID/io rchar); 0 when it has gone. */
export async function bytesRead(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  try {
    return parseRchar(await readFile(`/proc/${pid}/io`, "utf8"));
  } catch {
    return 0;
  }
}

export function parseRchar(text: string): number {
  const match = /^rchar:\s*(\d+)/m.exec(text);
  return match === null ? 0 : Number(match[1]);
}
