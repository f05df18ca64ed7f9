// rootsnap(8) and rootsnap.toml(5) in man(7) markup, made at build time from the verb
// table, the options, the long help and the configuration keys.
import { CONFIG_KEYS, CONFIG_TABLES, EXAMPLE_CONFIG } from "../config/keys.ts";
import { SIZE_SYNTAX } from "../sets/size.ts";
import { SET_KINDS } from "../sets/tags.ts";
import { DEFAULT_LOCK_WAIT_SECONDS } from "../system/lock.ts";
import {
  BOOT_COPY_DIR,
  BOOT_FAILURE_PATH,
  BOOT_PLAN_PATH,
  DEFAULT_CONFIG_PATH,
  DEFAULT_LOCK_PATH,
  RUN_DIR,
  STATE_DIR,
} from "../system/paths.ts";
import { EXIT_MEANINGS, exitsOf, MANUAL, type VerbManual } from "./manual.ts";
import {
  GLOBAL_OPTIONS,
  GLOBAL_ORDER,
  optionLabel,
  VERB_OPTIONS,
  type VerbOptionName,
} from "./options.ts";
import { VERB_NAMES, VERBS, type Verb, type VerbName } from "./verbs.ts";

/** Source lines stay this short, as mandoc's style checks want. */
const SOURCE_WIDTH = 78;

/** One word safe in man(7): backslashes escaped, dashes as minus signs. */
function escapeWord(word: string): string {
  return word.replace(/\\/g, "\\e").replace(/-/g, "\\-");
}

/**
 * Text as man(7) source: each sentence on a line of its own, long ones folded, no line
 * starting with a control character.
 */
