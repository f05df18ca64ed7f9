// `rootsnap --help` and `rootsnap VERB --help`, made from the verb table, for 80 columns.
import { DEFAULT_LOCK_WAIT_SECONDS } from "../system/lock.ts";
import { SIZE_SYNTAX } from "../sets/size.ts";
import { SET_KINDS } from "../sets/tags.ts";
import {
  GLOBAL_OPTIONS,
  GLOBAL_ORDER,
  optionLabel,
  VERB_OPTIONS,
  type OptionSpec,
  type VerbOptionName,
} from "./options.ts";
import { EXIT_MEANINGS, exitsOf, MANUAL, type VerbManual } from "./manual.ts";
import { VERB_NAMES, VERBS, type Verb, type VerbName } from "./verbs.ts";

const WIDTH = 80;
/** Where a verb's summary starts. */
const COLUMN = 20;
/** Where an option's help starts. */
const OPTION_COLUMN = 24;
/** Where an example's explanation starts. */
const EXAMPLE_INDENT = 6;

/** Words filled into lines of at most `width`, every line after the first indented. */
export function wrap(
  words: readonly string[],
  width: number,
  indent: number,
  first = "",
): string[] {
  const lines: string[] = [];
  let line = first;
  for (const word of words) {
    const fresh = line === "" || line.endsWith(" ");
    if (!fresh && line.length + 1 + word.length > width) {
      lines.push(line);
      line = " ".repeat(indent) + word;
    } else line = fresh ? line + word : `${line} ${word}`;
  }
  lines.push(line);
  return lines;
}

function paragraph(text: string, indent = 0): string {
  return wrap(text.split(/\s+/), WIDTH, indent, " ".repeat(indent)).join("\n") + "\n";
}

/** A usage's words, a bracketed group (`[--size POLICY]`) kept as one. */
function usageWords(usage: string): string[] {
  const words: string[] = [];
  let depth = 0;
  for (const word of usage.split(" ")) {
    const last = words.length - 1;
    if (depth > 0 && last >= 0) words[last] = `${words[last] ?? ""} ${word}`;
    else words.push(word);
    depth += (word.match(/\[/g)?.length ?? 0) - (word.match(/\]/g)?.length ?? 0);
  }
  return words;
}

/** `  label     summary`, the summary at COLUMN, on a line of its own when the label is long. */
function row(label: string, summary: string, column = COLUMN): string {
  const head = `  ${label}`;
  const words = summary.split(/\s+/);
  if (head.length + 2 <= column)
    return wrap(words, WIDTH, column, head.padEnd(column)).join("\n") + "\n";
  return `${head}\n${wrap(words, WIDTH, column, " ".repeat(column)).join("\n")}\n`;
}

/** `rootsnap USAGE` after `lead`, continued under the verb's first argument. */
function usageLine(lead: string, usage: string): string {
  const [verb = "", ...rest] = usageWords(usage);
  const first = `${lead}rootsnap ${verb}`;
  return wrap(rest, WIDTH, first.length + 1, first).join("\n") + "\n";
}

const SYNTAX = {
  size: `POLICY: ${SIZE_SYNTAX}.`,
  kind: `KIND: ${SET_KINDS.join(", ")}.`,
};

const EXIT_CODES =
  "Exit codes: 0 ok, 1 failed, 64 usage, 65 bad data, 69 program missing, 70 internal, 73 no space, 75 another rootsnap runs, 77 not root (setup: a program others can replace), 78 bad configuration.";

function optionRow(name: string, spec: OptionSpec<unknown>, value?: string, help?: string): string {
  return row(optionLabel(name, spec, value ?? spec.value), help ?? spec.help, OPTION_COLUMN);
}

export function globalHelp(): string {
  const verbs = VERB_NAMES.map((name): Verb => VERBS[name]).filter((verb) => !verb.hidden);
  const rows = verbs.flatMap((verb) => [
    row(verb.usage, verb.summary),
    ...verb.forms.map((form) => row(form.usage, form.summary)),
  ]);
  return [
    "Usage: rootsnap [--json] [--config FILE] [--dry-run] [--yes] [-q] [-v]\n" +
      "                [--wait SECONDS] VERB ...\n" +
      "       rootsnap help [VERB] | VERB --help | --version\n",
    `Verbs:\n${rows.join("")}`,
    `Global options:\n${GLOBAL_ORDER.map((name) => optionRow(name, GLOBAL_OPTIONS[name])).join("")}`,
    paragraph(SYNTAX.size) + paragraph(SYNTAX.kind) + paragraph(EXIT_CODES),
  ].join("\n");
}

/** The --wait line of one verb: its own default. */
function waitHelp(verb: Verb): string {
  const seconds = verb.lockWaitSeconds ?? DEFAULT_LOCK_WAIT_SECONDS;
  return `wait for another rootsnap (default ${seconds} s; 0: not at all)`;
}

export function verbHelp(name: VerbName): string {
  const verb: Verb = VERBS[name];
  const usage = [verb.usage, ...verb.forms.map((form) => form.usage)]
    .map((line, index) => usageLine(index === 0 ? "Usage: " : "       ", line))
    .join("");
  const own = Object.entries(verb.options).map(([option, help]) => {
    const spec = VERB_OPTIONS[option as VerbOptionName];
    return typeof help === "string"
      ? optionRow(option, spec, undefined, help)
      : optionRow(option, spec, help.value, help.help);
  });
  const globals = GLOBAL_ORDER.filter(
    (option) =>
      option === "json" ||
      option === "quiet" ||
      option === "verbose" ||
      verb.globals.includes(option),
  ).map((option) =>
    optionRow(
      option,
      GLOBAL_OPTIONS[option],
      undefined,
      option === "wait" ? waitHelp(verb) : undefined,
    ),
  );
  const syntax = [
    ...(Object.hasOwn(verb.options, "size") ? [SYNTAX.size] : []),
    ...(Object.hasOwn(verb.options, "kind") ? [SYNTAX.kind] : []),
  ];
  const summary = `${verb.summary.charAt(0).toUpperCase()}${verb.summary.slice(1)}.`;
  const manual: VerbManual = MANUAL[name];
  const examples = manual.examples.map(
    (example) =>
      `  rootsnap ${example.command}
${paragraph(example.says, EXAMPLE_INDENT)}`,
  );
  const exits = exitsOf(name).map((code) => row(String(code), EXIT_MEANINGS[code], 8));
  return [
    usage,
    paragraph(summary),
    paragraph(verb.description),
    ...manual.about.map((text) => paragraph(text)),
    ...(own.length > 0 ? [`Options:\n${own.join("")}`] : []),
    `Global options:\n${globals.join("")}`,
    ...(syntax.length > 0 ? [syntax.map((line) => paragraph(line)).join("")] : []),
    `Examples:\n${examples.join("")}`,
    `Exit codes:\n${exits.join("")}`,
    paragraph(`See also: man rootsnap, rootsnap help.`),
  ].join("\n");
}
