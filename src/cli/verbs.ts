// The verbs of the command line, one entry each: what help says about it, what it takes
// (arguments, options), whether it needs root and rootsnap's lock, the module that does
// its work (imported only when it runs, so start-up stays fast) and how its result is
// shown, as text or as JSON. The parser, help, the root and lock checks and dispatch all
// read this table; an entry that lacks a part is a type error.
import { dirname } from "node:path";
import type { BackupResult } from "../commands/backup.ts";
import type { VerifyResult } from "../backup/verify.ts";
import type { InstallResult } from "../boot/install.ts";
import type { Lock } from "../system/lock.ts";
import { BOOT_FINISH_LOCK_WAIT_SECONDS } from "../system/lock.ts";
import type { BootFiles } from "../system/files.ts";
import type { Context } from "../system/context.ts";
import { OperationError, UsageError } from "../system/errors.ts";
import { validateSetName } from "../sets/names.ts";
import type { Io } from "./app.ts";
import type { GlobalFlags } from "./args.ts";
import type { ProgressDisplay } from "./progress.ts";
import * as json from "./json.ts";
import type { OptionalGlobal, OptionValues, VerbOptionName } from "./options.ts";
import * as render from "./render.ts";

/** What a verb's run and rendering are handed. */
export interface VerbEnv<Options = Readonly<Record<string, unknown>>> {
  readonly io: Io;
  readonly context: Context;
  readonly verb: string;
  /** The positional arguments after the verb. */
  readonly args: readonly string[];
  /** The verb's own options, read and checked. */
  readonly options: Options;
  readonly flags: GlobalFlags;
  /** rootsnap's lock, waiting as --wait says: for a verb that takes it itself. */
  readonly lock: () => Promise<Lock>;
  /** rootsnap's lock if it is free now, or who holds it. */
  readonly tryLock: () => Promise<Lock | string>;
  /** Exit 77 unless root: for a verb that checks itself. */
  readonly requireRoot: () => void;
}

/** An option's help for one verb: its text, and the value's name when it differs. */
export type OptionHelp = string | { readonly value: string; readonly help: string };

/**
 * false: never takes rootsnap's lock. "inside": takes it itself when it needs it
 * (VerbEnv.lock). Otherwise it runs under the lock (never under --dry-run), waiting
 * `waitSeconds` by default, unless `unless` says this invocation needs none.
 */
export type LockRule<Options> =
  | false
  | "inside"
  | {
      readonly waitSeconds?: number;
      readonly unless?: (options: Options) => boolean;
    };

/** A further form of a verb's usage, with what it does: `backup --verify ARCHIVE`. */
export interface VerbForm {
  readonly usage: string;
  readonly summary: string;
}

/** One verb as written in the table; O: its own options, M: its module, R: its result. */
export interface VerbSpec<O extends VerbOptionName, M, R> {
  /** One line for the list of verbs. */
  readonly summary: string;
  /** A paragraph for `rootsnap VERB --help`. */
  readonly description: string;
  /** After "rootsnap ": in help and in the hint of a usage error. */
  readonly usage: string;
  readonly forms?: readonly VerbForm[];
  /** How many positional arguments it takes. */
  readonly args: { readonly min: number; readonly max: number };
  readonly options: { readonly [N in O]: OptionHelp };
  /** Global options that mean something to it besides --json, -q and -v. */
  readonly globals: readonly OptionalGlobal[];
  /** Refused with exit 77 unless root; false: the verb decides itself. */
  readonly root: boolean;
  readonly lock: LockRule<OptionValues<O>>;
  /** Run by rootsnap's units, not by people: left out of `rootsnap --help`. */
  readonly hidden?: boolean;
  /** Usage checks beyond counting arguments, at parse time. */
  readonly check?: (args: readonly string[], options: OptionValues<O>, usage: string) => void;
  /** Before the lock is taken (not under --dry-run unless it says so). */
  readonly prepare?: (env: VerbEnv<OptionValues<O>>) => Promise<void>;
  /** The module that does the work, imported when the verb runs. */
  readonly load: () => Promise<M>;
  /** The function of that module the verb runs. */
  readonly implementation: keyof M & string;
  readonly run: (module: M, env: VerbEnv<OptionValues<O>>) => Promise<R>;
  /** Notes and warnings on stderr, with --json too, before the result is shown. */
  readonly messages?: (result: R, env: VerbEnv<OptionValues<O>>) => void;
  /** The result for people: data on stdout, notes on stderr. */
  readonly text: (result: R, env: VerbEnv<OptionValues<O>>) => void;
  /** The --json document. */
  readonly json: (result: R) => string;
  /** After the result is shown: a verb that reports a failure it found (doctor). */
  readonly after?: (result: R) => void;
}

