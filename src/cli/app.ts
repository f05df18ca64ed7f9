// The whole command line in one function: arguments in, text and an exit code out.
// Everything from the outside world comes through Io, so tests run it in-process.
import { DEFAULT_CONFIG_PATH } from "../system/paths.ts";
import type { Context, Output } from "../system/context.ts";
import { ConfigError, ExitCode, oneLine, RootsnapError, UsageError } from "../system/errors.ts";
import { Effects } from "../system/effects.ts";
import { nodeBootFiles, type BootFiles } from "../system/files.ts";
import type { FileSystem } from "../system/fs.ts";
import { formatArgv, run, type Runner } from "../system/runner.ts";
import { parseCommandLine, type Invocation } from "./args.ts";
import { errorJson, versionJson } from "./json.ts";
import { acquireLock, DEFAULT_LOCK_WAIT_SECONDS, type Lock } from "../system/lock.ts";
import { sleep } from "../system/sleep.ts";
import { rootsnapVersion } from "../system/version.ts";
import { VERBS, type VerbEnv, type VerbLoader } from "./verbs.ts";

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
  geteuid(): number;
  readonly stdinIsTTY: boolean;
  /** Shows the question on the terminal and returns the line typed. */
  ask(question: string): Promise<string>;
  readonly runner: Runner;
  readonly fs: FileSystem;
  clock(): Date;
  readonly lockPath: string;
  readonly pid: number;
  isRunning(pid: number): boolean;
  /** Waits; tests pass one that returns at once. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Where boot integration reads and writes files; without it /boot copies are skipped. */
  readonly bootFiles?: BootFiles;
  /** The argv prefix that runs this rootsnap again (Node and the script), for units and hooks. */
  readonly program?: () => readonly string[];
  /** Aborted by the first SIGINT/SIGTERM: long verbs stop and clean up. */
  readonly signal?: AbortSignal;
  /** The descriptor of stdout, for programs that write the data there themselves. */
  readonly stdoutFd?: number;
  readonly stdoutIsTTY?: boolean;
  /** The terminal's width when stdout is one, asked only when a table is cut to fit. */
  readonly stdoutColumns?: () => number | undefined;
  readonly stderrIsTTY?: boolean;
  /** stderr is the journal's stream for this process (JOURNAL_STREAM names it). */
  readonly stderrIsJournal?: boolean;
  /** Imports a verb's module; tests hand in one that stands in for it. */
  readonly loadVerb?: VerbLoader;
}

type VerbInvocation = Extract<Invocation, { kind: "verb" }>;

/** Under systemd, stderr goes to the journal: a <N> prefix sets each line's priority. */
function priority(io: Io, level: 3 | 4 | 6): string {
  return io.stderrIsJournal === true ? `<${level}>` : "";
}

function outputFor(io: Io, quiet: boolean): Output {
  return {
    note: (message) => {
      if (!quiet) io.stderr(`${priority(io, 6)}${message}\n`);
    },
    warn: (message) => {
      io.stderr(`${priority(io, 4)}rootsnap: warning: ${message}\n`);
    },
  };
}

function confirmer(io: Io, call: VerbInvocation): (question: string) => Promise<boolean> {
  return async (question) => {
    if (call.flags.yes || call.flags.dryRun) return true;
    if (!io.stdinIsTTY) {
      throw new UsageError(
        `${call.verb} asks for confirmation, and stdin is no terminal`,
        `add --yes to ${call.verb} without asking`,
      );
    }
    return /^y(es)?$/i.test((await io.ask(`${question} [y/N] `)).trim());
  };
}

function contextFor(io: Io, call: VerbInvocation): Context {
  // One gate per run: every change is made or listed there, and with -v every program shown.
  const effects = new Effects({
    runner: io.runner,
    files: io.bootFiles ?? nodeBootFiles,
    dryRun: call.flags.dryRun,
    trace: call.flags.verbose
      ? (argv) => {
          io.stderr(`+ ${formatArgv(argv)}\n`);
        }
      : undefined,
  });
  return {
    runner: effects.runner,
    effects,
    fs: io.fs,
    clock: () => io.clock(),
    output: outputFor(io, call.flags.quiet),
    dryRun: call.flags.dryRun,
    configPath: call.flags.config ?? DEFAULT_CONFIG_PATH,
    configNamed: call.flags.config !== undefined,
    confirm: confirmer(io, call),
    bootFiles: io.bootFiles,
    sleep: io.sleep ?? sleep,
  };
}

function requireRoot(io: Io, verb: string): void {
  if (io.geteuid() !== 0) {
    throw new RootsnapError(
      ExitCode.notRoot,
      `rootsnap ${verb} needs root privileges to run lvm`,
      `run it as root, for example: su -c 'rootsnap ${verb} ...'`,
    );
  }
}

