// The whole command line in one function: arguments in, text and an exit code out.
// Everything from the outside world comes through Io, so tests run it in-process.
import { dirname } from "node:path";
import { DEFAULT_CONFIG_PATH } from "../config/config.ts";
import type { Context, Output } from "../system/context.ts";
import { ExitCode, oneLine, RootsnapError, UsageError } from "../system/errors.ts";
import type { BootFiles } from "../system/files.ts";
import type { FileSystem } from "../system/fs.ts";
import { formatArgv, type Runner } from "../system/runner.ts";
import { validateSetName } from "../sets/names.ts";
import { HELP, parseCommandLine, type Invocation } from "./args.ts";
import {
  acquireLock,
  BOOT_FINISH_LOCK_WAIT_SECONDS,
  DEFAULT_LOCK_WAIT_SECONDS,
  type Lock,
} from "../system/lock.ts";
import * as render from "./render.ts";
import { sleep } from "../system/sleep.ts";
import { rootsnapVersion } from "../system/version.ts";

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
  /** The rootsnap program the boot-time units run. */
  readonly executable?: string;
  /** Aborted by the first SIGINT/SIGTERM: long verbs stop and clean up. */
  readonly signal?: AbortSignal;
  /** The descriptor of stdout, for programs that write the data there themselves. */
  readonly stdoutFd?: number;
  readonly stdoutIsTTY?: boolean;
  readonly stderrIsTTY?: boolean;
}

type VerbInvocation = Extract<Invocation, { kind: "verb" }>;

/** Verbs that change LVM, and so run one at a time. */
const CHANGING_VERBS = new Set([
  "setup",
  "uninstall",
  "next-boot",
  "boot-finish",
  "create",
  "remove",
  "revert",
  "repair",
  "mount",
  "umount",
  "backup",
  "prune",
]);

/** Under systemd, stderr goes to the journal: a <N> prefix sets each line's priority. */
function priority(io: Io, level: 3 | 4 | 6): string {
  return io.env.JOURNAL_STREAM ? `<${level}>` : "";
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
    bootFiles: io.bootFiles,
    sleep: io.sleep ?? sleep,
  };
}

function printCommands(io: Io, commands: readonly (readonly string[])[]): void {
  for (const line of render.commandLines(commands)) io.stdout(`${line}\n`);
}

async function runVerb(io: Io, call: VerbInvocation, context: Context): Promise<void> {
  const json = call.flags.json;
  const name = call.args[0] ?? "";
  if (BOOT_VERBS.has(call.verb)) {
    await runBootVerb(io, call, context);
    return;
  }
  if (call.verb === "prune" || call.verb === "watch" || call.verb === "hook") {
    await runLifecycleVerb(io, call, context);
    return;
  }
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
    case "mount":
    case "umount":
      return runMountVerb(io, call, context);
    case "backup":
    case "restore":
      return runArchiveVerb(io, call, context);
    case "status": {
      const { status } = await import("../commands/status.ts");
      const result = await status(context);
      io.stdout(json ? render.statusJson(result) : render.statusText(result));
      return;
    }
    case "repair": {
      const { repair } = await import("../commands/repair.ts");
      const result = await repair(context);
      for (const warning of result.warnings) context.output.warn(warning);
      if (json) io.stdout(render.repairJson(result));
      else if (result.dryRun) printCommands(io, result.commands);
      else for (const note of render.repairNotes(result)) context.output.note(note);
      return;
    }
  }
}

async function runLifecycleVerb(io: Io, call: VerbInvocation, context: Context): Promise<void> {
  const json = call.flags.json;
  if (call.verb === "prune") {
    const { prune } = await import("../commands/prune.ts");
    const result = await prune(context);
    if (json) io.stdout(render.pruneJson(result));
    else if (result.dryRun) printCommands(io, result.commands);
    else io.stdout(render.pruneText(result));
    return;
  }
  if (call.verb === "hook") {
    const { hook } = await import("../commands/hook.ts");
    const manager = call.args[0];
    if (manager !== "apt" && manager !== "pacman" && manager !== "dnf") {
      throw new UsageError(
        `unknown package manager ${JSON.stringify(manager)}`,
        "use apt, pacman or dnf",
      );
    }
    const result = await hook(context, manager, {
      checkRoot: () => {
        requireRoot(io, call.verb);
      },
      withLock: async (fn) => {
        const lock = await takeLock(io, call, context);
        try {
          return await fn();
        } finally {
          lock.release();
        }
      },
    });
    if (json) io.stdout(render.jsonDocument({ hook: result }));
    return;
  }
  const { watchOnce, watchFollow } = await import("../commands/watch.ts");
  const { lvmOf } = await import("../lvm/lvm.ts");
  const files = io.bootFiles ?? (await import("../system/files.ts")).nodeBootFiles;
  const write = async (path: string, data: string, mode: number): Promise<void> => {
    await files.makeDirectory(dirname(path));
    await files.writeAtomic(path, data, mode);
  };
  // Without waiting: a pass must extend a snapshot that fills while a backup holds the lock.
  const lockNow = (): Promise<Lock | string> =>
    acquireLock(io.lockPath, io.pid).catch((error: unknown) => {
      if (error instanceof RootsnapError && error.exitCode === ExitCode.locked)
        return error.message;
      throw error;
    });
  const options = { write, takeLock: lockNow };
  const result =
    call.follow && io.signal !== undefined
      ? await watchFollow(context, options, io.signal)
      : await watchOnce(context, lvmOf(context), options);
  if (json) io.stdout(render.watchJson(result));
}

