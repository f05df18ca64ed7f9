// GRUB that reads Boot Loader Spec entries (Fedora, RHEL and their clones set
// GRUB_ENABLE_BLSCFG=true): grub.cfg calls blscfg, which makes one menu entry per
// /boot/loader/entries/*.conf, in rpm's version order, with the file's name as its id.
// rootsnap's entry is a file there, a copy of the default entry, as on systemd-boot.
import type { BootFiles } from "../system/files.ts";
import { blsField, isRootsnapEntry, parseBlsEntry, type BlsEntry } from "./bls.ts";
import type { GrubBls } from "./grub.ts";
import {
  planCopy,
  planEntry,
  type EntryPlan,
  type PlacedEntry,
  type SystemdBoot,
} from "./sdboot.ts";

/** An entry's id as GRUB names it (saved_entry, next_entry, grub2-reboot): no ".conf". */
export function grubEntryId(entry: BlsEntry): string {
  return entry.id.replace(/\.conf$/, "");
}

const isDigit = (c: string): boolean => c >= "0" && c <= "9";
const isAlpha = (c: string): boolean => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");
const isAlnum = (c: string): boolean => isDigit(c) || isAlpha(c);

/**
 * rpm's version comparison, as GRUB's blscfg sorts entries with it: runs of digits or of
 * letters compared in turn (numbers as numbers, a number above letters), anything else a
 * separator, "~" below everything, even the end. Negative when a is older than b.
 */
export function compareRpmVersions(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  for (;;) {
    while (i < a.length && !isAlnum(a.charAt(i)) && a.charAt(i) !== "~") i += 1;
    while (j < b.length && !isAlnum(b.charAt(j)) && b.charAt(j) !== "~") j += 1;
    const ta = a.charAt(i) === "~";
    const tb = b.charAt(j) === "~";
    if (ta || tb) {
      if (!ta) return 1;
      if (!tb) return -1;
      i += 1;
      j += 1;
      continue;
    }
    if (i >= a.length || j >= b.length) break;
    const numeric = isDigit(a.charAt(i));
    const within = numeric ? isDigit : isAlpha;
    let ii = i;
    let jj = j;
    while (ii < a.length && within(a.charAt(ii))) ii += 1;
    while (jj < b.length && within(b.charAt(jj))) jj += 1;
    // b's run is of the other kind: a number is newer than letters.
    if (jj === j) return numeric ? 1 : -1;
    let x = a.slice(i, ii);
    let y = b.slice(j, jj);
    if (numeric) {
      x = x.replace(/^0+/, "");
      y = y.replace(/^0+/, "");
      if (x.length !== y.length) return x.length > y.length ? 1 : -1;
    }
    if (x !== y) return x < y ? -1 : 1;
    i = ii;
    j = jj;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

/** blscfg's menu order: entries with a version first, the newest first; then by file name. */
export function compareGrubBlsEntries(a: BlsEntry, b: BlsEntry): number {
  const va = blsField(a, "version");
  const vb = blsField(b, "version");
  if ((va === undefined) !== (vb === undefined)) return va === undefined ? 1 : -1;
  const byVersion = -compareRpmVersions(va ?? "", vb ?? "");
  if (byVersion !== 0) return byVersion;
  return -compareRpmVersions(grubEntryId(a), grubEntryId(b));
}

/** The variables of a grubenv file ("# GRUB Environment Block", key=value lines, padding). */
export function parseGrubEnv(text: string | undefined): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of (text ?? "").split("\n")) {
    if (line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    vars.set(line.slice(0, eq), line.slice(eq + 1).replace(/\\(.)/g, "$1"));
  }
  return vars;
}

/** The entries blscfg makes a menu of (files ending in .conf, none hidden), in its order. */
export async function readGrubBlsEntries(files: BootFiles, grub: GrubBls): Promise<PlacedEntry[]> {
  const found: PlacedEntry[] = [];
  for (const name of await files.list(grub.entries)) {
    if (!name.endsWith(".conf") || name.length <= 5 || name.startsWith(".")) continue;
    const text = (await files.read(`${grub.entries}/${name}`))?.toString("utf8");
    if (text === undefined) continue;
    const entry = parseBlsEntry(name, text);
    // An entry without a kernel is skipped by blscfg and makes no menu entry.
    if (blsField(entry, "linux") === undefined) continue;
    found.push({ dir: grub.entries, entry });
  }
  return found.sort((x, y) => compareGrubBlsEntries(x.entry, y.entry));
}

/**
 * The entry GRUB starts when nobody chooses: the one grubenv's saved_entry names (Fedora's
 * grub.cfg sets default to it; grubby --set-default and grub2-set-default write it), by id
 * or by menu index, else the first. rootsnap's own entries never count.
 */
export function grubBlsDefault(
  entries: readonly PlacedEntry[],
  env: Map<string, string>,
): PlacedEntry | undefined {
  const saved = env.get("saved_entry") ?? "";
  const byId = entries.find((placed) => grubEntryId(placed.entry) === saved);
  if (byId !== undefined && !isRootsnapEntry(byId.entry)) return byId;
  const byIndex = /^\d+$/.test(saved) ? entries[Number(saved)] : undefined;
  if (byIndex !== undefined && !isRootsnapEntry(byIndex.entry)) return byIndex;
  return entries.find((placed) => !isRootsnapEntry(placed.entry));
}

/** What rootsnap's entry should be now on GRUB with BLS entries, and what of it is there. */
export async function planGrubBlsEntry(files: BootFiles, grub: GrubBls): Promise<EntryPlan> {
  const entries = await readGrubBlsEntries(files, grub);
  const env = parseGrubEnv((await files.read(grub.env))?.toString("utf8"));
  return planCopy(entries, grubBlsDefault(entries, env));
}

/** The plan of rootsnap's entry on either boot loader that reads BLS entries. */
export function planBlsMenu(files: BootFiles, menu: SystemdBoot | GrubBls): Promise<EntryPlan> {
  return "bootctl" in menu ? planEntry(files, menu) : planGrubBlsEntry(files, menu);
}
