// Shell completions for bash, zsh and fish, made at build time from the verb table: verbs,
// options, set names (from `rootsnap list --json`, nothing when not root), package
// managers for hook, and file names where a verb takes a path.
import { SET_KINDS } from "../sets/tags.ts";
import { GLOBAL_OPTIONS, META_OPTIONS, VERB_OPTIONS, type OptionSpec } from "./options.ts";
import { VERB_NAMES, VERBS, type Verb, type VerbName } from "./verbs.ts";

/** What a verb's positional arguments are, in order. */
type Positional = "set" | "file" | "dir" | "verb" | readonly string[];

export const POSITIONALS: Readonly<Partial<Record<VerbName, readonly Positional[]>>> = {
  show: ["set"],
  remove: ["set"],
  revert: ["set"],
  mount: ["set", "dir"],
  umount: ["set"],
  backup: ["set"],
  restore: ["file"],
  hook: [["apt", "pacman", "dnf"]],
};

/** What an option's value is; undefined: nothing to offer. */
function valueOf(verb: VerbName | undefined, option: string): Positional | undefined {
  if (option === "config" || option === "verify") return "file";
  if (option === "to") return verb === "restore" ? "dir" : "file";
  if (option === "kind") return SET_KINDS;
  if (option === "compress") return ["zstd", "none"];
  return undefined;
}

export interface CompletionOption {
  readonly name: string;
  readonly short: string | undefined;
  readonly takesValue: boolean;
  readonly repeatable: boolean;
  readonly help: string;
  readonly value: Positional | undefined;
}

export interface CompletionVerb {
  readonly name: VerbName;
  readonly summary: string;
  readonly options: readonly CompletionOption[];
  readonly positionals: readonly Positional[];
}

function option(
  verb: VerbName | undefined,
  name: string,
  spec: OptionSpec<unknown>,
  help = spec.help,
) {
  return {
    name,
    short: spec.short,
    takesValue: spec.type === "string",
    repeatable: spec.multiple === true,
    help,
    value: valueOf(verb, name),
  } satisfies CompletionOption;
}

const ALWAYS = ["json", "quiet", "verbose"] as const;

/** The options a verb's completion offers: its own, the globals it uses, --help. */
export function completionVerbs(): CompletionVerb[] {
  return VERB_NAMES.filter((name) => !VERBS[name].hidden).map((name) => {
    const verb: Verb = VERBS[name];
    const own = Object.entries(verb.options).map(([key, help]) =>
      option(
        name,
        key,
        VERB_OPTIONS[key as keyof typeof VERB_OPTIONS],
        typeof help === "string" ? help : help?.help,
      ),
    );
    const globals = [...ALWAYS, ...verb.globals].map((key) =>
      option(name, key, GLOBAL_OPTIONS[key]),
    );
    return {
      name,
      summary: verb.summary,
      options: [...own, ...globals, option(name, "help", META_OPTIONS.help)],
      positionals: POSITIONALS[name] ?? [],
    };
  });
}

/** The options before a verb: every global one, --help and --version. */
export function leadingOptions(): CompletionOption[] {
  return [
    ...Object.entries(GLOBAL_OPTIONS).map(([key, spec]) => option(undefined, key, spec)),
    ...Object.entries(META_OPTIONS).map(([key, spec]) => option(undefined, key, spec)),
  ];
}

/** Set names as the completions read them from `rootsnap list --json`. */
const SET_NAMES_SED = `sed -n 's/^      "name": "\\([^"]*\\)",$/\\1/p'`;

function words(list: readonly string[]): string {
  return list.join(" ");
}

function flags(options: readonly CompletionOption[]): string {
  return words(
    options.flatMap((o) => [`--${o.name}`, ...(o.short === undefined ? [] : [`-${o.short}`])]),
  );
}

