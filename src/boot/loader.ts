// The boot loader a set was made with: GRUB's version, the firmware, and where its core
// image lies (grub-pc's install devices, or the ESP). The core image is outside every
// volume, its modules inside /boot: after a revert that changes GRUB's version, the core
// image is installed again from the reverted system, once the merge has brought back
// its modules, so the two are of one version at every boot.
import type { Mount } from "../config/mounts.ts";
import { readMounts } from "../config/mounts.ts";
import type { LogicalVolume } from "../lvm/model.ts";
import { lvmOf } from "../lvm/lvm.ts";
import { REINSTALL_PREFIX, reinstallTagOf } from "../sets/tags.ts";
import type { Commands, Context } from "../system/context.ts";
import { OperationError } from "../system/errors.ts";
import type { BootFiles } from "../system/files.ts";
import type { Runner } from "../system/runner.ts";
import type { Effects } from "../system/effects.ts";
import { detectFirmware, findEsp, type Firmware } from "./stack.ts";
import { detectGrub, type Grub } from "./grub.ts";

export interface BootLoaderRecord {
  readonly firmware: Firmware;
  /** What grub-install --version says of itself, e.g. "2.06-13+deb12u2". */
  readonly version: string;
  /** grub-install's --target: i386-pc, x86_64-efi, ... */
  readonly target: string;
  /** BIOS: the disks whose boot sector and gap hold GRUB. */
  readonly devices?: readonly string[];
  /** UEFI: the ESP's mount point and GRUB's directory under EFI/. */
  readonly efiDirectory?: string;
  readonly bootloaderId?: string;
  /** UEFI: GRUB also at the removable path EFI/BOOT (Debian's force_efi_extra_removable). */
  readonly removable?: boolean;
  /** UEFI: shim and a signed GRUB. */
  readonly shim?: boolean;
  /** The core image comes from package files (Fedora's signed GRUB): nothing to install. */
  readonly packaged?: boolean;
}

const DEBCONF_DB = "/var/cache/debconf/config.dat";

/** grub-pc/install_devices from debconf's database, or undefined when it holds none. */
export function debconfInstallDevices(configDat: string): string[] | undefined {
  for (const record of configDat.split(/\n\s*\n/)) {
    if (!/^Name: grub-pc\/install_devices$/m.test(record)) continue;
    const value = /^Value: (.*)$/m.exec(record)?.[1]?.trim();
    if (value === undefined || value === "") return undefined;
    return value
      .split(",")
      .map((device) => device.trim())
      .filter((device) => device !== "");
  }
  return undefined;
}

/** Whole disks the kernel knows, by name (vda, sda, nvme0n1): where a boot sector may be. */
async function wholeDisks(files: BootFiles): Promise<string[]> {
  return (await files.list("/sys/block"))
    .filter((name) => !/^(dm-|loop|ram|zram|sr|md|fd|nbd)/.test(name))
    .sort();
}

/** The disks whose first sector is GRUB's boot.img. */
async function probeBootSectors(files: BootFiles, runner: Runner): Promise<string[]> {
  const found: string[] = [];
  for (const disk of await wholeDisks(files)) {
    try {
      const { stdout } = await runner(
        ["dd", `if=/dev/${disk}`, "bs=512", "count=1", "status=none"],
        { timeoutMs: 10_000 },
      );
      if (stdout.includes("GRUB ")) found.push(`/dev/${disk}`);
    } catch {
      // an unreadable disk holds no boot sector rootsnap could reinstall
    }
  }
  return found;
}

/** The version grub-install prints, e.g. "grub-install (GRUB) 2.06-13+deb12u2". */
export function grubVersion(text: string): string | undefined {
  return /\(GRUB\)\s+(\S+)/.exec(text)?.[1];
}

function efiTarget(machine: string): string {
  if (machine === "aarch64") return "arm64-efi";
  if (/^i[3-6]86$/.test(machine)) return "i386-efi";
  return "x86_64-efi";
}

