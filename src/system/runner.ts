// The one place where rootsnap starts other programs: argv arrays only, LC_ALL=C,
// stdin closed, a timeout, and errors that carry argv, exit code and stderr.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import type { Readable } from "node:stream";
import { childrenApart } from "./apart.ts";
import { describeFailure, type ProgramEnd } from "./failure.ts";

export { formatArgv, shellQuote } from "./failure.ts";

export interface RunOptions {
  /** Milliseconds before the process is killed (SIGTERM, then SIGKILL 5 s later). */
  timeoutMs?: number;
  /** Extra environment; LC_ALL=C is always set. */
  env?: Record<string, string>;
  /** Exit codes that count as success (default: only 0). */
  okCodes?: readonly number[];
  cwd?: string;
  /** Bytes fed to stdin; without it stdin is closed (/dev/null). */
  input?: string | Buffer;
  /** Ends the process (SIGTERM) when aborted; the promise then rejects. */
  signal?: AbortSignal;
  /**
   * Nothing else in rootsnap has to go on while the command runs (a verb's one report):
   * it runs synchronously, which starts and collects it faster, and signals reach
   * rootsnap's handlers once it has ended. At the timeout it gets SIGTERM only. Ignored
   * with a signal, which needs the asynchronous run.
   */
  blocking?: boolean;
  /** Descriptors handed to the child as its fd 3, 4, ... (flock takes rootsnap's lock file). */
  extraFds?: readonly number[];
}

export interface RunResult {
  argv: readonly string[];
  code: number;
  stdout: string;
  stderr: string;
}

export type Runner = (argv: readonly string[], options?: RunOptions) => Promise<RunResult>;

export const DEFAULT_TIMEOUT_MS = 120_000;

export class CommandError extends Error implements ProgramEnd {
  readonly argv: readonly string[];
  readonly code: number | null;
  readonly signal: string | null;
  readonly stderr: string;
  readonly stdout: string;
  readonly timedOut: boolean;
  /** The time limit it ran past, when it timed out. */
  readonly timedOutAfterMs: number | undefined;
  /** rootsnap's AbortSignal ended it. */
  readonly cancelled: boolean;

  constructor(init: {
    argv: readonly string[];
    code: number | null;
    signal: string | null;
    stdout: string;
    stderr: string;
    timedOut: boolean;
    timeoutMs?: number;
    cancelled?: boolean;
    cause?: unknown;
  }) {
    super("", { cause: init.cause });
    this.name = "CommandError";
    this.argv = init.argv;
    this.code = init.code;
    this.signal = init.signal;
    this.stdout = init.stdout;
    this.stderr = init.stderr;
    this.timedOut = init.timedOut;
    this.timedOutAfterMs = init.timedOut ? (init.timeoutMs ?? DEFAULT_TIMEOUT_MS) : undefined;
    this.cancelled = init.cancelled === true && !init.timedOut;
    this.message = describeFailure(this, this.stderr.split("\n"));
  }

  /** True when the program itself could not be started (not installed). */
  get notFound(): boolean {
    return (this.cause as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
  }
}

/** stdin closed unless fed, stdout and stderr collected, extra descriptors from fd 3 on. */
function stdioOf(options: RunOptions): ("ignore" | "pipe" | number)[] {
  return [
    options.input === undefined ? "ignore" : "pipe",
    "pipe",
    "pipe",
    ...(options.extraFds ?? []),
  ];
}

function childEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  return { ...process.env, ...extra, LC_ALL: "C", LANG: "C" };
}