function bashValue(value: Positional | undefined): string {
  if (value === undefined) return "return 0";
  if (value === "file") return "_rootsnap_reply_files -f";
  if (value === "dir") return "_rootsnap_reply_files -d";
  if (value === "set") return '_rootsnap_reply "$(_rootsnap_sets)"';
  if (value === "verb") return `_rootsnap_reply "${words(verbNames())}"`;
  return `_rootsnap_reply "${words(value)}"`;
}

function verbNames(): string[] {
  return VERB_NAMES.filter((name) => !VERBS[name].hidden);
}

export function bashCompletion(): string {
  const verbs = completionVerbs();
  const valued = [...leadingOptions(), ...verbs.flatMap((v) => v.options)].filter(
    (o) => o.takesValue,
  );
  const valuedWords = [...new Set(valued.map((o) => `--${o.name}`))];
  const valueCases = verbs.flatMap((v) =>
    v.options
      .filter((o) => o.takesValue)
      .map((o) => `      ${v.name}:--${o.name}) ${bashValue(o.value)}; return ;;`),
  );
  const optionCases = verbs.map((v) => `      ${v.name}) opts="${flags(v.options)}" ;;`);
  const positionalCases = [
    `      help:0) ${bashValue("verb")} ;;`,
    ...verbs.flatMap((v) =>
      v.positionals.map((p, i) => `      ${v.name}:${i}) ${bashValue(p)} ;;`),
    ),
  ];
  return `# bash completion for rootsnap(8)                         -*- shell-script -*-

_rootsnap_sets() {
  # Set names need root; anyone else quietly gets none.
  [ "\${EUID:-1}" -eq 0 ] || return 0
  command rootsnap list --json 2>/dev/null | ${SET_NAMES_SED}
}

_rootsnap_reply() {
  local IFS=$' \\t\\n'
  mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

_rootsnap_reply_files() {
  mapfile -t COMPREPLY < <(compgen "$1" -- "$cur")
  compopt -o filenames 2>/dev/null
}

_rootsnap() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local verb="" npos=0 i word opts
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    case $word in
      ${valuedWords.join("|")}) ((i++)) ;;
      -*) ;;
      *) if [ -z "$verb" ]; then verb=$word; else ((npos++)); fi ;;
    esac
  done
  if [[ $prev == --* && $COMP_CWORD -gt 1 ]]; then
    case \${verb:-}:$prev in
${valueCases.join("\n")}
      *:--config) ${bashValue("file")}; return ;;
      *:--wait) return 0 ;;
    esac
  fi
  if [[ $cur == -* ]]; then
    case $verb in
${optionCases.join("\n")}
      *) opts="${flags(leadingOptions())}" ;;
    esac
    _rootsnap_reply "$opts"
    return
  fi
  if [ -z "$verb" ]; then
    _rootsnap_reply "${words([...verbNames(), "help"])}"
    return
  fi
  case $verb:$npos in
${positionalCases.join("\n")}
  esac
}

complete -F _rootsnap rootsnap
`;
}