async function runMountVerb(io: Io, call: VerbInvocation, context: Context): Promise<void> {
  const name = validateSetName(call.args[0] ?? "");
  if (call.verb === "mount") {
    const { mount } = await import("../commands/mount.ts");
    const result = await mount(context, name, call.args[1]);
    if (call.flags.json) io.stdout(render.mountJson(result));
    else if (result.dryRun) printCommands(io, result.commands);
    else io.stdout(`${result.dir}\n`);
    return;
  }
  const { umount } = await import("../commands/umount.ts");
  const result = await umount(context, name);
  if (call.flags.json) io.stdout(render.umountJson(result));
  else if (result.dryRun) printCommands(io, result.commands);
  else if (result.unmounted.length === 0) context.output.note(`set ${name} was not mounted`);
  else context.output.note(`unmounted set ${name}: ${result.unmounted.join(", ")}`);
}

async function runArchiveVerb(io: Io, call: VerbInvocation, context: Context): Promise<void> {
  const { progressDisplay } = await import("./progress.ts");
  const display = progressDisplay(
    (text) => {
      io.stderr(text);
    },
    io.stderrIsTTY === true,
    call.flags.quiet,
  );
  const clock = (): number => io.clock().getTime();
  const shown: Context = {
    ...context,
    output: {
      note: (message) => {
        display.end();
        context.output.note(message);
      },
      warn: (message) => {
        display.end();
        context.output.warn(message);
      },
    },
  };
  const { archive, flags } = call;
  try {
    if (call.verb === "restore") {
      const { restore } = await import("../commands/restore.ts");
      const result = await restore(shown, call.args[0] ?? "", archive.to ?? "", {
        signal: io.signal,
        onProgress: display.listener,
      });
      display.end();
      if (flags.json) io.stdout(render.jsonDocument({ restore: result }));
      else context.output.note(`restored ${result.archive} into ${result.dir}`);
    } else if (archive.verify !== undefined) {
      const { verifyArchive } = await import("../backup/verify.ts");
      const result = await verifyArchive(archive.verify, { clock, onProgress: display.listener });
      display.end();
      if (flags.json) io.stdout(render.jsonDocument({ verify: { ...result, ok: true } }));
      else context.output.note(render.verifyNote(result));
    } else {
      if (flags.json && archive.to === "-")
        throw new UsageError("--json and --to - both want stdout", "drop --json");
      const { backup } = await import("../commands/backup.ts");
      const result = await backup(shown, {
        name: call.args[0] === undefined ? undefined : validateSetName(call.args[0]),
        to: archive.to ?? "",
        excludes: archive.excludes,
        compress: archive.compress,
        volumes: call.volumes,
        size: call.size,
        signal: io.signal,
        stdout: io.stdoutFd,
        stdoutIsTTY: io.stdoutIsTTY,
        onProgress: display.listener,
        pid: io.pid,
        isAlive: (pid) => io.isRunning(pid),
      });
      display.end();
      if (flags.json) io.stdout(render.jsonDocument({ backup: result.manifest }));
      else context.output.note(render.backupNote(result));
    }
  } finally {
    display.end();
  }
}

const BOOT_VERBS = new Set(["setup", "uninstall", "next-boot", "doctor", "boot-finish"]);

async function runBootVerb(io: Io, call: VerbInvocation, context: Context): Promise<void> {
  const { runBootVerb: run } = await import("./boot-verbs.ts");
  await run(io, call, context);
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

/** rootsnap's lock, waiting --wait seconds (default 60, boot-finish 25 min) for a run that holds it. */
function takeLock(io: Io, call: VerbInvocation, context: Context): Promise<Lock> {
  const seconds =
    call.flags.waitSeconds ??
    (call.verb === "boot-finish" ? BOOT_FINISH_LOCK_WAIT_SECONDS : DEFAULT_LOCK_WAIT_SECONDS);
  return acquireLock(io.lockPath, io.pid, {
    ms: seconds * 1000,
    sleep: context.sleep ?? sleep,
    onWait: (holder) => {
      context.output.note(
        `rootsnap: ${holder} is running; waiting up to ${seconds} s for it to finish`,
      );
    },
  });
}

async function dispatch(io: Io, call: VerbInvocation): Promise<void> {
  // The package manager's hook decides itself whether a failure may stop the update.
  if (call.verb !== "hook") requireRoot(io, call.verb);
  const context = contextFor(io, call);
  if (call.verb === "boot-finish" && !call.flags.dryRun) {
    // Not under the lock: lvm may take minutes to finish the merges this boot started.
    const { lvmPollersAfter } = await import("../lvm/pollers.ts");
    const { BOOT_LVM_WAIT_MS } = await import("../commands/boot-finish.ts");
    await lvmPollersAfter(io.fs, BOOT_LVM_WAIT_MS, context.sleep);
  }
  // A dry run changes nothing, so it need not wait for another run; nor does a verify.
  const lock =
    CHANGING_VERBS.has(call.verb) && !call.flags.dryRun && call.archive.verify === undefined
      ? await takeLock(io, call, context)
      : undefined;
  try {
    await runVerb(io, call, context);
  } finally {
    lock?.release();
  }
}

function report(io: Io, error: unknown, verbose: boolean): number {
  if (error instanceof RootsnapError) {
    const hint = error.hint === undefined ? "" : ` (hint: ${oneLine(error.hint)})`;
    io.stderr(`${priority(io, 3)}rootsnap: error: ${oneLine(error.message)}${hint}\n`);
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