/** Loads a verb's module: the import itself, or a test's stand-in. */
export type VerbLoader = (verb: string, load: () => Promise<unknown>) => Promise<unknown>;

/** A table entry as the rest of the command line sees it, whatever its types. */
export interface Verb {
  readonly summary: string;
  readonly description: string;
  readonly usage: string;
  readonly forms: readonly VerbForm[];
  readonly args: { readonly min: number; readonly max: number };
  readonly options: Readonly<Partial<Record<VerbOptionName, OptionHelp>>>;
  readonly globals: readonly OptionalGlobal[];
  readonly root: boolean;
  readonly hidden: boolean;
  readonly implementation: string;
  /** Whether it takes the lock itself (hook) or runs under it (see takesLock). */
  readonly lock: "never" | "inside" | "around";
  /** How long it waits for the lock without --wait; undefined: the default. */
  readonly lockWaitSeconds: number | undefined;
  /** Whether this invocation runs under the lock (dry runs never do). */
  takesLock(options: Readonly<Record<string, unknown>>, flags: GlobalFlags): boolean;
  check(args: readonly string[], options: Readonly<Record<string, unknown>>): void;
  prepare(env: VerbEnv): Promise<void>;
  /** Loads its module, runs it and shows the result. */
  execute(env: VerbEnv, loader?: VerbLoader): Promise<void>;
}

/** A table entry: checks the parts fit each other and hides their types. */
export function verb<O extends VerbOptionName = never, M = unknown, R = unknown>(
  spec: VerbSpec<O, M, R>,
): Verb {
  // The parser built `options` from this very entry's option names.
  const typed = (env: VerbEnv): VerbEnv<OptionValues<O>> => env as VerbEnv<OptionValues<O>>;
  const values = (options: Readonly<Record<string, unknown>>): OptionValues<O> =>
    options as OptionValues<O>;
  const rule = spec.lock;
  return {
    summary: spec.summary,
    description: spec.description,
    usage: spec.usage,
    forms: spec.forms ?? [],
    args: spec.args,
    options: spec.options,
    globals: spec.globals,
    root: spec.root,
    hidden: spec.hidden === true,
    implementation: spec.implementation,
    lock: rule === false ? "never" : rule === "inside" ? "inside" : "around",
    lockWaitSeconds: typeof rule === "object" ? rule.waitSeconds : undefined,
    takesLock: (options, flags) =>
      typeof rule === "object" && !flags.dryRun && rule.unless?.(values(options)) !== true,
    check: (args, options) => spec.check?.(args, values(options), spec.usage),
    prepare: async (env) => {
      await spec.prepare?.(typed(env));
    },
    execute: async (env, loader) => {
      const module = (
        loader === undefined ? await spec.load() : await loader(env.verb, spec.load)
      ) as M;
      const result = await spec.run(module, typed(env));
      spec.messages?.(result, typed(env));
      if (env.flags.json) env.io.stdout(spec.json(result));
      else spec.text(result, typed(env));
      spec.after?.(result);
    },
  };
}

/** How this run shows tables: --utc, --no-headings, and cut to the terminal's width. */
function styleOf({ io, flags }: VerbEnv<unknown>): render.TableStyle {
  const width = io.stdoutIsTTY === true ? (io.stdoutColumns?.() ?? 80) : undefined;
  return { utc: flags.utc, headings: !flags.noHeadings, width };
}

function printCommands(io: Io, commands: readonly (readonly string[])[]): void {
  for (const line of render.commandLines(commands)) io.stdout(`${line}\n`);
}

async function bootFiles(io: Io): Promise<BootFiles> {
  return io.bootFiles ?? (await import("../system/files.ts")).nodeBootFiles;
}

/** The argv prefix the boot-time units and hooks run: the Node and the script running now. */
async function program(io: Io): Promise<readonly string[]> {
  return io.program?.() ?? (await import("../boot/units.ts")).DEFAULT_PROGRAM;
}

function setName(args: readonly string[]): string {
  return validateSetName(args[0] ?? "");
}