/** Text safe inside a zsh _arguments description or _describe item. */
function zshText(text: string): string {
  return text
    .replace(/[[\]]/g, (c) => (c === "[" ? "(" : ")"))
    .replace(/\\/g, "")
    .replace(/:/g, " -")
    .replace(/'/g, "'\\''");
}

function zshAction(value: Positional | undefined): string {
  if (value === undefined) return " ";
  if (value === "file") return "_files";
  if (value === "dir") return "_files -/";
  if (value === "set") return "_rootsnap_sets";
  if (value === "verb") return `(${words(verbNames())})`;
  return `(${words(value)})`;
}

function zshSpec(o: CompletionOption): string {
  const long = `--${o.name}${o.takesValue ? "=" : ""}`;
  const repeat = o.repeatable ? "*" : "";
  const rest = `[${zshText(o.help)}]${o.takesValue ? `:${o.name}:${zshAction(o.value)}` : ""}`;
  if (o.short === undefined) return `'${repeat}${long}${rest}'`;
  return `'(-${o.short} --${o.name})'{-${o.short},${long}}'${rest}'`;
}

export function zshCompletion(): string {
  const verbs = completionVerbs();
  const describe = verbs.map((v) => `    '${v.name}:${zshText(v.summary)}'`);
  const cases = verbs.map((v) => {
    const positionals = v.positionals.map(
      (p, i) => `'${i + 1}:${typeof p === "string" ? p : "argument"}:${zshAction(p)}'`,
    );
    return `    ${v.name}) _arguments ${[...v.options.map(zshSpec), ...positionals].join(" ")} ;;`;
  });
  return `#compdef rootsnap
# zsh completion for rootsnap(8)

_rootsnap_sets() {
  local -a sets
  # Set names need root; anyone else quietly gets none.
  (( EUID == 0 )) || return 1
  sets=(\${(f)"$(command rootsnap list --json 2>/dev/null | ${SET_NAMES_SED})"})
  _describe -t sets 'snapshot set' sets
}

_rootsnap_verbs() {
  local -a verbs
  verbs=(
${describe.join("\n")}
    'help:help of rootsnap or of one verb'
  )
  _describe -t verbs 'rootsnap verb' verbs
}

_rootsnap() {
  local curcontext="$curcontext" state line
  typeset -A opt_args
  _arguments -C ${leadingOptions().map(zshSpec).join(" ")} '1:verb:_rootsnap_verbs' '*::argument:->verb'
  [[ $state == verb ]] || return
  case $line[1] in
${cases.join("\n")}
    help) _arguments '1:verb:_rootsnap_verbs' ;;
  esac
}

_rootsnap "$@"
`;
}

function fishText(text: string): string {
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

function fishValue(value: Positional | undefined): string {
  if (value === undefined) return " -r -f";
  if (value === "file" || value === "dir") return " -r -F";
  if (value === "set") return " -r -f -a '(__rootsnap_sets)'";
  if (value === "verb") return ` -r -f -a '${words(verbNames())}'`;
  return ` -r -f -a '${words(value)}'`;
}

export function fishCompletion(): string {
  const verbs = completionVerbs();
  const lines: string[] = [];
  for (const o of leadingOptions()) {
    const short = o.short === undefined ? "" : ` -s ${o.short}`;
    const value = o.takesValue ? fishValue(o.value) : "";
    lines.push(
      `complete -c rootsnap -n '__fish_use_subcommand' -l ${o.name}${short}${value} -d ${fishText(o.help)}`,
    );
  }
  for (const v of verbs) {
    lines.push(
      `complete -c rootsnap -n '__fish_use_subcommand' -a ${v.name} -d ${fishText(v.summary)}`,
    );
    const when = `-n '__fish_seen_subcommand_from ${v.name}'`;
    for (const o of v.options) {
      const short = o.short === undefined ? "" : ` -s ${o.short}`;
      const value = o.takesValue ? fishValue(o.value) : "";
      lines.push(
        `complete -c rootsnap ${when} -l ${o.name}${short}${value} -d ${fishText(o.help)}`,
      );
    }
    const first = v.positionals[0];
    if (first === "set")
      lines.push(`complete -c rootsnap ${when} -a '(__rootsnap_sets)' -d 'snapshot set'`);
    else if (first === "file" || first === "dir") lines.push(`complete -c rootsnap ${when} -F`);
    else if (Array.isArray(first)) lines.push(`complete -c rootsnap ${when} -a '${words(first)}'`);
  }
  lines.push(
    `complete -c rootsnap -n '__fish_use_subcommand' -a help -d 'help of rootsnap or of one verb'`,
    `complete -c rootsnap -n '__fish_seen_subcommand_from help' -a '${words(verbNames())}'`,
  );
  return `# fish completion for rootsnap(8)

function __rootsnap_sets
    # Set names need root; anyone else quietly gets none.
    test (id -u) -eq 0; or return 0
    command rootsnap list --json 2>/dev/null | string replace -r -f '^      "name": "([^"]*)",$' '$1'
end

complete -c rootsnap -f
${lines.join("\n")}
`;
}
