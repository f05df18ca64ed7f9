// systemd-boot: where the ESP and $BOOT lie (the ESP, or an XBOOTLDR partition at /boot),
// its Boot Loader Spec entries and the EFI variables it shares with the running system,
// and the kernel-install plugin that keeps rootsnap's entry a copy of the default one.
import { ExitCode, RootsnapError } from "../system/errors.ts";
import type { BootFiles } from "../system/files.ts";
import { shellQuote } from "../system/runner.ts";
import {
  defaultBlsEntry,
  isRootsnapEntry,
  parseBlsEntry,
  rootsnapEntry,
  serializeBlsEntry,
  type BlsEntry,
} from "./bls.ts";
import { ESP_MOUNT_POINTS, findProgram } from "./grub.ts";

/** The vendor GUID of the Boot Loader Interface's variables (LoaderEntryOneShot, ...). */
export const LOADER_GUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";
const EFIVARS = "/sys/firmware/efi/efivars";
/** After kernel-install's own 90-loaderentry.install, which writes a kernel's entry. */
export const KERNEL_INSTALL_PLUGIN = "/etc/kernel/install.d/95-rootsnap.install";

export interface SystemdBoot {
  /** Mount point of the ESP, e.g. /efi. */
  readonly esp: string;
  /** $BOOT, where kernel-install puts entries and kernels: XBOOTLDR at /boot, else the ESP. */
  readonly boot: string;
  readonly loaderConf: string;
  readonly bootctl: string;
}

/** The entry directories systemd-boot reads, $BOOT's first. */
export function entryDirectories(sd: SystemdBoot): string[] {
  return [...new Set([`${sd.boot}/loader/entries`, `${sd.esp}/loader/entries`])];
}

async function hasLoader(files: BootFiles, esp: string): Promise<boolean> {
  if (!(await files.exists(`${esp}/loader/loader.conf`))) return false;
  const efi = (await files.list(`${esp}/EFI`)).map((name) => name.toLowerCase());
  return efi.includes("systemd") || (await files.isDirectory(`${esp}/loader/entries`));
}

/** systemd-boot's ESP and $BOOT, or undefined when no ESP holds its loader.conf. */
export async function findSystemdBoot(
  files: BootFiles,
): Promise<Omit<SystemdBoot, "bootctl"> | undefined> {
  for (const esp of ESP_MOUNT_POINTS) {
    if (!(await hasLoader(files, esp))) continue;
    const xbootldr = esp !== "/boot" && (await files.isDirectory("/boot/loader/entries"));
    return { esp, boot: xbootldr ? "/boot" : esp, loaderConf: `${esp}/loader/loader.conf` };
  }
  return undefined;
}

/** systemd-boot as rootsnap drives it, or an exit-69 error naming what is missing. */
export async function detectSystemdBoot(files: BootFiles): Promise<SystemdBoot> {
  const found = await findSystemdBoot(files);
  if (found === undefined) {
    throw new RootsnapError(
      ExitCode.unavailable,
      "no systemd-boot loader.conf found on an ESP at /efi, /boot or /boot/efi",
      "is the ESP mounted? bootctl --print-esp-path shows where it is",
    );
  }
  const bootctl = await findProgram(files, ["bootctl"]);
  if (bootctl === undefined) {
    throw new RootsnapError(
      ExitCode.unavailable,
      "bootctl not found",
      "install it (systemd-boot-tools on Debian, systemd-boot on Fedora, systemd on Arch)",
    );
  }
  return { ...found, bootctl };
}

/** An efivarfs string variable: four bytes of attributes, then UTF-16LE up to a NUL. */
export function decodeEfiString(data: Buffer | undefined): string | undefined {
  if (data === undefined || data.length < 4) return undefined;
  let text = data.subarray(4).toString("utf16le");
  const nul = text.indexOf("\u0000");
  if (nul >= 0) text = text.slice(0, nul);
  return text;
}

/** One of the loader's variables (LoaderInfo, LoaderEntryOneShot, ...), or undefined. */
export async function loaderVariable(files: BootFiles, name: string): Promise<string | undefined> {
  const data = await files.read(`${EFIVARS}/${name}-${LOADER_GUID}`).catch(() => undefined);
  return decodeEfiString(data);
}

