// The options of the command line: the global ones every verb may be given, and those of
// one verb or a few, each with its value's name, its help and how its value is read.
import { UsageError } from "../system/errors.ts";
import { notASizePolicy, readSizePolicy, SIZE_SYNTAX, type SizePolicy } from "../sets/size.ts";
import { isSetKind, SET_KINDS, type SetKind } from "../sets/tags.ts";
import { isCompression, type Compression } from "../backup/tar.ts";

/** What parseArgs hands over for one option. */
type Raw = string | boolean | (string | boolean)[] | undefined;

export interface OptionSpec<T> {
  readonly type: "string" | "boolean";
  readonly multiple?: boolean;
  readonly short?: string;
  /** The value's name in usage and help: FILE, SECONDS; none for a flag. */
  readonly value?: string;
  readonly help: string;
  /** Takes a value that may be a negative number, refused for what it is. */
  readonly numeric?: boolean;
  /** The value the verb sees; a bad one is a usage error. */
  readonly read: (raw: Raw) => T;
}

function flag(help: string, short?: string): OptionSpec<boolean> {
  return { type: "boolean", short, help, read: (raw) => raw === true };
}

function text<T = string | undefined>(
  value: string,
  help: string,
  read: (raw: string | undefined) => T = (raw) => raw as T,
  numeric = false,
): OptionSpec<T> {
  return {
    type: "string",
    value,
    help,
    numeric,
    read: (raw) => read(typeof raw === "string" ? raw : undefined),
  };
}

function list(value: string, help: string): OptionSpec<readonly string[]> {
  return {
    type: "string",
    multiple: true,
    value,
    help,
    read: (raw) => (Array.isArray(raw) ? raw.filter((item) => typeof item === "string") : []),
  };
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

function kindOf(text: string | undefined): SetKind {
  if (text === undefined) return "manual";
  if (!isSetKind(text))
    throw new UsageError(`--kind ${JSON.stringify(text)} is not one of ${SET_KINDS.join(", ")}`);
  return text;
}

function compressionOf(text: string | undefined): Compression {
  if (text === undefined) return "zstd";
  if (!isCompression(text))
    throw new UsageError(`--compress ${JSON.stringify(text)} is not zstd or none`);
  return text;
}

/** Options every verb takes; `globals` in the verb table says which mean something to it. */
export const GLOBAL_OPTIONS = {
  json: flag('one {"version":1,...} document on stdout, nothing else'),
  config: text("FILE", "the configuration (default /etc/rootsnap/rootsnap.toml)"),
  "dry-run": flag("print the exact commands and file diffs; change nothing"),
  yes: flag("answer yes to every question (needed without a terminal)", "y"),
  quiet: flag("fewer notes on stderr", "q"),
  verbose: flag("every command shown on stderr before it runs", "v"),
  utc: flag("times in UTC, not local time"),
  "no-headings": flag("tables without their header lines, for scripts"),
  wait: text(
    "SECONDS",
    "how long a verb that changes LVM waits for another rootsnap (default 60; 0: none)",
    waitOf,
    true,
  ),
} as const;

export type GlobalOptionName = keyof typeof GLOBAL_OPTIONS;

/** The order the help and the man page list the global options in. */
export const GLOBAL_ORDER: readonly GlobalOptionName[] = [
  "json",
  "config",
  "dry-run",
  "yes",
  "wait",
  "quiet",
  "verbose",
  "utc",
  "no-headings",
];

/** Global options a verb may lack in its help; the rest apply to every verb. */
export type OptionalGlobal = Exclude<GlobalOptionName, "json" | "quiet" | "verbose">;

/** Options of one verb or a few; given to another verb they are a usage error. */
export const VERB_OPTIONS = {
  volume: list("VG/LV", "a volume of the set (repeatable; default: the configured ones)"),
  size: text("POLICY", "the snapshots' size policy (default 20%ORIGIN)", sizeOf, true),
  kind: text("KIND", "the kind of set, for naming and retention (default manual)", kindOf),
  cancel: flag("take the one-shot boot back"),
  follow: flag("keep watching (a pass every [watchdog] interval) until stopped"),
  to: text("PATH", "where to"),
  exclude: list("PATTERN", "leave out what matches (tar --exclude; repeatable)"),
  compress: text("zstd|none", "compress the archive with zstd (default) or not", compressionOf),
  verify: text("ARCHIVE", "check this archive against its manifest and read it to the end"),
} as const;

export type VerbOptionName = keyof typeof VERB_OPTIONS;

/** A verb's own options as it sees them: each read and checked. */
export type OptionValues<O extends VerbOptionName> = {
  readonly [N in O]: ReturnType<(typeof VERB_OPTIONS)[N]["read"]>;
};

/** Help and usage never list these two: the usage lines name them. */
export const META_OPTIONS = {
  help: flag("this help", "h"),
  version: flag("rootsnap's version"),
} as const;

/** `--name VALUE` or `-s, --name VALUE`, as help shows an option. */
export function optionLabel(name: string, spec: OptionSpec<unknown>, value = spec.value): string {
  const long = `--${name}${value === undefined ? "" : ` ${value}`}`;
  return spec.short === undefined ? long : `-${spec.short}, ${long}`;
}
