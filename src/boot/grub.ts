// GRUB as the distributions ship it: where its files live, what its tools are called,
// and the /etc/grub.d script that keeps rootsnap's entry a copy of the default one.
import { ExitCode, RootsnapError } from "../system/errors.ts";
import type { BootFiles } from "../system/files.ts";

/** The menu entry id `grub-reboot` is given, and the kernel parameter the entry adds. */
export const ENTRY_ID = "rootsnap-boot";
export const KERNEL_PARAMETER = "rootsnap.boot=1";
/** After 41_custom, so the entry never shifts the index of an existing default. */
export const GRUB_SCRIPT_PATH = "/etc/grub.d/42_rootsnap";
export const DEFAULT_GRUB_PATH = "/etc/default/grub";

export interface Grub {
  /** /boot/grub on Debian and Arch, /boot/grub2 on Fedora and RHEL. */
  readonly dir: string;
  readonly config: string;
  readonly env: string;
  readonly mkconfig: string;
  readonly reboot: string;
  readonly editenv: string;
  readonly scriptCheck: string;
  /** grub-install, which puts the core image where the firmware starts it; absent on some. */
  readonly install: string | undefined;
}

/** Where blscfg reads entries when grub.cfg sets no blsdir: /loader/entries on /boot. */
export const GRUB_BLS_DIRECTORY = "/boot/loader/entries";

/** GRUB with GRUB_ENABLE_BLSCFG=true: its menu is made of Boot Loader Spec entries. */
export interface GrubBls extends Grub {
  /** The directory of the entries blscfg reads. */
  readonly entries: string;
}

/** GRUB_ENABLE_BLSCFG=true, and the directory blscfg reads exists: GRUB's menu is BLS entries. */
export async function grubReadsBls(files: BootFiles): Promise<boolean> {
  const defaultGrub = (await files.read(DEFAULT_GRUB_PATH))?.toString("utf8");
  return usesBls(defaultGrub) && (await files.isDirectory(GRUB_BLS_DIRECTORY));
}

export function isGrubBls(grub: Grub): grub is GrubBls {
  return "entries" in grub;
}

const PROGRAM_DIRS = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** The first of `names` found in the usual program directories. */
export async function findProgram(
  files: BootFiles,
  names: readonly string[],
): Promise<string | undefined> {
  for (const name of names) {
    for (const dir of PROGRAM_DIRS) {
      if (await files.exists(`${dir}/${name}`)) return `${dir}/${name}`;
    }
  }
  return undefined;
}

function unsupported(message: string, hint: string): RootsnapError {
  return new RootsnapError(ExitCode.unavailable, message, hint);
}

