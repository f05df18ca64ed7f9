// The command line of the contract, parsed with node:util parseArgs.
import { parseArgs } from "node:util";
import { UsageError } from "../system/errors.ts";
import { notASizePolicy, readSizePolicy, SIZE_SYNTAX, type SizePolicy } from "../sets/size.ts";
import { isSetKind, SET_KINDS, type SetKind } from "../sets/tags.ts";
import { isCompression, type Compression } from "../backup/tar.ts";

export const VERBS = [
  "create",
  "list",
  "show",
  "remove",
  "revert",
  "status",
  "repair",
  "mount",
  "umount",
  "backup",
  "restore",
  "setup",
  "uninstall",
  "next-boot",
  "doctor",
  "boot-finish",
  "prune",
  "watch",
  "hook",
] as const;
export type Verb = (typeof VERBS)[number];

/** Verbs of the contract that this build does not provide yet. */
const LATER_VERBS: string[] = [];

const OPTIONS = {
  json: { type: "boolean" },
  config: { type: "string" },
  "dry-run": { type: "boolean" },
  yes: { type: "boolean", short: "y" },
  quiet: { type: "boolean", short: "q" },
  verbose: { type: "boolean", short: "v" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
  volume: { type: "string", multiple: true },
  size: { type: "string" },
  kind: { type: "string" },
  cancel: { type: "boolean" },
  follow: { type: "boolean" },
  to: { type: "string" },
  exclude: { type: "string", multiple: true },
  compress: { type: "string" },
  verify: { type: "string" },
  wait: { type: "string" },
} as const;

/** Options that belong to one verb only; the rest are global. */
const VERB_OPTIONS: Record<Verb, readonly string[]> = {
  create: ["volume", "size", "kind"],
  list: [],
  show: [],
  remove: [],
  revert: [],
  status: [],
  repair: [],
  setup: [],
  uninstall: [],
  "next-boot": ["cancel"],
  doctor: [],
  "boot-finish": [],
  prune: [],
  watch: ["follow"],
  hook: [],
  mount: [],
  umount: [],
  backup: ["to", "exclude", "compress", "verify", "volume", "size"],
  restore: ["to"],
};

/** [fewest, most] positional arguments after the verb, and their names for messages. */
const VERB_ARGUMENTS: Record<Verb, { min: number; max: number; usage: string }> = {
  create: {
    min: 0,
    max: 1,
    usage: "create [NAME] [--volume VG/LV]... [--size POLICY] [--kind KIND]",
  },
  list: { min: 0, max: 0, usage: "list" },
  show: { min: 1, max: 1, usage: "show NAME" },
  remove: { min: 1, max: 1, usage: "remove NAME [--yes]" },
  revert: { min: 1, max: 1, usage: "revert NAME [--yes]" },
  status: { min: 0, max: 0, usage: "status" },
  repair: { min: 0, max: 0, usage: "repair [--dry-run]" },
  setup: { min: 0, max: 0, usage: "setup [--dry-run] [--yes]" },
  uninstall: { min: 0, max: 0, usage: "uninstall [--dry-run] [--yes]" },
  "next-boot": { min: 0, max: 0, usage: "next-boot [--cancel]" },
  doctor: { min: 0, max: 0, usage: "doctor" },
  "boot-finish": { min: 0, max: 0, usage: "boot-finish" },
  prune: { min: 0, max: 0, usage: "prune [--dry-run] [--yes]" },
  watch: { min: 0, max: 0, usage: "watch [--follow]" },
  hook: { min: 1, max: 1, usage: "hook apt|pacman|dnf" },
  mount: { min: 1, max: 2, usage: "mount NAME [DIR]" },
  umount: { min: 1, max: 1, usage: "umount NAME" },
  backup: {
    min: 0,
    max: 1,
    usage: "backup [NAME] --to FILE|- [--exclude PATTERN]... [--compress zstd|none]",
  },
  restore: { min: 1, max: 1, usage: "restore ARCHIVE --to DIR" },
};

export interface GlobalFlags {
  readonly json: boolean;
  readonly config: string | undefined;
  readonly dryRun: boolean;
  readonly yes: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  /** Seconds to wait for another rootsnap's lock; undefined: the default. */
  readonly waitSeconds: number | undefined;
}

export type Invocation =
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | {
      readonly kind: "verb";
      readonly verb: Verb;
      readonly args: readonly string[];
      readonly flags: GlobalFlags;
      readonly volumes: readonly string[];
      readonly size: SizePolicy | undefined;
      readonly setKind: SetKind;
      /** next-boot --cancel */
      readonly cancel: boolean;
      /** watch --follow */
      readonly follow: boolean;
      readonly archive: ArchiveFlags;
    };

/** backup's and restore's own flags. */
export interface ArchiveFlags {
  readonly to: string | undefined;
  readonly excludes: readonly string[];
  readonly compress: Compression;
  readonly verify: string | undefined;
}

export const HELP = `Usage: rootsnap [--json] [--config FILE] [--dry-run] [--yes] [-q] [-v]
                [--wait SECONDS] VERB ...

  create [NAME] [--volume VG/LV]... [--size POLICY] [--kind KIND]
                    snapshot the configured volumes (default: the LV at /) as one set
  list              snapshot sets, newest first
  show NAME         one set in detail
  remove NAME       drop a set, keeping the changes made since
  revert NAME       merge a set back, undoing the changes made since
  status            sets, fill levels, pending merges, warnings; changes nothing
  repair            finish merges nothing polls, remove what an interrupted merge left
  setup             install boot integration: boot-time set unit and GRUB entry
  uninstall         remove it, leaving the boot configuration as before
  next-boot [--cancel]
                    the next boot only starts the rootsnap entry and takes a set
  doctor            checks that setup and revert will work here
  mount NAME [DIR]  the set read-only, each volume at its place (default /run/rootsnap/NAME)
  umount NAME       unmount it again
  backup [NAME] --to FILE|- [--exclude PATTERN]... [--compress zstd|none]
                    tar archive of a set (no NAME: of a temporary set, removed after)
  backup --verify ARCHIVE
                    check an archive against its manifest and read it to the end
  restore ARCHIVE --to DIR
                    extract a backup into a new file system mounted at DIR
  prune             remove the sets the [retention] policies no longer keep
  watch [--follow]  extend, remove or warn about snapshots about to overflow ([watchdog])
  hook apt|pacman|dnf
                    run by the package manager: one pre-update set per run

POLICY: ${SIZE_SYNTAX}.  KIND: ${SET_KINDS.join(", ")}.
--wait: how long a verb that changes LVM waits for another rootsnap (default 60; 0: none).
Exit codes: 0 ok, 1 failed, 64 usage, 65 bad data, 69 program missing, 70 internal,
73 no space, 75 another rootsnap runs, 77 not root (setup: a program others can replace),
78 bad configuration.
`;

function isVerb(word: string): word is Verb {
  return (VERBS as readonly string[]).includes(word);
}

/** parseArgs messages are long and name node; keep what the user typed. */
function usageFrom(error: unknown, argv: readonly string[]): UsageError {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  const option = /'([^']+)'/.exec(message)?.[1] ?? "";
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return new UsageError(`unknown option ${option}`);
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const name = option.split(" ")[0] ?? option;
    const next = argv[argv.indexOf(name) + 1];
    if (argv.includes(name) && next?.startsWith("-") === true) {
      return new UsageError(
        `option ${name} needs a value, and ${JSON.stringify(next)} looks like an option`,
        `if it is the value, write ${name}=${next}`,
      );
    }
    return new UsageError(`option ${name} needs a value`);
  }
  return new UsageError(message.split(". ")[0] ?? message);
}