/** The boot loader installed now, or undefined when it is not a GRUB rootsnap can reinstall. */
export async function detectBootLoader(
  files: BootFiles,
  runner: Runner,
  mounts: readonly Mount[],
): Promise<BootLoaderRecord | undefined> {
  let grub: Grub;
  try {
    grub = await detectGrub(files);
  } catch {
    return undefined;
  }
  if (grub.install === undefined) return undefined;
  let version: string | undefined;
  try {
    version = grubVersion((await runner([grub.install, "--version"])).stdout);
  } catch {
    return undefined;
  }
  if (version === undefined) return undefined;
  const { firmware } = await detectFirmware(files);
  if (firmware === "bios") {
    const configured = debconfInstallDevices((await files.read(DEBCONF_DB))?.toString() ?? "");
    const existing: string[] = [];
    for (const device of configured ?? []) if (await files.exists(device)) existing.push(device);
    const devices = existing.length > 0 ? existing : await probeBootSectors(files, runner);
    return { firmware, version, target: "i386-pc", devices };
  }
  const esp = await findEsp(files, mounts);
  const machine = (await runner(["uname", "-m"])).stdout.trim();
  const ids = esp?.loaders.filter((id) => id.toUpperCase() !== "BOOT") ?? [];
  const shim = esp?.shim ?? false;
  // Only a shim install asks: does this grub-install put the signed GRUB there itself?
  const help = shim
    ? await runner([grub.install, "--help"]).then(
        (r) => r.stdout,
        () => "",
      )
    : "";
  return {
    firmware,
    version,
    target: efiTarget(machine),
    ...(esp === undefined ? {} : { efiDirectory: esp.mountPoint }),
    ...(ids[0] === undefined ? {} : { bootloaderId: ids[0] }),
    removable: esp?.loaders.some((id) => id.toUpperCase() === "BOOT") ?? false,
    shim,
    // Without Debian's --uefi-secure-boot, a signed GRUB is the package's file on the ESP.
    ...(shim && !help.includes("--uefi-secure-boot") ? { packaged: true } : {}),
  };
}

/** Whether reverting to a set made with `then` leaves a core image of another version. */
export function bootLoaderChanged(then: BootLoaderRecord, now: BootLoaderRecord): boolean {
  return then.version !== now.version || then.target !== now.target;
}

/**
 * The commands that install GRUB's core image where the record says, from the GRUB
 * installed now; [] when there is nothing to install (packaged, or nowhere known).
 */
export function reinstallCommands(
  grubInstall: string,
  record: BootLoaderRecord,
  help: string,
): string[][] {
  if (record.packaged === true) return [];
  if (record.firmware === "bios") {
    return (record.devices ?? []).map((device) => [
      grubInstall,
      `--target=${record.target}`,
      device,
    ]);
  }
  if (record.efiDirectory === undefined || record.bootloaderId === undefined) return [];
  // The firmware's boot entries stay as they are: the files they point at are replaced.
  return [
    [
      grubInstall,
      `--target=${record.target}`,
      `--efi-directory=${record.efiDirectory}`,
      `--bootloader-id=${record.bootloaderId}`,
      "--no-nvram",
      ...(record.removable === true && help.includes("--force-extra-removable")
        ? ["--force-extra-removable"]
        : []),
    ],
  ];
}

/** The record as an LVM tag value: base64url of its JSON, within LVM's tag characters. */
export function encodeRecord(record: BootLoaderRecord): string {
  return Buffer.from(JSON.stringify(record), "utf8").toString("base64url");
}

