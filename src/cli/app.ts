// The whole command line in one function: arguments in, text and an exit code out.
// Everything from the outside world comes through Io, so tests run it in-process.
import { DEFAULT_CONFIG_PATH } from "../config/config.ts";
import type { Context, Output } from "../commands/context.ts";
import { ExitCode, RootsnapError, UsageError } from "../errors.ts";
import type { FileSystem } from "../fs.ts";
import { formatArgv, type Runner } from "../lvm/runner.ts";
import { validateSetName } from "../sets/names.ts";
import { HELP, parseCommandLine, type Invocation } from "./args.ts";
import { acquireLock } from "./lock.ts";
import * as render from "./render.ts";
import { rootsnapVersion } from "../version.ts";

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
}

type VerbInvocation = Extract<Invocation, { kind: "verb" }>;

/** Verbs that change LVM, and so run one at a time. */
const CHANGING_VERBS = new Set(["create", "remove", "revert", "status"]);

function outputFor(io: Io, quiet: boolean): Output {
  return {
    note: (message) => {
      if (!quiet) io.stderr(`${message}\n`);
    },
    warn: (message) => {
      io.stderr(`rootsnap: warning: ${message}\n`);
    },
  };
}

/** With -v every command is shown on stderr before it runs. */
function tracing(runner: Runner, io: Io): Runner {
  return (argv, options) => {
    io.stderr(`+ ${formatArgv(argv)}\n`);
    return runner(argv, options);
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
  return {
    runner: call.flags.verbose ? tracing(io.runner, io) : io.runner,
    fs: io.fs,
    clock: () => io.clock(),
    output: outputFor(io, call.flags.quiet),
    dryRun: call.flags.dryRun,
    configPath: call.flags.config ?? DEFAULT_CONFIG_PATH,
    configNamed: call.flags.config !== undefined,
    confirm: confirmer(io, call),
  };
}

function printCommands(io: Io, commands: readonly (readonly string[])[]): void {
  for (const line of render.commandLines(commands)) io.stdout(`${line}\n`);
}

async function runVerb(io: Io, call: VerbInvocation, context: Context): Promise<void> {
  const json = call.flags.json;
  const name = call.args[0] ?? "";
  switch (call.verb) {
    case "list": {
      const { list } = await import("../commands/list.ts");
      const { sets } = await list(context);
      if (json) io.stdout(render.jsonDocument({ sets: sets.map(render.setJson) }));
      else if (sets.length === 0) context.output.note("no snapshot sets");
      else io.stdout(render.setsTable(sets));
      return;
    }
    case "show": {
      const { show } = await import("../commands/show.ts");
      const { set } = await show(context, validateSetName(name));
      io.stdout(json ? render.jsonDocument({ set: render.setJson(set) }) : render.setsTable([set]));
      return;
    }
    case "create": {
      const { create } = await import("../commands/create.ts");
      const result = await create(context, {
        name: call.args[0],
        kind: call.setKind,
        volumes: call.volumes,
        size: call.size,
      });
      if (json) io.stdout(render.createJson(result));
      else if (result.dryRun) printCommands(io, result.commands);
      else {
        io.stdout(`${result.set.name}\n`);
        context.output.note(render.createNote(result));
      }
      return;
    }
    case "remove": {
      const { remove } = await import("../commands/remove.ts");
      const result = await remove(context, validateSetName(name));
      if (json) io.stdout(render.removeJson(result));
      else if (result.dryRun) printCommands(io, result.commands);
      else context.output.note(`removed set ${name}: ${result.removed.join(", ")}`);
      return;
    }
    case "revert": {
      const { revert } = await import("../commands/revert.ts");
      const result = await revert(context, validateSetName(name));
      if (json) io.stdout(render.revertJson(result));
      else if (result.dryRun) printCommands(io, result.commands);
      else {
        io.stdout(render.revertText(result));
        for (const note of render.revertNotes(result)) context.output.note(note);
      }
      return;
    }
    case "status": {
      const { status } = await import("../commands/status.ts");
      const result = await status(context);
      if (json) io.stdout(render.statusJson(result));
      else {
        io.stdout(render.statusText(result));
        if (result.dryRun) printCommands(io, result.commands);
      }
      return;
    }
  }
}

function requireRoot(io: Io, verb: string): void {
  if (io.geteuid() !== 0) {
    throw new RootsnapError(
      ExitCode.notRoot,
      `rootsnap ${verb} needs root privileges to run lvm`,
      `run as root: sudo rootsnap ${verb} ...`,
    );
  }
}

async function dispatch(io: Io, call: VerbInvocation): Promise<void> {
  requireRoot(io, call.verb);
  const context = contextFor(io, call);
  // A dry run changes nothing, so it need not wait for another run.
  const lock =
    CHANGING_VERBS.has(call.verb) && !call.flags.dryRun
      ? acquireLock(io.lockPath, io.pid, (pid) => io.isRunning(pid))
      : undefined;
  try {
    await runVerb(io, call, context);
  } finally {
    lock?.release();
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " / ").trim();
}

function report(io: Io, error: unknown, verbose: boolean): number {
  if (error instanceof RootsnapError) {
    const hint = error.hint === undefined ? "" : ` (hint: ${oneLine(error.hint)})`;
    io.stderr(`rootsnap: error: ${oneLine(error.message)}${hint}\n`);
    return error.exitCode;
  }
  const detail =
    error instanceof Error
      ? verbose
        ? (error.stack ?? error.message)
        : error.message
      : String(error);
  io.stderr(
    `rootsnap: internal error: ${verbose ? detail : oneLine(detail)} (hint: run again with -v and report it)\n`,
  );
  return ExitCode.internal;
}

export async function main(argv: readonly string[], io: Io): Promise<number> {
  let call: Invocation | undefined;
  try {
    call = parseCommandLine(argv);
    if (call.kind === "help") io.stdout(HELP);
    else if (call.kind === "version") io.stdout(`rootsnap ${rootsnapVersion()}\n`);
    else await dispatch(io, call);
    return ExitCode.ok;
  } catch (error) {
    return report(io, error, call?.kind === "verb" && call.flags.verbose);
  }
}