/** Options that take a number or a size: a negative one is refused for what it is. */
const NUMERIC_OPTIONS = new Set(["--size", "--wait"]);

/** `--size -5G`: parseArgs takes -5G for an option; hand it over as the value it means. */
function joinNegativeValues(argv: readonly string[]): string[] {
  const end = argv.indexOf("--");
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const word = argv[i] ?? "";
    const next = argv[i + 1];
    if ((end === -1 || i < end) && NUMERIC_OPTIONS.has(word) && /^-\d/.test(next ?? "")) {
      joined.push(`${word}=${next ?? ""}`);
      i += 1;
    } else {
      joined.push(word);
    }
  }
  return joined;
}

function verbOf(positionals: readonly string[]): Verb {
  const word = positionals[0];
  if (word === undefined) throw new UsageError("no verb given");
  if (LATER_VERBS.includes(word))
    throw new UsageError(`rootsnap ${word} is not part of this version`);
  if (!isVerb(word)) throw new UsageError(`unknown verb ${JSON.stringify(word)}`);
  return word;
}

function checkVerbOptions(verb: Verb, values: Record<string, unknown>): void {
  const foreign = Object.keys(values).find(
    (name) =>
      Object.values(VERB_OPTIONS).some((names) => names.includes(name)) &&
      !VERB_OPTIONS[verb].includes(name),
  );
  if (foreign !== undefined) throw new UsageError(`option --${foreign} does not apply to ${verb}`);
}