/** The shown progress of a backup or restore, cleared before any note or warning. */
async function withProgress<T>(
  env: VerbEnv,
  work: (context: Context, display: ProgressDisplay) => Promise<T>,
): Promise<T> {
  const { progressDisplay } = await import("./progress.ts");
  const { io, context } = env;
  const display = progressDisplay(
    (text) => {
      io.stderr(text);
    },
    io.stderrIsTTY === true,
    env.flags.quiet,
  );
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
  try {
    return await work(shown, display);
  } finally {
    display.end();
  }
}

type Archived =
  | { readonly kind: "backup"; readonly backup: BackupResult }
  | { readonly kind: "verify"; readonly verify: VerifyResult };

type Installed = {
  readonly install: InstallResult;
  /** The files' diff, for a dry run. */
  readonly diff: string;
  /** What a run that changed something says. */
  readonly done: string;
};

async function installed(result: InstallResult, done: string): Promise<Installed> {
  const diff = result.dryRun ? (await import("../boot/install.ts")).diffOf(result.changes) : "";
  return { install: result, diff, done };
}

const installShown = {
  messages: ({ install }: Installed, { context }: VerbEnv<unknown>): void => {
    for (const warning of install.warnings) context.output.warn(warning);
  },
  text: ({ install, diff, done }: Installed, { io, context }: VerbEnv<unknown>): void => {
    if (install.dryRun) {
      io.stdout(diff);
      printCommands(io, install.commands);
    } else context.output.note(install.unchanged ? `nothing to do: ${done} already` : done);
  },
  json: ({ install }: Installed): string => json.installJson(install),
};

const PACKAGE_MANAGERS = ["apt", "pacman", "dnf"] as const;

