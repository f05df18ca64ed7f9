// Boot Loader Specification (BLS) Type #1 entries, as systemd-boot and GRUB's blscfg read
// them: one `key value` per line in loader/entries/*.conf. rootsnap's entry is a copy of
// the default entry with its kernel parameter added, named and versioned so that it sorts
// right after the entry it copies and can never become the default itself.
import { KERNEL_PARAMETER } from "./grub.ts";

export interface BlsEntry {
  /** The file name, e.g. "3a1f...-6.12.48+deb13-amd64.conf": the id a one-shot names. */
  readonly id: string;
  /** The lines as read, comments included, so a copy keeps what rootsnap does not know. */
  readonly lines: readonly string[];
}

/**
 * What marks rootsnap's entries: the file name's suffix and the first line. bootctl takes
 * entry names of letters, digits and "+-_." only; "-" sorts below "." after the same
 * prefix, so the copy's name sorts right after its source's.
 */
export const BLS_SUFFIX = "-rootsnap.conf";
const MARK =
  "# Written by rootsnap setup (a copy of the default entry); rootsnap uninstall removes it.";
const TITLE_SUFFIX = ", rootsnap boot-time snapshot";

export function parseBlsEntry(id: string, text: string): BlsEntry {
  return { id, lines: text.replace(/\n$/, "").split("\n") };
}

/** The first value of `key` (BLS keys are single words; the value is the rest of the line). */
export function blsField(entry: BlsEntry, key: string): string | undefined {
  for (const line of entry.lines) {
    const m = /^\s*(\S+)(?:\s+(.*?))?\s*$/.exec(line);
    if (m?.[1] === key) return m[2] ?? "";
  }
  return undefined;
}

/** An entry rootsnap wrote: its name and its first line say so. */
export function isRootsnapEntry(entry: BlsEntry): boolean {
  return entry.id.endsWith(BLS_SUFFIX) && entry.lines[0] === MARK;
}

/** "+3-1" and similar: the boot-counting part of a file name, which a copy must not carry. */
function withoutCounter(stem: string): string {
  return stem.replace(/\+\d+(-\d+)?$/, "");
}

/** The id of rootsnap's copy of `entry`. */
export function rootsnapEntryId(entry: BlsEntry): string {
  return `${withoutCounter(entry.id.replace(/\.conf$/, ""))}${BLS_SUFFIX}`;
}

/**
 * rootsnap's entry: the default entry's lines with the title marked, the kernel parameter
 * added to its options, and a version that sorts just below the default's ("~" sorts
 * before everything in systemd's and rpm's version comparison, even the end).
 */
export function rootsnapEntry(source: BlsEntry, parameter: string = KERNEL_PARAMETER): BlsEntry {
  const lines: string[] = [MARK];
  let options = false;
  let lastOptions = -1;
  for (const line of source.lines) {
    const m = /^(\s*)(\S+)(\s+)?(.*?)\s*$/.exec(line);
    const key = m?.[2];
    if (m === null || line.trimStart().startsWith("#") || key === undefined) {
      if (line !== MARK) lines.push(line);
      continue;
    }
    const space = m[3] ?? " ";
    const value = m[4] ?? "";
    if (key === "title") lines.push(`${m[1] ?? ""}title${space}${value}${TITLE_SUFFIX}`);
    else if (key === "version") lines.push(`${m[1] ?? ""}version${space}${value}~rootsnap`);
    else if (key === "options") {
      options = true;
      lastOptions = lines.length;
      lines.push(line.replace(/\s*$/, ""));
    } else lines.push(line);
  }
  if (options) {
    const last = lines[lastOptions] ?? "options";
    const words = last.trim().split(/\s+/).slice(1);
    if (!words.includes(parameter)) lines[lastOptions] = `${last} ${parameter}`;
  } else {
    lines.push(`options ${parameter}`);
  }
  if (blsField(source, "title") === undefined)
    lines.splice(1, 0, `title rootsnap boot-time snapshot`);
  return { id: rootsnapEntryId(source), lines };
}

