// The command line of the contract, parsed with node:util parseArgs from the verb table:
// its verbs, their arguments and options.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../system/errors.ts";
import {
  GLOBAL_OPTIONS,
  META_OPTIONS,
  VERB_OPTIONS,
  type OptionSpec,
  type VerbOptionName,
} from "./options.ts";
import { isVerb, VERB_NAMES, VERBS, type VerbName } from "./verbs.ts";

/** Verbs of the contract that this build does not provide yet. */
const LATER_VERBS: string[] = [];

const ALL_OPTIONS: Readonly<Record<string, OptionSpec<unknown>>> = {
  ...GLOBAL_OPTIONS,
  ...META_OPTIONS,
  ...VERB_OPTIONS,
};

/** What parseArgs needs of each option. */
const PARSE_OPTIONS = Object.fromEntries(
  Object.entries(ALL_OPTIONS).map(([name, spec]) => [
    name,
    {
      type: spec.type,
      ...(spec.multiple === true ? { multiple: true } : {}),
      ...(spec.short === undefined ? {} : { short: spec.short }),
    },
  ]),
) as NonNullable<ParseArgsConfig["options"]>;

export interface GlobalFlags {
  readonly json: boolean;
  readonly config: string | undefined;
  readonly dryRun: boolean;
  readonly yes: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  /** Seconds to wait for another rootsnap's lock; undefined: the default. */
  readonly waitSeconds: number | undefined;
  /** Times in tables in UTC rather than local time. */
  readonly utc: boolean;
  /** Tables without their header lines. */
  readonly noHeadings: boolean;
}

export interface VerbInvocation {
  readonly kind: "verb";
  readonly verb: VerbName;
  readonly args: readonly string[];
  readonly flags: GlobalFlags;
  /** The verb's own options (VerbSpec.options), each read and checked. */
  readonly options: Readonly<Record<string, unknown>>;
}

export type Invocation =
  /** `--help`, `help`: the whole command line; with a verb, that verb's. */
  | { readonly kind: "help"; readonly verb?: VerbName }
  | { readonly kind: "version"; readonly json: boolean }
  | VerbInvocation;

/** parseArgs messages are long and name node; keep what the user typed. */
function usageFrom(error: unknown, argv: readonly string[]): UsageError {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  const option = /'([^']+)'/.exec(message)?.[1] ?? "";
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const near = nearestOption(option);
    return new UsageError(
      `unknown option ${option}`,
      near === undefined ? undefined : `did you mean --${near}? see rootsnap --help`,
    );
  }
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
const NUMERIC_OPTIONS = new Set(
  Object.entries(ALL_OPTIONS)
    .filter(([, spec]) => spec.numeric === true)
    .map(([name]) => `--${name}`),
);

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

/** Edits from a to b (insert, delete, replace, swap two neighbours), for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i += 1) {
    const row = d[i] ?? [];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(at(i, j), at(i - 2, j - 2) + 1);
    }
  }
  return at(a.length, b.length);
}

/** The name nearest to a mistyped word, when one is near enough to be meant. */
function nearest<T extends string>(word: string, names: readonly T[]): T | undefined {
  let best: T | undefined;
  let bestDistance = Infinity;
  for (const name of names) {
    const d = distance(word, name);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

export function nearestVerb(word: string): VerbName | undefined {
  return nearest(word, VERB_NAMES);
}

/** For `--flolow` or `-follow`: the long option meant, without its dashes. */
export function nearestOption(typed: string): string | undefined {
  const word = typed.replace(/^-+/, "").split("=")[0] ?? "";
  return word.length < 2 ? undefined : nearest(word, Object.keys(ALL_OPTIONS));
}

function verbOf(word: string | undefined): VerbName {
  if (word === undefined) throw new UsageError("no verb given");
  if (LATER_VERBS.includes(word))
    throw new UsageError(`rootsnap ${word} is not part of this version`);
  if (!isVerb(word)) {
    const near = nearestVerb(word);
    throw new UsageError(
      `unknown verb ${JSON.stringify(word)}`,
      near === undefined ? undefined : `did you mean ${near}? see rootsnap --help`,
    );
  }
  return word;
}

function checkVerbOptions(verb: VerbName, values: Record<string, unknown>): void {
  const own = VERBS[verb].options;
  const foreign = Object.keys(values).find(
    (name) => Object.hasOwn(VERB_OPTIONS, name) && !Object.hasOwn(own, name),
  );
  if (foreign !== undefined)
    throw new UsageError(
      `option --${foreign} does not apply to ${verb}`,
      `rootsnap help ${verb} lists its options`,
    );
}

function checkArguments(verb: VerbName, args: readonly string[]): void {
  const { args: count, usage } = VERBS[verb];
  if (args.length < count.min || args.length > count.max) {
    const problem =
      args.length < count.min
        ? "missing argument"
        : `unexpected argument ${JSON.stringify(args[count.max])}`;
    throw new UsageError(`${verb}: ${problem}`, `usage: rootsnap ${usage}`);
  }
}

/** `help`, `help VERB`, `--help`, `VERB --help`. */
function helpOf(positionals: readonly string[], asked: boolean): Invocation | undefined {
  const [first, second, ...rest] = positionals;
  if (first === "help") {
    if (rest.length > 0)
      throw new UsageError(
        `help: unexpected argument ${JSON.stringify(rest[0])}`,
        "usage: rootsnap help [VERB]",
      );
    return second === undefined ? { kind: "help" } : { kind: "help", verb: verbOf(second) };
  }
  if (!asked) return undefined;
  return first !== undefined && isVerb(first) ? { kind: "help", verb: first } : { kind: "help" };
}

export function parseCommandLine(argv: readonly string[]): Invocation {
  let parsed;
  const words = joinNegativeValues(argv);
  try {
    parsed = parseArgs({
      args: words,
      options: PARSE_OPTIONS,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw usageFrom(error, words);
  }
  const { values, positionals } = parsed;
  const help = helpOf(positionals, values.help === true);
  if (help !== undefined) return help;
  if (values.version === true)
    return { kind: "version", json: GLOBAL_OPTIONS.json.read(values.json) };
  const verb = verbOf(positionals[0]);
  checkVerbOptions(verb, values);
  const operands = positionals.slice(1);
  checkArguments(verb, operands);
  const flags: GlobalFlags = {
    json: GLOBAL_OPTIONS.json.read(values.json),
    config: GLOBAL_OPTIONS.config.read(values.config),
    dryRun: GLOBAL_OPTIONS["dry-run"].read(values["dry-run"]),
    yes: GLOBAL_OPTIONS.yes.read(values.yes),
    quiet: GLOBAL_OPTIONS.quiet.read(values.quiet),
    verbose: GLOBAL_OPTIONS.verbose.read(values.verbose),
    waitSeconds: GLOBAL_OPTIONS.wait.read(values.wait),
    utc: GLOBAL_OPTIONS.utc.read(values.utc),
    noHeadings: GLOBAL_OPTIONS["no-headings"].read(values["no-headings"]),
  };
  const spec = VERBS[verb];
  const options = Object.fromEntries(
    (Object.keys(spec.options) as VerbOptionName[]).map((name) => [
      name,
      VERB_OPTIONS[name].read(values[name]),
    ]),
  );
  spec.check(operands, options);
  return { kind: "verb", verb, args: operands, flags, options };
}