function checkArguments(verb: Verb, args: readonly string[]): void {
  const { min, max, usage } = VERB_ARGUMENTS[verb];
  if (args.length < min || args.length > max) {
    const problem =
      args.length < min ? "missing argument" : `unexpected argument ${JSON.stringify(args[max])}`;
    throw new UsageError(`${verb}: ${problem}`, `usage: rootsnap ${usage}`);
  }
}

function sizeOf(text: string | undefined): SizePolicy | undefined {
  if (text === undefined) return undefined;
  const policy = readSizePolicy(text);
  if ("problem" in policy) {
    throw new UsageError(
      notASizePolicy(`--size ${JSON.stringify(text)}`, policy.problem),
      `use ${SIZE_SYNTAX}`,
    );
  }
  return policy;
}

function compressionOf(text: string | undefined): Compression {
  if (text === undefined) return "zstd";
  if (!isCompression(text))
    throw new UsageError(`--compress ${JSON.stringify(text)} is not zstd or none`);
  return text;
}

/** backup needs --to or --verify (not both, and --verify takes no set); restore needs --to. */
function checkArchiveFlags(verb: Verb, args: readonly string[], flags: ArchiveFlags): void {
  const usage = `usage: rootsnap ${VERB_ARGUMENTS[verb].usage}`;
  if (verb === "restore" && flags.to === undefined)
    throw new UsageError("restore: --to DIR is missing", usage);
  if (verb !== "backup") return;
  if (flags.verify !== undefined) {
    if (flags.to !== undefined || args.length > 0)
      throw new UsageError("backup --verify ARCHIVE takes no NAME and no --to", usage);
    return;
  }
  if (flags.to === undefined) throw new UsageError("backup: --to FILE|- is missing", usage);
}

function kindOf(text: string | undefined): SetKind {
  if (text === undefined) return "manual";
  if (!isSetKind(text))
    throw new UsageError(`--kind ${JSON.stringify(text)} is not one of ${SET_KINDS.join(", ")}`);
  return text;
}

function waitOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,6}$/.test(text)) {
    const why = text.startsWith("-") ? ": it is 0 or more" : "";
    throw new UsageError(
      `--wait ${JSON.stringify(text)} is not a number of seconds${why}`,
      "give whole seconds, e.g. --wait 300, or --wait 0 not to wait",
    );
  }
  return Number(text);
}

export function parseCommandLine(argv: readonly string[]): Invocation {
  let parsed;
  const words = joinNegativeValues(argv);
  try {
    parsed = parseArgs({ args: words, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageFrom(error, words);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return { kind: "help" };
  if (values.version === true) return { kind: "version" };
  const verb = verbOf(positionals);
  checkVerbOptions(verb, values);
  const operands = positionals.slice(1);
  checkArguments(verb, operands);
  const flags: GlobalFlags = {
    json: values.json === true,
    config: values.config,
    dryRun: values["dry-run"] === true,
    yes: values.yes === true,
    quiet: values.quiet === true,
    verbose: values.verbose === true,
    waitSeconds: waitOf(values.wait),
  };
  const archive: ArchiveFlags = {
    to: values.to,
    excludes: values.exclude ?? [],
    compress: compressionOf(values.compress),
    verify: values.verify,
  };
  checkArchiveFlags(verb, operands, archive);
  return {
    kind: "verb",
    verb,
    args: operands,
    flags,
    volumes: values.volume ?? [],
    size: sizeOf(values.size),
    setKind: kindOf(values.kind),
    cancel: values.cancel === true,
    follow: values.follow === true,
    archive,
  };
}