/** GRUB_ENABLE_BLSCFG=true: grub.cfg lists kernels from /boot/loader/entries instead. */
export function usesBls(defaultGrub: string | undefined): boolean {
  return /^\s*GRUB_ENABLE_BLSCFG\s*=\s*["']?true["']?\s*$/m.test(defaultGrub ?? "");
}

export const SYSTEMD_BOOT_CONFIGS = [
  "/boot/loader/loader.conf",
  "/efi/loader/loader.conf",
  "/boot/efi/loader/loader.conf",
];

/** Where an EFI system partition is mounted, most common first. */
export const ESP_MOUNT_POINTS = ["/boot/efi", "/efi", "/boot"];

/**
 * A grub.cfg that only finds and loads the real one (Debian's and Fedora's on the ESP):
 * it sets a prefix and calls configfile, and lists no entry of its own.
 */
export function isStubConfig(text: string): boolean {
  const lines = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  return (
    lines.some((line) => /^configfile\b/.test(line)) &&
    !lines.some((line) => /^(menuentry|submenu|linux|linuxefi|blscfg)\b/.test(line))
  );
}

/**
 * The directory of the grub.cfg GRUB reads: /boot/grub (Debian, Arch, also on EFI, where
 * the ESP holds a stub), /boot/grub2 (Fedora, openSUSE), or the ESP itself, where some
 * distributions keep the real file (EFI/<id>/grub.cfg, or grub/ for --boot-directory=ESP).
 */
async function grubDirectory(files: BootFiles): Promise<string | undefined> {
  const candidates = ["/boot/grub", "/boot/grub2"];
  for (const esp of ESP_MOUNT_POINTS) {
    if (esp !== "/boot") candidates.push(`${esp}/grub`);
    for (const id of (await files.list(`${esp}/EFI`)).sort()) {
      if (id.toUpperCase() !== "BOOT") candidates.push(`${esp}/EFI/${id}`);
    }
  }
  for (const dir of candidates) {
    const text = (await files.read(`${dir}/grub.cfg`))?.toString("utf8");
    if (text !== undefined && !isStubConfig(text)) return dir;
  }
  return undefined;
}

/**
 * The GRUB of this system (with the directory of its Boot Loader Spec entries where
 * GRUB_ENABLE_BLSCFG=true), or an exit-69 error naming what is not supported.
 */
export async function detectGrub(files: BootFiles): Promise<Grub | GrubBls> {
  const defaultGrub = (await files.read(DEFAULT_GRUB_PATH))?.toString("utf8");
  const bls = usesBls(defaultGrub);
  if (bls && !(await files.isDirectory(GRUB_BLS_DIRECTORY))) {
    throw unsupported(
      `${DEFAULT_GRUB_PATH} sets GRUB_ENABLE_BLSCFG=true, but ${GRUB_BLS_DIRECTORY} does not exist`,
      "is /boot mounted? kernel-install add $(uname -r) /lib/modules/$(uname -r)/vmlinuz writes the entries",
    );
  }
  const dir = await grubDirectory(files);
  if (dir === undefined) {
    for (const path of SYSTEMD_BOOT_CONFIGS) {
      if (await files.exists(path)) {
        throw unsupported(
          `this system boots with systemd-boot (${path}), which rootsnap does not support yet`,
          "rootsnap create, revert and backup work without boot integration",
        );
      }
    }
    throw unsupported(
      "no GRUB configuration found (/boot/grub/grub.cfg or /boot/grub2/grub.cfg)",
      "boot integration needs GRUB; is /boot mounted?",
    );
  }
  const prefix =
    dir.endsWith("grub2") || (await files.exists("/boot/grub2"))
      ? ["grub2", "grub"]
      : ["grub", "grub2"];
  const tool = async (suffix: string): Promise<string> => {
    const found = await findProgram(
      files,
      prefix.map((p) => `${p}-${suffix}`),
    );
    if (found === undefined) {
      throw unsupported(
        `${prefix[0] ?? "grub"}-${suffix} not found`,
        "install the GRUB tools package (grub2-common or grub2-tools)",
      );
    }
    return found;
  };
  const grub: Grub = {
    dir,
    config: `${dir}/grub.cfg`,
    env: `${dir}/grubenv`,
    mkconfig: await tool("mkconfig"),
    reboot: await tool("reboot"),
    editenv: await tool("editenv"),
    scriptCheck: await tool("script-check"),
    install: await findProgram(
      files,
      prefix.map((p) => `${p}-install`),
    ),
  };
  return bls ? { ...grub, entries: GRUB_BLS_DIRECTORY } : grub;
}

/** The ids of top-level entries in a grub.cfg that rootsnap's script made. */
export function hasRootsnapEntry(grubCfg: string): boolean {
  return grubCfg.split("\n").some((line) => /^menuentry .*'rootsnap-boot'/.test(line));
}

/** next_entry from `grub-editenv FILE list` output, or undefined. */
export function nextEntryOf(envList: string): string | undefined {
  return /^next_entry=(.*)$/m.exec(envList)?.[1];
}

/**
 * The /etc/grub.d script. It runs 10_linux again with the parameter added and keeps
 * its first top-level entry, so the entry is made by the distribution's own logic
 * from whatever kernel is the default at each update-grub.
 */
export function grubScript(): string {
  return `#!/bin/sh
# Installed by rootsnap setup, removed by rootsnap uninstall: edits here are lost.
# The first entry /etc/grub.d/10_linux makes (the default kernel), renamed and with
# ${KERNEL_PARAMETER} added: booting it takes a boot-time snapshot set.
# A failing script would stop update-grub, so every problem exits 0.
linux=/etc/grub.d/10_linux
[ -x "$linux" ] || exit 0
entry=$(GRUB_CMDLINE_LINUX="\${GRUB_CMDLINE_LINUX:-} ${KERNEL_PARAMETER}" "$linux" 2>/dev/null |
  awk -v q="'" -v id="${ENTRY_ID}" '
    !found && /^menuentry / {
      found = 1
      if (!match($0, "^menuentry " q "([^" q "]|" q "\\\\\\\\" q q ")*" q)) exit
      title = substr($0, 12, RLENGTH - 12)
      rest = substr($0, RLENGTH + 1)
      if (!sub(/[$]menuentry_id_option [^ ]+/, "$menuentry_id_option " q id q, rest))
        sub(/ *[{]$/, " $menuentry_id_option " q id q " {", rest)
      print "menuentry " q title ", rootsnap boot-time snapshot" q rest
      next
    }
    found { print; if ($0 == "}") exit }
  ')
case "$entry" in
  *"${KERNEL_PARAMETER}"*"}") printf '%s\\n' "$entry" ;;
  *) echo "rootsnap: no Linux entry found; the rootsnap entry is left out" >&2 ;;
esac
exit 0
`;
}