export const VERBS = {
  create: verb({
    summary: "snapshot the configured volumes (default: the LV at /) as one set",
    description:
      "Snapshots the volumes given with --volume, else those of the configuration file, else the LV mounted at /, as one set. NAME defaults to KIND-YYYYMMDD-HHMMSS (UTC). The whole set is planned and the free space of every VG checked before the first lvcreate; if one fails, the snapshots already made are removed again. Prints the set's name.",
    usage: "create [NAME] [--volume VG/LV]... [--size POLICY] [--kind KIND]",
    args: { min: 0, max: 1 },
    options: {
      volume: "a volume of the set (repeatable; default: the configured ones, else the LV at /)",
      size: "the snapshots' size, overriding the configured ones (default 20%ORIGIN)",
      kind: "the kind of set, for its name and its retention policy (default manual)",
    },
    globals: ["config", "dry-run", "wait"],
    root: true,
    lock: {},
    load: () => import("../commands/create.ts"),
    implementation: "create",
    run: ({ create }, { context, args, options }) =>
      create(context, {
        name: args[0],
        kind: options.kind,
        volumes: options.volume,
        size: options.size,
      }),
    text: (result, { io, context }) => {
      if (result.dryRun) printCommands(io, result.commands);
      else {
        io.stdout(`${result.set.name}\n`);
        context.output.note(render.createNote(result));
      }
    },
    json: json.createJson,
  }),

  list: verb({
    summary: "snapshot sets, newest first",
    description:
      "All sets, newest first: a line per set with its kind, when it was made (local time; --utc: UTC) and its label (the package manager's command line that made it; cut to the terminal's width), then a line per snapshot, indented, with its size (thin: it uses its pool), its fill level (for thin snapshots: their pool's) and its state: active, inactive, invalid or merging, and missing or unavailable for a snapshot the set lacks.",
    usage: "list",
    args: { min: 0, max: 0 },
    options: {},
    globals: ["utc", "no-headings"],
    root: true,
    lock: false,
    load: () => import("../commands/list.ts"),
    implementation: "list",
    run: ({ list }, { context }) => list(context),
    text: ({ sets }, env) => {
      if (sets.length === 0) env.context.output.note("no snapshot sets");
      else env.io.stdout(render.setsTable(sets, styleOf(env)));
    },
    json: json.listJson,
  }),

  show: verb({
    summary: "one set in detail",
    description:
      "The set named NAME: its kind, its label, when it was made in local time and in UTC, whether the [retention] policies keep it (and by which rule) or prune would remove it, and a row per snapshot: origin, snapshot, size, fill level and state.",
    usage: "show NAME",
    args: { min: 1, max: 1 },
    options: {},
    globals: ["config", "no-headings"],
    root: true,
    lock: false,
    load: () => import("../commands/show.ts"),
    implementation: "show",
    run: ({ show }, { context, args }) => show(context, setName(args)),
    text: (result, env) => {
      env.io.stdout(render.showText(result, styleOf(env)));
    },
    json: json.showJson,
  }),

  remove: verb({
    summary: "drop a set, keeping the changes made since",
    description:
      "Removes the set's snapshots and keeps every change made since they were taken. Asks first; without a terminal it needs --yes.",
    usage: "remove NAME [--yes]",
    args: { min: 1, max: 1 },
    options: {},
    globals: ["dry-run", "yes", "wait"],
    root: true,
    lock: {},
    load: () => import("../commands/remove.ts"),
    implementation: "remove",
    run: ({ remove }, { context, args }) => remove(context, setName(args)),
    text: (result, { io, context }) => {
      if (result.dryRun) printCommands(io, result.commands);
      else context.output.note(`removed set ${result.set.name}: ${result.removed.join(", ")}`);
    },
    json: json.removeJson,
  }),

  revert: verb({
    summary: "merge a set back, undoing the changes made since",
    description:
      "Merges every snapshot of the set back into its origin (lvconvert --merge), undoing every change made since. Refuses invalid snapshots and origins already merging, then says per volume whether the merge is done (merged) or starts at the origin's next activation (pending: the next boot for /). Asks first; without a terminal it needs --yes.",
    usage: "revert NAME [--yes]",
    args: { min: 1, max: 1 },
    options: {},
    globals: ["dry-run", "yes", "wait"],
    root: true,
    lock: {},
    load: () => import("../commands/revert.ts"),
    implementation: "revert",
    run: ({ revert }, { context, args }) => revert(context, setName(args)),
    text: (result, env) => {
      const { io, context } = env;
      if (result.dryRun) printCommands(io, result.commands);
      else {
        io.stdout(render.revertText(result, styleOf(env)));
        for (const note of render.revertNotes(result)) context.output.note(note);
      }
    },
    json: json.revertJson,
  }),

  status: verb({
    summary: "sets, fill levels, pending merges, warnings; changes nothing",
    description:
      "The sets with their fill levels, merges waiting or running, invalid snapshots, warnings (80 % full and over) and the free space of each VG. It only looks: it takes no lock, changes nothing, and answers while another rootsnap runs. It says when a repair is due: a merge a boot started that nothing polled to its end, or what an interrupted merge left (rootsnap repair does both).",
    usage: "status",
    args: { min: 0, max: 0 },
    options: {},
    globals: [],
    root: true,
    lock: false,
    load: () => import("../commands/status.ts"),
    implementation: "status",
    run: ({ status }, { context }) => status(context),
    text: (result, env) => {
      env.io.stdout(render.statusText(result, styleOf(env)));
    },
    json: json.statusJson,
  }),

  repair: verb({
    summary: "finish merges nothing polled and remove what an interrupted merge left",
    description:
      "Finishes the merges a boot started but nothing polled to the end (lvchange --poll y), and removes the copy-on-write volumes that an interrupted merge leaves behind as plain LVs still carrying their set's tags.",
    usage: "repair [--dry-run]",
    args: { min: 0, max: 0 },
    options: {},
    globals: ["dry-run", "wait"],
    root: true,
    lock: {},
    load: () => import("../commands/repair.ts"),
    implementation: "repair",
    run: ({ repair }, { context }) => repair(context),
    messages: (result, { context }) => {
      for (const warning of result.warnings) context.output.warn(warning);
      if (result.dryRun) return;
      const finished = result.merges.filter((merge) => merge.state === "finished");
      for (const merge of finished) context.output.note(`merge of ${merge.snapshot} finished`);
      for (const leftover of result.leftovers)
        context.output.note(
          `removed ${leftover}, the copy-on-write volume a finished merge left behind`,
        );
      for (const loader of result.bootLoader)
        context.output.note(`installed the core image of ${loader} again`);
      if (
        finished.length === 0 &&
        result.leftovers.length === 0 &&
        result.bootLoader.length === 0 &&
        result.warnings.length === 0
      )
        context.output.note("nothing to repair");
    },
    text: (result, { io }) => {
      if (result.dryRun) printCommands(io, result.commands);
    },
    json: json.repairJson,
  }),

  setup: verb({
    summary: "install boot integration: boot-time set unit and boot entry",
    description:
      "Installs rootsnap-boot.service (a set of kind boot before local-fs.target, when the kernel command line has rootsnap.boot=1), rootsnap-finish.service (after every boot) and a boot entry that adds rootsnap.boot=1: /etc/grub.d/42_rootsnap where grub-mkconfig makes GRUB's menu, or a copy of the default Boot Loader Spec entry, kept by a kernel-install plugin, on systemd-boot and on GRUB with GRUB_ENABLE_BLSCFG=true. It names the boot stack it drives and refuses one it cannot (exit 69). Every file is checked, then written atomically; a failed step puts everything back. Running it again changes nothing.",
    usage: "setup [--dry-run] [--yes]",
    args: { min: 0, max: 0 },
    options: {},
    globals: ["config", "dry-run", "yes", "wait"],
    root: true,
    lock: {},
    load: () => import("../commands/setup.ts"),
    implementation: "setup",
    run: async ({ setup }, { io, context }) =>
      installed(
        await setup(context, await program(io), await bootFiles(io)),
        "boot integration is set up; rootsnap next-boot takes a set at the next boot",
      ),
    ...installShown,
  }),

  uninstall: verb({
    summary: "remove boot integration, leaving the boot configuration as before",
    description:
      "Removes the units, the scripts and the boot entry setup installed. When nothing regenerated grub.cfg since setup, the saved original is put back byte for byte; otherwise grub.cfg is made again without the entry. A Boot Loader Spec entry of rootsnap's is removed with the kernel-install plugin.",
    usage: "uninstall [--dry-run] [--yes]",
    args: { min: 0, max: 0 },
    options: {},
    globals: ["dry-run", "yes", "wait"],
    root: true,
    lock: {},
    load: () => import("../commands/uninstall.ts"),
    implementation: "uninstall",
    run: async ({ uninstall }, { io, context }) =>
      installed(await uninstall(context, await bootFiles(io)), "boot integration is removed"),
    ...installShown,
  }),

  "next-boot": verb({
    summary: "the next boot only starts the rootsnap entry and takes a set",
    description:
      "Makes the next boot (only) start rootsnap's boot entry, which takes a set of kind boot: grub-reboot rootsnap-boot with GRUB, grub2-reboot with the entry's id on GRUB with BLS entries, bootctl set-oneshot with systemd-boot; the boot after it is a normal one. It also regenerates the boot plan.",
    usage: "next-boot [--cancel]",
    args: { min: 0, max: 0 },
    options: { cancel: "take it back: the next boot is a normal one" },
    globals: ["config", "dry-run", "wait"],
    root: true,
    lock: {},
    load: () => import("../commands/next-boot.ts"),
    implementation: "nextBoot",
    run: async ({ nextBoot }, { io, context, options }) =>
      nextBoot(context, options.cancel, await bootFiles(io), await program(io)),
    messages: ({ warnings }, { context }) => {
      for (const warning of warnings) context.output.warn(warning);
    },
    text: (result, { io, context }) => {
      if (result.dryRun) printCommands(io, result.commands);
      else
        context.output.note(
          result.entry === null
            ? "the next boot is a normal boot"
            : result.rootsnap
              ? "the next boot (only) takes a boot-time set"
              : `the next boot starts entry ${result.entry}, not rootsnap's`,
        );
    },
    json: json.nextBootJson,
  }),

  doctor: verb({
    summary: "checks that setup and revert will work here",
    description:
      "Checks / on LVM, dm-snapshot in the initramfs, free space for the configured set, snapshot autoextend, where grubenv lies, the /boot layout, fstab entries a snapshot makes ambiguous, whether setup and its boot plan are in place and whether this boot's set was made. Exits 1 when a check fails.",
    usage: "doctor",
    args: { min: 0, max: 0 },
    options: {},
    globals: ["config"],
    root: true,
    lock: false,
    load: () => import("../commands/doctor.ts"),
    implementation: "doctor",
    run: async ({ doctor }, { io, context }) => doctor(context, await bootFiles(io)),
    text: (checks, env) => {
      env.io.stdout(
        render.table(
          ["STATUS", "CHECK", "DETAIL"],
          checks.map((c) => [c.status, c.name, c.detail]),
          styleOf(env),
        ),
      );
    },
    json: json.doctorJson,
    after: (checks) => {
      const failed = checks.filter((check) => check.status === "fail");
      if (failed.length > 0) {
        throw new OperationError(
          `${failed.length} check(s) failed: ${failed.map((check) => check.name).join(", ")}`,
          "fix what the failed lines say, then run rootsnap doctor again",
        );
      }
    },
  }),

  mount: verb({
    summary: "the set read-only, each volume at its place (default /run/rootsnap/NAME)",
    description:
      "Mounts the set's snapshots read-only, each at its origin's place below DIR (default /run/rootsnap/NAME), and prints DIR.",
    usage: "mount NAME [DIR]",
    args: { min: 1, max: 2 },
    options: {},
    globals: ["dry-run", "wait"],
    root: true,
    lock: {},
    load: () => import("../commands/mount.ts"),
    implementation: "mount",
    run: ({ mount }, { context, args }) => mount(context, setName(args), args[1]),
    text: (result, { io }) => {
      if (result.dryRun) printCommands(io, result.commands);
      else io.stdout(`${result.dir}\n`);
    },
    json: json.mountJson,
  }),

  umount: verb({
    summary: "unmount a mounted set again",
    description:
      "Unmounts every mount of the set's snapshots and deactivates what it activated for them.",
    usage: "umount NAME",
    args: { min: 1, max: 1 },
    options: {},
    globals: ["dry-run", "wait"],
    root: true,
    lock: {},
    load: () => import("../commands/umount.ts"),
    implementation: "umount",
    run: ({ umount }, { context, args }) => umount(context, setName(args)),
    text: (result, { io, context }) => {
      const name = result.set.name;
      if (result.dryRun) printCommands(io, result.commands);
      else if (result.unmounted.length === 0) context.output.note(`set ${name} was not mounted`);
      else context.output.note(`unmounted set ${name}: ${result.unmounted.join(", ")}`);
    },
    json: json.umountJson,
  }),

  backup: verb({
    summary: "tar archive of a set (no NAME: of a temporary set, removed after)",
    description:
      "Writes a tar archive of the set, mounted read-only, to FILE (with a manifest beside it) or to stdout. Without NAME it takes a temporary set, shaped by --volume and --size, and removes it after. --verify checks an archive against its manifest and reads it to the end.",
    usage: "backup [NAME] --to FILE|- [--exclude PATTERN]... [--compress zstd|none]",
    forms: [
      {
        usage: "backup --verify ARCHIVE",
        summary: "check an archive against its manifest and read it to the end",
      },
    ],
    args: { min: 0, max: 1 },
    options: {
      to: { value: "FILE|-", help: "the archive file, or - for stdout" },
      exclude: "leave out paths that match (tar --exclude; repeatable)",
      compress: "compress with zstd (default) or not at all",
      verify: "check ARCHIVE against its manifest and read it to the end",
      volume: "a volume of the temporary set (repeatable; as create takes it)",
      size: "the temporary set's size policy (as create takes it)",
    },
    globals: ["config", "wait"],
    // A verify only reads a file: whoever can read the archive may check it.
    root: false,
    lock: { unless: (options) => options.verify !== undefined },
    prepare: ({ options, requireRoot }) => {
      if (options.verify === undefined) requireRoot();
      return Promise.resolve();
    },
    check: (args, options, usage) => {
      const hint = `usage: rootsnap ${usage}`;
      if (options.verify !== undefined) {
        if (options.to !== undefined || args.length > 0)
          throw new UsageError("backup --verify ARCHIVE takes no NAME and no --to", hint);
        return;
      }
      if (options.to === undefined) throw new UsageError("backup: --to FILE|- is missing", hint);
    },
    load: () => import("../commands/backup.ts"),
    implementation: "backup",
    run: async ({ backup }, env): Promise<Archived> => {
      const { io, args, options, flags } = env;
      const clock = (): number => io.clock().getTime();
      if (options.verify !== undefined) {
        const { verifyArchive } = await import("../backup/verify.ts");
        const path = options.verify;
        return withProgress(env, async (shown, display) => ({
          kind: "verify",
          verify: await verifyArchive(path, {
            clock,
            onProgress: display.listener,
            start: shown.effects.start,
          }),
        }));
      }
      if (flags.json && options.to === "-")
        throw new UsageError("--json and --to - both want stdout", "drop --json");
      return withProgress(env, async (context, display) => ({
        kind: "backup",
        backup: await backup(context, {
          name: args[0] === undefined ? undefined : validateSetName(args[0]),
          to: options.to ?? "",
          excludes: options.exclude,
          compress: options.compress,
          volumes: options.volume,
          size: options.size,
          signal: io.signal,
          stdout: io.stdoutFd,
          stdoutIsTTY: io.stdoutIsTTY,
          onProgress: display.listener,
          pid: io.pid,
          isAlive: (pid) => io.isRunning(pid),
        }),
      }));
    },
    text: (result, { context }) => {
      context.output.note(
        result.kind === "verify"
          ? render.verifyNote(result.verify)
          : render.backupNote(result.backup),
      );
    },
    json: (result) =>
      result.kind === "verify" ? json.verifyJson(result.verify) : json.backupJson(result.backup),
  }),

  restore: verb({
    summary: "extract a backup into a new file system mounted at DIR",
    description:
      "Extracts a backup archive into the file system mounted at DIR, which must not be the running system's /. Asks first when DIR is not empty; without a terminal it needs --yes.",
    usage: "restore ARCHIVE --to DIR",
    args: { min: 1, max: 1 },
    options: { to: { value: "DIR", help: "the mounted file system to extract into" } },
    globals: ["yes"],
    root: true,
    lock: false,
    check: (_args, options, usage) => {
      if (options.to === undefined)
        throw new UsageError("restore: --to DIR is missing", `usage: rootsnap ${usage}`);
    },
    load: () => import("../commands/restore.ts"),
    implementation: "restore",
    run: ({ restore }, env) =>
      withProgress(env, (context, display) =>
        restore(context, env.args[0] ?? "", env.options.to ?? "", {
          signal: env.io.signal,
          onProgress: display.listener,
        }),
      ),
    text: (result, { context }) => {
      context.output.note(`restored ${result.archive} into ${result.dir}`);
    },
    json: json.restoreJson,
  }),

  prune: verb({
    summary: "remove the sets the [retention] policies no longer keep",
    description:
      "Removes the sets that the [retention] policies of the configuration no longer keep, and incomplete sets; keeps sets in use and sets with a snapshot in a VG lvm does not see. Prints each set with its decision (keep, removed; with --dry-run: keep, remove) and the rule why; a dry run prints the lvremove commands after them.",
    usage: "prune [--dry-run] [--yes]",
    args: { min: 0, max: 0 },
    options: {},
    globals: ["config", "dry-run", "yes", "wait", "utc", "no-headings"],
    root: true,
    lock: {},
    load: () => import("../commands/prune.ts"),
    implementation: "prune",
    run: ({ prune }, { context }) => prune(context),
    messages: (result, { context }) => {
      if (result.decisions.every((d) => d.keep)) context.output.note("nothing to prune");
    },
    text: (result, env) => {
      const decisions = render.pruneText(result, styleOf(env));
      env.io.stdout(decisions);
      if (result.dryRun && result.commands.length > 0) {
        if (decisions !== "") env.io.stdout("\n");
        printCommands(env.io, result.commands);
      }
    },
    json: json.pruneJson,
  }),

  watch: verb({
    summary: "extend, remove or warn about snapshots about to overflow ([watchdog])",
    description:
      "One pass of the [watchdog]: snapshots about to overflow are extended, removed or warned about, as configured, and the metrics file is written. It takes rootsnap's lock only to remove a set, and never waits for it.",
    usage: "watch [--follow]",
    args: { min: 0, max: 0 },
    options: { follow: "keep watching, a pass every [watchdog] interval, until stopped" },
    globals: ["config", "dry-run"],
    root: true,
    // Without waiting, and only to remove: a pass must extend a snapshot that fills while a backup holds the lock.
    lock: false,
    load: () => import("../commands/watch.ts"),
    implementation: "watchOnce",
    run: async ({ watchOnce, watchFollow }, { io, context, options, tryLock }) => {
      const { lvmOf } = await import("../lvm/lvm.ts");
      // Through the gate, so a dry run writes no metrics; unlisted, or --follow's list grows each pass.
      const write = async (path: string, data: string, mode: number): Promise<void> => {
        await context.effects.makeDirectory(dirname(path));
        await context.effects.writeFile(path, data, mode, null);
      };
      const watching = { write, takeLock: tryLock };
      return options.follow && io.signal !== undefined
        ? watchFollow(context, watching, io.signal)
        : watchOnce(context, lvmOf(context), watching);
    },
    messages: (result, { context, options }) => {
      // --follow stops on a signal: a last "nothing" then would say nothing of the passes before.
      if (result.events.length === 0 && !options.follow)
        context.output.note(`nothing to watch: no snapshot over ${result.threshold}% full`);
    },
    text: () => undefined,
    json: json.watchJson,
  }),

  hook: verb({
    summary: "run by the package manager: one pre-update set per run",
    description:
      "Run by apt, pacman or dnf before an update: takes one set of kind pre-update per package manager run, labelled with its command line. A set that cannot be taken does not stop the update unless [hooks] says so.",
    usage: "hook apt|pacman|dnf",
    args: { min: 1, max: 1 },
    options: {},
    globals: ["config", "dry-run", "wait"],
    // The package manager's hook decides itself whether a failure may stop the update.
    root: false,
    lock: "inside",
    load: () => import("../commands/hook.ts"),
    implementation: "hook",
    run: ({ hook }, { context, args, lock, requireRoot }) => {
      const manager = PACKAGE_MANAGERS.find((name) => name === args[0]);
      if (manager === undefined) {
        throw new UsageError(
          `unknown package manager ${JSON.stringify(args[0])}`,
          "use apt, pacman or dnf",
        );
      }
      return hook(context, manager, {
        checkRoot: requireRoot,
        withLock: async (fn) => {
          const held = await lock();
          try {
            return await fn();
          } finally {
            held.release();
          }
        },
      });
    },
    text: () => undefined,
    json: json.hookJson,
  }),

  "boot-entry": verb({
    summary: "make systemd-boot's rootsnap entry again from the default entry",
    description:
      "Run by kernel-install's rootsnap plugin after a kernel is added or removed: rootsnap's systemd-boot entry is made again as a copy of the default entry with rootsnap.boot=1, and copies of entries that are gone are removed. Does nothing unless rootsnap setup was run on systemd-boot.",
    usage: "boot-entry",
    args: { min: 0, max: 0 },
    options: {},
    globals: ["dry-run", "wait"],
    root: true,
    lock: {},
    hidden: true,
    load: () => import("../commands/boot-entry.ts"),
    implementation: "bootEntry",
    run: async ({ bootEntry }, { io, context }) => bootEntry(context, await bootFiles(io)),
    messages: (result, { context }) => {
      if (result.skipped !== undefined) context.output.note(`nothing to do: ${result.skipped}`);
      for (const path of result.removed) context.output.note(`removed ${path}`);
      if (result.written !== undefined) context.output.note(`wrote ${result.written}`);
    },
    text: (result, { io }) => {
      if (result.dryRun) printCommands(io, result.commands);
    },
    json: json.bootEntryJson,
  }),

  "boot-finish": verb({
    summary: "finish what a boot left: merges, the one-shot entry, /boot copies, pruning",
    description:
      "Run by rootsnap-finish.service after every boot: finishes merges with lvchange --poll y, clears rootsnap's one-shot GRUB entry, copies a separate /boot for the boot's set, prunes boot sets after a boot that made one and regenerates the boot plan. It first waits for lvm's own pollers, and waits up to 25 minutes for rootsnap's lock.",
    usage: "boot-finish",
    args: { min: 0, max: 0 },
    options: {},
    globals: ["config", "dry-run", "wait"],
    root: true,
    // What it finishes blocks every new set, and a setup or backup after the boot may hold the lock for minutes.
    lock: { waitSeconds: BOOT_FINISH_LOCK_WAIT_SECONDS },
    hidden: true,
    prepare: async ({ io, context, flags }) => {
      if (flags.dryRun) return;
      // Not under the lock: lvm may take minutes to finish the merges this boot started.
      const { lvmPollersAfter } = await import("../lvm/pollers.ts");
      const { BOOT_LVM_WAIT_MS } = await import("../commands/boot-finish.ts");
      await lvmPollersAfter(io.fs, BOOT_LVM_WAIT_MS, context.sleep);
    },
    load: () => import("../commands/boot-finish.ts"),
    implementation: "bootFinish",
    run: async ({ bootFinish }, { io, context }) =>
      bootFinish(context, await bootFiles(io), await program(io)),
    messages: (result, { context }) => {
      const { output } = context;
      if (result.bootFailure !== null)
        output.warn(`this boot's set was not made: ${result.bootFailure}`);
      for (const warning of result.warnings) output.warn(warning);
      for (const snapshot of result.mergesFinished) output.note(`merge of ${snapshot} finished`);
      for (const leftover of result.leftoversRemoved)
        output.note(`removed ${leftover}, the copy-on-write volume a finished merge left behind`);
      if (result.oneShotCleared) output.note("one-shot rootsnap boot entry cleared");
      for (const loader of result.bootLoader)
        output.note(`installed the core image of ${loader} again`);
      for (const path of result.bootCopies) output.note(`/boot copied to ${path}`);
      for (const name of result.pruned)
        output.note(`removed /boot copy ${name} of a set that is gone`);
    },
    text: (result, { io }) => {
      if (result.dryRun) printCommands(io, result.commands);
    },
    json: json.bootFinishJson,
  }),
} satisfies Record<string, Verb>;

export type VerbName = keyof typeof VERBS;

export const VERB_NAMES = Object.keys(VERBS) as VerbName[];

export function isVerb(word: string): word is VerbName {
  return Object.hasOwn(VERBS, word);
}