/** Runs argv to completion and collects its output. */
export const run: Runner = (argv, options = {}) => {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error("run: empty argv"));
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const okCodes = options.okCodes ?? [0];
  if (options.blocking === true && options.signal === undefined) {
    return runBlocking(argv, file, args, timeoutMs, okCodes, options);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: childEnv(options.env),
      stdio: stdioOf(options),
      detached: childrenApart(),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    // Infinity: no time limit (a reader that lasts as long as the pipeline it reads).
    const timer = Number.isFinite(timeoutMs)
      ? setTimeout(() => {
          timedOut = true;
          child.kill("SIGTERM");
          killTimer = setTimeout(() => child.kill("SIGKILL"), 5000);
        }, timeoutMs)
      : undefined;
    const abort = (): void => {
      child.kill("SIGTERM");
    };
    options.signal?.addEventListener("abort", abort);
    if (options.signal?.aborted === true) abort();
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    if (options.input !== undefined) child.stdin?.end(options.input);
    const fail = (code: number | null, signal: string | null, cause?: unknown): void => {
      reject(
        new CommandError({
          argv,
          code,
          signal,
          timedOut,
          timeoutMs,
          cancelled: options.signal?.aborted === true,
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: Buffer.concat(err).toString("utf8"),
          cause,
        }),
      );
    };
    child.on("error", (e) => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", abort);
      fail(null, null, e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      options.signal?.removeEventListener("abort", abort);
      if (code === null || timedOut || !okCodes.includes(code)) {
        fail(code, signal);
        return;
      }
      resolve({
        argv,
        code,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
  });
};

/** run() without the event loop: no stream objects, no timers, one wait for the child. */
function runBlocking(
  argv: readonly string[],
  file: string,
  args: string[],
  timeoutMs: number,
  okCodes: readonly number[],
  options: RunOptions,
): Promise<RunResult> {
  const result = spawnSync(file, args, {
    cwd: options.cwd,
    env: childEnv(options.env),
    stdio: stdioOf(options),
    input: options.input,
    timeout: Number.isFinite(timeoutMs) ? timeoutMs : undefined,
    killSignal: "SIGTERM",
    maxBuffer: Infinity,
    // spawnSync honours it as spawn does, though @types/node lists it for spawn only.
    ...({ detached: childrenApart() } as object),
  });
  // Both are null when the program could not be started.
  const stdout = (result.stdout as Buffer | null)?.toString("utf8") ?? "";
  const stderr = (result.stderr as Buffer | null)?.toString("utf8") ?? "";
  const error: NodeJS.ErrnoException | undefined = result.error;
  const timedOut = error?.code === "ETIMEDOUT";
  const code = result.status;
  return signalsDelivered().then(() => {
    if (error !== undefined || code === null || !okCodes.includes(code)) {
      throw new CommandError({
        argv,
        code,
        signal: result.signal,
        stdout,
        stderr,
        timedOut,
        timeoutMs,
        // As run()'s "error" event: why it could not be started (not installed, ...).
        cause: timedOut ? undefined : error,
      });
    }
    return { argv, code, stdout, stderr };
  });
}

/**
 * A signal that came during a blocking run waits in the event loop until it next polls:
 * two turns (the first may be past its poll already) hand it to the handlers before the
 * result goes on, as it would have reached them during run().
 */
function signalsDelivered(): Promise<void> {
  return new Promise((resolve) => {
    setImmediate(() => {
      setImmediate(resolve);
    });
  });
}

export interface StartOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Where the child's stdout and stderr go: "inherit", "ignore" or "pipe". */
  output?: "inherit" | "ignore" | "pipe";
  /** stdout alone, overriding output ("pipe" to the next stage, or a file descriptor). */
  stdout?: "inherit" | "ignore" | "pipe" | number;
  /**
   * Closed by default; "pipe" to feed it, the previous stage's stdout to read it directly,
   * or a file descriptor (the read end of a pipe).
   */
  stdin?: "ignore" | "pipe" | Readable | number;
}

/**
 * Starts a long-running process (a pipeline stage, a virtual machine) under the same
 * rules as run(): argv only, LC_ALL=C, stdin closed unless asked for.
 */
export function start(argv: readonly string[], options: StartOptions = {}): ChildProcess {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error("start: empty argv");
  const output = options.output ?? "pipe";
  return spawn(file, args, {
    cwd: options.cwd,
    env: childEnv(options.env),
    stdio: [options.stdin ?? "ignore", options.stdout ?? output, output],
    detached: childrenApart(),
  });
}