/** The firmware says systemd-boot started this boot (it sets LoaderInfo). */
export async function bootedBySystemdBoot(files: BootFiles): Promise<boolean> {
  return /systemd-boot/i.test((await loaderVariable(files, "LoaderInfo")) ?? "");
}

export interface PlacedEntry {
  readonly dir: string;
  readonly entry: BlsEntry;
}

export function entryPath(placed: PlacedEntry): string {
  return `${placed.dir}/${placed.entry.id}`;
}

/** Every Type #1 entry systemd-boot would read. */
export async function readEntries(files: BootFiles, sd: SystemdBoot): Promise<PlacedEntry[]> {
  const found: PlacedEntry[] = [];
  for (const dir of entryDirectories(sd)) {
    for (const name of (await files.list(dir)).sort()) {
      if (!name.toLowerCase().endsWith(".conf") || name.startsWith(".")) continue;
      if (name.toLowerCase().startsWith("auto-")) continue;
      const text = (await files.read(`${dir}/${name}`))?.toString("utf8");
      if (text !== undefined) found.push({ dir, entry: parseBlsEntry(name, text) });
    }
  }
  return found;
}

/** The entry systemd-boot starts when nobody chooses, as its variables and loader.conf say. */
export async function defaultEntry(
  files: BootFiles,
  sd: SystemdBoot,
  entries: readonly PlacedEntry[],
): Promise<PlacedEntry | undefined> {
  const chosen = defaultBlsEntry(
    entries.map((placed) => placed.entry),
    {
      efiDefault: await loaderVariable(files, "LoaderEntryDefault"),
      lastBooted: await loaderVariable(files, "LoaderEntryLastBooted"),
      loaderConf: (await files.read(sd.loaderConf))?.toString("utf8"),
    },
  );
  return entries.find((placed) => placed.entry === chosen);
}

export interface EntryPlan {
  /** The entry rootsnap's copies, or undefined when there is none to copy. */
  readonly source: PlacedEntry | undefined;
  /** rootsnap's entry as it must be (beside its source), or undefined. */
  readonly wanted:
    { readonly path: string; readonly id: string; readonly text: string } | undefined;
  /** rootsnap's entries that are there now. */
  readonly present: readonly { readonly path: string; readonly text: string }[];
  /** rootsnap's entries that are not the wanted one: copies of entries gone or no longer default. */
  readonly stale: readonly { readonly path: string; readonly text: string }[];
  /** The wanted entry is there as it must be, and nothing stale is. */
  readonly inPlace: boolean;
}

/** What rootsnap's entry should be now, and what of it is there. */
export async function planEntry(files: BootFiles, sd: SystemdBoot): Promise<EntryPlan> {
  const entries = await readEntries(files, sd);
  return planCopy(entries, await defaultEntry(files, sd, entries));
}

/** rootsnap's entry as a copy of `source`, beside it, against the entries there now. */
export function planCopy(
  entries: readonly PlacedEntry[],
  source: PlacedEntry | undefined,
): EntryPlan {
  const present = entries
    .filter((placed) => isRootsnapEntry(placed.entry))
    .map((placed) => ({ path: entryPath(placed), text: serializeBlsEntry(placed.entry) }));
  const copy = source === undefined ? undefined : rootsnapEntry(source.entry);
  const wanted =
    source === undefined || copy === undefined
      ? undefined
      : { path: `${source.dir}/${copy.id}`, id: copy.id, text: serializeBlsEntry(copy) };
  const stale = present.filter((entry) => entry.path !== wanted?.path);
  const inPlace =
    stale.length === 0 &&
    present.some((entry) => entry.path === wanted?.path && entry.text === wanted.text);
  return { source, wanted, present, stale, inPlace };
}

/** The plugin: after kernel-install's own, it has rootsnap make its entry again. */
export function kernelInstallPlugin(program: readonly string[]): string {
  return `#!/bin/sh
# Installed by rootsnap setup, removed by rootsnap uninstall: edits here are lost.
# kernel-install runs this after the plugins that add or remove a kernel's entry
# (90-loaderentry.install, Fedora's 20-grub.install): rootsnap's boot entry is made again
# as a copy of the (maybe new) default entry.
# A failing plugin would stop kernel-install, so every problem exits 0.
case "$1" in
add | remove) ;;
*) exit 0 ;;
esac
${program.map(shellQuote).join(" ")} boot-entry ||
  echo "rootsnap: its boot entry was not updated; run rootsnap setup" >&2
exit 0
`;
}