export function roff(text: string): string {
  const sentences = text.split(/(?<=[.!?:;])\s+(?=[A-Z(])|\n/);
  const out: string[] = [];
  for (const sentence of sentences) {
    let line = "";
    for (const word of sentence.split(/\s+/).filter((w) => w !== "")) {
      const escaped = escapeWord(word);
      if (line !== "" && line.length + 1 + escaped.length > SOURCE_WIDTH) {
        out.push(line);
        line = escaped;
      } else line = line === "" ? escaped : `${line} ${escaped}`;
    }
    out.push(line);
  }
  return out.map((line) => line.replace(/^([.'])/, "\\&$1")).join("\n");
}

/** Lines shown as they are (an example, a file), escaped but not folded. */
function verbatim(text: string): string {
  return text
    .split("\n")
    .map((line) => escapeWord(line).replace(/^([.'])/, "\\&$1"))
    .join("\n");
}

/** The page's lines, without the paragraph breaks a heading makes already. */
function lines(...parts: readonly (string | readonly string[])[]): string {
  const all = parts.flat();
  return all
    .filter((line, i) => !(line === ".PP" && /^\.S[HS] /.test(all[i - 1] ?? "")))
    .join("\n");
}

function heading(name: string): string {
  return `.SH ${name}`;
}

function paragraphs(texts: readonly string[]): string[] {
  return texts.flatMap((text) => [".PP", roff(text)]);
}

/** A tagged paragraph: the tag in bold, the text under it. */
function tagged(tag: string, text: string): string[] {
  return [".TP", `.B ${roff(tag)}`, roff(text)];
}

function example(command: string, says: string): string[] {
  return [".PP", roff(says) + ":", ".RS", ".EX", verbatim(command), ".EE", ".RE"];
}

function verbSection(name: VerbName): string[] {
  const verb: Verb = VERBS[name];
  const manual: VerbManual = MANUAL[name];
  const usages = [verb.usage, ...verb.forms.map((form) => form.usage)];
  const options = Object.entries(verb.options).flatMap(([option, help]) => {
    const spec = VERB_OPTIONS[option as VerbOptionName];
    const text = typeof help === "string" ? help : help.help;
    const value = typeof help === "string" ? undefined : help.value;
    return tagged(optionLabel(option, spec, value ?? spec.value), text);
  });
  const globals = verb.globals.filter((global) => global !== "wait" || verb.lock !== "never");
  return [
    `.SS ${roff(name)}`,
    ...usages.flatMap((usage) => [".PP", ".B rootsnap", roff(usage)]),
    ...paragraphs([verb.description, ...manual.about]),
    ...(options.length > 0 ? [".PP", "Options:", ".RS", ...options, ".RE"] : []),
    ...(globals.length > 0
      ? [".PP", roff(`Global options it uses: ${globals.map((g) => `--${g}`).join(", ")}.`)]
      : []),
    ...(verb.root ? [".PP", "Needs root."] : []),
    ...manual.examples.flatMap((e) => example(`rootsnap ${e.command}`, e.says)),
    ".PP",
    roff(`Exit codes: ${exitsOf(name).join(", ")}.`),
  ];
}

function globalOptions(): string[] {
  return GLOBAL_ORDER.flatMap((name) => {
    const spec = GLOBAL_OPTIONS[name];
    return tagged(optionLabel(name, spec), spec.help);
  }).concat(
    tagged("-h, --help", "show help: of the verb, when one is given"),
    tagged("--version", "show rootsnap's version"),
  );
}

const SAFETY = [
  "A set is made whole or not at all: every volume group's free space is checked before the first lvcreate, and when one lvcreate fails the snapshots already made are removed again.",
  `Every verb that changes LVM, the boot loader or systemd takes an exclusive lock (${DEFAULT_LOCK_PATH}) and waits for another rootsnap at most --wait seconds (default ${DEFAULT_LOCK_WAIT_SECONDS}), then exits 75. list, show, status and doctor only look: they take no lock and change nothing.`,
  "Every file is written atomically (a temporary file, fsync, rename), and setup checks units with systemd-analyze verify and the new grub.cfg with grub-script-check before anything is replaced; a failed step puts everything back.",
  "--dry-run prints the exact commands and file diffs and changes nothing; -v shows every command before it runs. Nothing is left mounted after a backup, a failed one included.",
  "A revert asks first, and without a terminal it needs --yes; so do remove, prune and uninstall.",
];

const FILES: readonly [string, string][] = [
  [DEFAULT_CONFIG_PATH, "the configuration, see rootsnap.toml(5)"],
  [STATE_DIR, "what setup installed, its undo log and the boot plan"],
  [BOOT_PLAN_PATH, "the boot-time set's commands, checked ahead"],
  ["/etc/systemd/system/rootsnap-*.service, rootsnap-*.timer", "the units setup installs"],
  ["/etc/grub.d/42_rootsnap", "makes GRUB's rootsnap-boot entry at every update-grub"],
  [
    "loader/entries/*-rootsnap.conf",
    "rootsnap's Boot Loader Spec entry (systemd-boot, GRUB with BLSCFG)",
  ],
  ["/etc/kernel/install.d/95-rootsnap.install", "makes that entry again after kernel-install"],
  ["/etc/apt/apt.conf.d/80rootsnap", "apt's hook (pacman and dnf have theirs)"],
  [DEFAULT_LOCK_PATH, "the lock"],
  [RUN_DIR, "mount points of mounted sets"],
  [BOOT_FAILURE_PATH, "why this boot's set was not made"],
  [BOOT_COPY_DIR, "copies of a separate /boot for the sets that hold /"],
];

function header(name: string, section: number, version: string, date: string): string {
  return `.TH ${name.toUpperCase().replace(/-/g, "\\-")} ${section} ${date} "rootsnap ${version}" "System Administration"`;
}

export function rootsnapManual(version: string, date: string): string {
  const visible = VERB_NAMES.filter((name) => !VERBS[name].hidden);
  const hidden = VERB_NAMES.filter((name) => VERBS[name].hidden);
  const codes = Object.entries(EXIT_MEANINGS).flatMap(([code, meaning]) => tagged(code, meaning));
  return (
    lines(
      header("rootsnap", 8, version, date),
      heading("NAME"),
      "rootsnap \\- LVM snapshot sets of a whole system:",
      "at boot, before updates, on demand",
      heading("SYNOPSIS"),
      ".B rootsnap",
      roff("[--json] [--config FILE] [--dry-run] [--yes] [--wait SECONDS] [-q] [-v] VERB ..."),
      ".br",
      ".B rootsnap",
      roff("help [VERB] | VERB --help | --version"),
      heading("DESCRIPTION"),
      paragraphs([
        "rootsnap takes LVM snapshots of the volumes a Linux system lives on (the root LV and any other configured LV) as one set: at boot, before every package manager run, on a schedule or by hand. A set can be mounted read-only, archived with tar while the system keeps running, merged back to undo every change made since (lvconvert --merge), or removed to keep them.",
        "Installing rootsnap changes nothing in the boot. rootsnap doctor checks the system, rootsnap setup installs the boot-time unit, the GRUB entry and the package managers' hooks, and rootsnap uninstall removes them again.",
      ]),
      heading("VERBS"),
      visible.flatMap(verbSection),
      heading("VERBS RUN BY ROOTSNAP'S UNITS"),
      hidden.flatMap(verbSection),
      heading("GLOBAL OPTIONS"),
      globalOptions(),
      heading("SIZE POLICIES AND KINDS"),
      paragraphs([
        `POLICY is ${SIZE_SYNTAX}.`,
        `KIND is one of ${SET_KINDS.join(", ")}: it names the set (KIND-YYYYMMDD-HHMMSS) and chooses its retention policy.`,
      ]),
      heading("SAFETY"),
      paragraphs(SAFETY),
      heading("EXIT STATUS"),
      codes,
      heading("FILES"),
      FILES.flatMap(([path, what]) => tagged(path, what)),
      heading("EXAMPLES"),
      example(
        "rootsnap doctor\nrootsnap create pre-upgrade\napt full-upgrade\nrootsnap list",
        "Before an upgrade",
      ),
      example("rootsnap revert pre-upgrade\nreboot", "Undo it: the system comes back as it was"),
      example("rootsnap remove pre-upgrade", "Or keep it and free the space"),
      heading("SEE ALSO"),
      ".BR rootsnap.toml (5),",
      ".BR lvm (8),",
      ".BR lvcreate (8),",
      ".BR lvconvert (8),",
      ".BR lvmthin (7),",
      ".BR grub\\-reboot (8),",
      ".BR systemd.time (7)",
    ) + "\n"
  );
}

export function configManual(version: string, date: string): string {
  const tables = CONFIG_TABLES.flatMap((table) => {
    const keys = CONFIG_KEYS.filter((key) => key.table === table.table);
    return [
      `.SS ${roff(table.header)}`,
      ...paragraphs([table.about]),
      ...keys.flatMap((key) => [
        ".TP",
        `.B ${roff(key.key)}`,
        roff(`(${key.type}; default: ${key.default}) ${key.about}.`),
      ]),
    ];
  });
  return (
    lines(
      header("rootsnap.toml", 5, version, date),
      heading("NAME"),
      "rootsnap.toml \\- configuration of rootsnap",
      heading("SYNOPSIS"),
      roff(DEFAULT_CONFIG_PATH),
      heading("DESCRIPTION"),
      paragraphs([
        `rootsnap reads ${DEFAULT_CONFIG_PATH}, or the file --config names, in TOML. The file and every table in it are optional: without it a set holds the LV mounted at /, with thick snapshots of 20%ORIGIN. An unknown key, a wrong type or a bad value is refused with the file's line and exit 78, before anything changes.`,
        "After changing the file, run rootsnap setup again so the boot plan and the units follow it.",
      ]),
      heading("TABLES AND KEYS"),
      tables,
      heading("EXAMPLE"),
      ".PP",
      ".EX",
      verbatim(EXAMPLE_CONFIG.trimEnd()),
      ".EE",
      heading("SEE ALSO"),
      ".BR rootsnap (8),",
      ".BR systemd.time (7)",
    ) + "\n"
  );
}