export function serializeBlsEntry(entry: BlsEntry): string {
  return `${entry.lines.join("\n")}\n`;
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9";
const isAlpha = (c: string | undefined): boolean =>
  c !== undefined && ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z"));
const isVersionChar = (c: string): boolean => isDigit(c) || isAlpha(c) || "~-^.".includes(c);

/**
 * systemd's version comparison (the UAPI version format): "~" sorts before everything,
 * even the end; then "-", "^" and "." separate; digits compare as numbers and sort above
 * letters; other characters are skipped. Negative when a is older than b.
 */
export function compareVersions(a: string, b: string): number {
  const cmp = <T>(x: T, y: T): number => (x < y ? -1 : x > y ? 1 : 0);
  if (a === "" || b === "") return cmp(a, b);
  let i = 0;
  let j = 0;
  for (;;) {
    while (i < a.length && !isVersionChar(a.charAt(i))) i += 1;
    while (j < b.length && !isVersionChar(b.charAt(j))) j += 1;
    if (a.charAt(i) === "~" || b.charAt(j) === "~") {
      const r = cmp(a.charAt(i) !== "~" ? 1 : 0, b.charAt(j) !== "~" ? 1 : 0);
      if (r !== 0) return r;
      i += 1;
      j += 1;
    }
    if (i >= a.length || j >= b.length) return cmp(i < a.length ? 1 : 0, j < b.length ? 1 : 0);
    for (const sep of ["-", "^", "."]) {
      if (a.charAt(i) === sep || b.charAt(j) === sep) {
        const r = cmp(a.charAt(i) !== sep ? 1 : 0, b.charAt(j) !== sep ? 1 : 0);
        if (r !== 0) return r;
        i += 1;
        j += 1;
      }
    }
    let ii = i;
    let jj = j;
    if (isDigit(a.charAt(i)) || isDigit(b.charAt(j))) {
      while (isDigit(a.charAt(ii))) ii += 1;
      while (isDigit(b.charAt(jj))) jj += 1;
      const r = cmp(ii > i ? 1 : 0, jj > j ? 1 : 0);
      if (r !== 0) return r;
      while (a.charAt(i) === "0" && i < ii) i += 1;
      while (b.charAt(j) === "0" && j < jj) j += 1;
      const byLength = cmp(ii - i, jj - j);
      if (byLength !== 0) return byLength;
      const byDigits = cmp(a.slice(i, ii), b.slice(j, jj));
      if (byDigits !== 0) return byDigits;
    } else {
      while (isAlpha(a.charAt(ii))) ii += 1;
      while (isAlpha(b.charAt(jj))) jj += 1;
      const x = a.slice(i, ii);
      const y = b.slice(j, jj);
      const n = Math.min(x.length, y.length);
      const byText = cmp(x.slice(0, n), y.slice(0, n));
      if (byText !== 0) return byText;
      const byLength = cmp(x.length, y.length);
      if (byLength !== 0) return byLength;
    }
    i = ii;
    j = jj;
  }
}

/** Tries left from a boot-counting file name ("...+0-3.conf" has none), or undefined. */
function triesLeft(id: string): number | undefined {
  const m = /\+(\d+)(?:-\d+)?\.conf$/.exec(id);
  return m === null ? undefined : Number(m[1]);
}

/**
 * The order systemd-boot shows entries in: those with no tries left last; entries with a
 * sort-key before those without, by sort-key, machine-id, then newest version; the file
 * name (newest first) last of all.
 */
export function compareBlsEntries(a: BlsEntry, b: BlsEntry): number {
  const spent = (e: BlsEntry): number => (triesLeft(e.id) === 0 ? 1 : 0);
  if (spent(a) !== spent(b)) return spent(a) - spent(b);
  const ka = blsField(a, "sort-key");
  const kb = blsField(b, "sort-key");
  if ((ka === undefined) !== (kb === undefined)) return ka === undefined ? 1 : -1;
  if (ka !== undefined && kb !== undefined) {
    if (ka !== kb) return ka < kb ? -1 : 1;
    const ma = blsField(a, "machine-id") ?? "";
    const mb = blsField(b, "machine-id") ?? "";
    if (ma !== mb) return ma < mb ? -1 : 1;
    const byVersion = -compareVersions(blsField(a, "version") ?? "", blsField(b, "version") ?? "");
    if (byVersion !== 0) return byVersion;
  }
  return -compareVersions(a.id, b.id);
}

/** Shell-style glob of loader.conf's `default` (and LoaderEntryDefault): *, ? and [...]. */
export function globMatches(pattern: string, id: string): boolean {
  let re = "^";
  for (let k = 0; k < pattern.length; k += 1) {
    const c = pattern.charAt(k);
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const close = pattern.indexOf("]", k + 1);
      if (close < 0) re += "\\[";
      else {
        re += `[${pattern
          .slice(k + 1, close)
          .replace(/^!/, "^")
          .replace(/\\/g, "\\\\")}]`;
        k = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`${re}$`).test(id);
}

/** `default` in loader.conf, or undefined. */
export function loaderConfDefault(text: string | undefined): string | undefined {
  for (const line of (text ?? "").split("\n")) {
    const m = /^\s*default\s+(.+?)\s*$/.exec(line);
    if (m?.[1] !== undefined) return m[1];
  }
  return undefined;
}

/**
 * The entry systemd-boot starts when nobody chooses: the first, in its order, that the
 * EFI variable set by `bootctl set-default` matches, else loader.conf's `default` (a glob;
 * "@saved" the entry booted last), else the first entry. rootsnap's own entries never
 * count: a one-shot boot of one may have left it the last booted.
 */
export function defaultBlsEntry(
  entries: readonly BlsEntry[],
  choices: { efiDefault?: string; loaderConf?: string; lastBooted?: string },
): BlsEntry | undefined {
  const candidates = entries.filter((entry) => !isRootsnapEntry(entry)).sort(compareBlsEntries);
  const pick = (pattern: string | undefined): BlsEntry | undefined => {
    if (pattern === undefined || pattern === "") return undefined;
    const wanted = pattern === "@saved" ? choices.lastBooted : pattern;
    if (wanted === undefined || wanted === "") return undefined;
    return candidates.find(
      (entry) =>
        globMatches(wanted, entry.id) || globMatches(wanted, entry.id.replace(/\.conf$/, "")),
    );
  };
  return pick(choices.efiDefault) ?? pick(loaderConfDefault(choices.loaderConf)) ?? candidates[0];
}