/** rootsnap's lock, waiting --wait seconds (default 60, boot-finish 25 min) for a run that holds it. */
function takeLock(io: Io, call: VerbInvocation, context: Context): Promise<Lock> {
  const seconds =
    call.flags.waitSeconds ?? VERBS[call.verb].lockWaitSeconds ?? DEFAULT_LOCK_WAIT_SECONDS;
  return acquireLock(
    io.lockPath,
    io.pid,
    {
      ms: seconds * 1000,
      sleep: context.sleep ?? sleep,
      onWait: (holder) => {
        context.output.note(
          `rootsnap: ${holder} is running; waiting up to ${seconds} s for it to finish`,
        );
      },
    },
    context.effects.traced(run),
  );
}

/** The lock without waiting, or who holds it: watch extends while a backup holds the lock. */
function lockNow(io: Io, context: Context): Promise<Lock | string> {
  return acquireLock(io.lockPath, io.pid, undefined, context.effects.traced(run)).catch(
    (error: unknown) => {
      if (error instanceof RootsnapError && error.exitCode === ExitCode.locked)
        return error.message;
      throw error;
    },
  );
}

/**
 * A --config FILE that does not load is exit 78 for every verb, before it does anything; a
 * default file with a mistake is a warning for the verbs that do not read it (the others
 * refuse it themselves).
 */
async function checkConfig(call: VerbInvocation, context: Context): Promise<void> {
  const reads = (VERBS[call.verb].globals as readonly string[]).includes("config");
  if (call.flags.config === undefined && reads) return;
  const { loadConfig } = await import("../config/config.ts");
  try {
    await loadConfig(context.fs, context.configPath, call.flags.config !== undefined);
  } catch (error) {
    if (call.flags.config !== undefined || !(error instanceof ConfigError)) throw error;
    context.output.warn(
      `${oneLine(error.message)} (${call.verb} does not read it; the verbs that do refuse it until it is fixed)`,
    );
  }
}

async function dispatch(io: Io, call: VerbInvocation): Promise<void> {
  const verb = VERBS[call.verb];
  if (verb.root) requireRoot(io, call.verb);
  const context = contextFor(io, call);
  await checkConfig(call, context);
  const env: VerbEnv = {
    io,
    context,
    verb: call.verb,
    args: call.args,
    options: call.options,
    flags: call.flags,
    lock: () => takeLock(io, call, context),
    tryLock: () => lockNow(io, context),
    requireRoot: () => {
      requireRoot(io, call.verb);
    },
  };
  await verb.prepare(env);
  // A dry run changes nothing, so it need not wait for another run; nor does a verify.
  const lock = verb.takesLock(call.options, call.flags)
    ? await takeLock(io, call, context)
    : undefined;
  try {
    await verb.execute(env, io.loadVerb);
  } finally {
    lock?.release();
  }
}

function report(io: Io, error: unknown, verbose: boolean, asJson: boolean): number {
  if (error instanceof RootsnapError) {
    const hint = error.hint === undefined ? "" : ` (hint: ${oneLine(error.hint)})`;
    io.stderr(`${priority(io, 3)}rootsnap: error: ${oneLine(error.message)}${hint}\n`);
    if (asJson)
      io.stdout(
        errorJson(
          error.exitCode,
          oneLine(error.message),
          error.hint === undefined ? undefined : oneLine(error.hint),
        ),
      );
    return error.exitCode;
  }
  const detail =
    error instanceof Error
      ? verbose
        ? (error.stack ?? error.message)
        : error.message
      : String(error);
  const hint = "run again with -v and report it";
  io.stderr(`rootsnap: internal error: ${verbose ? detail : oneLine(detail)} (hint: ${hint})\n`);
  if (asJson) io.stdout(errorJson(ExitCode.internal, oneLine(detail), hint));
  return ExitCode.internal;
}

function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).includes("--json");
}

export async function main(argv: readonly string[], given: Io): Promise<number> {
  let call: Invocation | undefined;
  // With --json, stdout carries one document: a verb that printed its own and then failed
  // (doctor with a failed check) gets no error document after it.
  let printed = false;
  const io: Io = {
    ...given,
    stdout: (text: string) => {
      printed = true;
      given.stdout(text);
    },
  };
  try {
    call = parseCommandLine(argv);
    if (call.kind === "help") {
      // The long help is loaded only when asked for: it is most of the bundle's text.
      const { globalHelp, verbHelp } = await import("./help.ts");
      io.stdout(call.verb === undefined ? globalHelp() : verbHelp(call.verb));
    } else if (call.kind === "version")
      io.stdout(call.json ? versionJson(rootsnapVersion()) : `rootsnap ${rootsnapVersion()}\n`);
    else await dispatch(io, call);
    return ExitCode.ok;
  } catch (error) {
    // A command line that did not parse still asked for JSON if --json is among its options.
    const asJson = !printed && (call?.kind === "verb" ? call.flags.json : wantsJson(argv));
    return report(io, error, call?.kind === "verb" && call.flags.verbose, asJson);
  }
}