export function decodeRecord(text: string | undefined): BootLoaderRecord | undefined {
  if (text === undefined || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  try {
    const value = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as unknown;
    if (typeof value !== "object" || value === null) return undefined;
    const record = value as Partial<BootLoaderRecord>;
    if (
      (record.firmware !== "bios" && record.firmware !== "uefi") ||
      typeof record.version !== "string" ||
      typeof record.target !== "string"
    ) {
      return undefined;
    }
    return record as BootLoaderRecord;
  } catch {
    return undefined;
  }
}

/** One line for show and revert: "GRUB 2.06-13+deb12u2 (BIOS, /dev/vda)". */
export function describeRecord(record: BootLoaderRecord): string {
  const where =
    record.firmware === "bios"
      ? (record.devices ?? []).join(", ") || "no boot sector found"
      : [
          record.efiDirectory === undefined
            ? "no ESP found"
            : `${record.efiDirectory}/EFI/${record.bootloaderId ?? "?"}`,
          ...(record.shim === true ? ["shim"] : []),
        ].join(", ");
  return `GRUB ${record.version} (${record.firmware === "bios" ? "BIOS" : "UEFI"}, ${where})`;
}

/** What a revert left for after its merge: the origin tagged, and the record of the set. */
export interface PendingInstall {
  readonly origin: string;
  readonly record: BootLoaderRecord;
}

/**
 * Installs GRUB's core image from the GRUB installed now (the reverted system's), where the
 * set's record or the system now says it lies. Returns the commands run.
 */
export async function reinstallBootLoader(
  files: BootFiles,
  effects: Effects,
  mounts: readonly Mount[],
  record: BootLoaderRecord,
): Promise<string[][]> {
  const grub = await detectGrub(files);
  if (grub.install === undefined) throw new Error("grub-install is not installed");
  const now = await detectBootLoader(files, effects.runner, mounts);
  const help = await effects.read([grub.install, "--help"]);
  // Where the core image lies is the system's now; the set's record where it names nothing.
  const where =
    now === undefined
      ? record
      : now.firmware === "bios" && (now.devices ?? []).length === 0
        ? { ...now, devices: record.devices ?? [] }
        : now;
  const commands = reinstallCommands(grub.install, where, help);
  for (const argv of commands) await effects.run(argv, { timeoutMs: 10 * 60_000 });
  return commands;
}

export function addReinstallTagArgv(origin: string, record: BootLoaderRecord): string[] {
  return ["lvchange", "--addtag", `${REINSTALL_PREFIX}${encodeRecord(record)}`, origin];
}

export function deleteReinstallTagArgv(origin: string, encoded: string): string[] {
  return ["lvchange", "--deltag", `${REINSTALL_PREFIX}${encoded}`, origin];
}

/**
 * After a revert's merges started: when the set was made with another GRUB than the one
 * installed now, its core image must follow the modules the merge brings back. GRUB reads
 * the origin as it is on disk, so until the merge has run it boots the new GRUB's modules
 * with the new core image; once merged, the old modules need the old core image. A merge
 * done now is followed now; one that waits for the next boot leaves a tag on the origin
 * (LVM metadata, which the merge does not touch) for rootsnap-finish.service.
 */
export async function bootLoaderForRevert(
  context: Context,
  set: { readonly name: string; readonly bootLoader?: string },
  origins: readonly { readonly origin: string; readonly merged: boolean; readonly root: boolean }[],
): Promise<Commands> {
  const files = context.bootFiles;
  const then = decodeRecord(set.bootLoader);
  if (files === undefined || then === undefined) return [];
  const mounts = await readMounts(context);
  const now = await detectBootLoader(files, context.runner, mounts);
  if (now === undefined || !bootLoaderChanged(then, now)) return [];
  const mark = context.effects.changes.length;
  const change = `set ${set.name} was made with GRUB ${then.version}, GRUB ${now.version} is installed now`;
  const waiting = origins.filter((origin) => !origin.merged);
  if (waiting.length === 0) {
    try {
      await reinstallBootLoader(files, context.effects, mounts, then);
    } catch (error) {
      throw new OperationError(
        `${change}, and installing its core image again failed: ${error instanceof Error ? error.message : String(error)}`,
        "run grub-install for this system's boot disk (or ESP) before rebooting",
        { cause: error },
      );
    }
    if (!context.dryRun) context.output.note(`${change}: its core image is installed again`);
    return context.effects.changes.slice(mark);
  }
  const origin = waiting.find((candidate) => candidate.root) ?? waiting[0];
  if (origin === undefined) return [];
  try {
    await lvmOf(context).change(addReinstallTagArgv(origin.origin, then));
  } catch (error) {
    throw new OperationError(
      `the merges of set ${set.name} are started, but ${change} and recording that for the next boot failed: ${error instanceof Error ? error.message : String(error)}`,
      "after the next boot, run grub-install for this system's boot disk (or ESP)",
      { cause: error },
    );
  }
  if (!context.dryRun) {
    context.output.note(
      `${change}: its core image is installed again once the merge has run (rootsnap-finish.service at the next boot, or rootsnap repair)`,
    );
  }
  return context.effects.changes.slice(mark);
}

/** What repair did with the installs reverts left for after their merges. */
export interface FinishedInstalls {
  readonly installed: readonly string[];
  readonly warnings: readonly string[];
}

/** Installs the core image for each origin whose merge has run since its revert tagged it. */
export async function finishPendingInstalls(
  context: Context,
  lvs: readonly LogicalVolume[],
): Promise<FinishedInstalls> {
  const files = context.bootFiles;
  const installed: string[] = [];
  const warnings: string[] = [];
  for (const lv of lvs) {
    const encoded = reinstallTagOf(lv.tags);
    if (encoded === undefined) continue;
    const merging =
      lv.merging || lvs.some((other) => other.vg === lv.vg && other.origin === lv.name);
    if (merging) continue;
    const record = decodeRecord(encoded);
    if (files === undefined || record === undefined) continue;
    try {
      await reinstallBootLoader(files, context.effects, await readMounts(context), record);
      await lvmOf(context).change(deleteReinstallTagArgv(lv.fullName, encoded));
      installed.push(`${describeRecord(record)}, after the merge into ${lv.fullName}`);
    } catch (error) {
      warnings.push(
        `GRUB's core image could not be installed again after the merge into ${lv.fullName} (${error instanceof Error ? error.message : String(error)}): run grub-install for the boot disk (or ESP) before the next reboot`,
      );
    }
  }
  return { installed, warnings };
}
