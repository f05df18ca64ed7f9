// The boot loader a set was made with: GRUB's version, the firmware, and where its core
// image lies (grub-pc's install devices, or the ESP). The core image is outside every
// volume, its modules inside /boot: after a revert that changes GRUB's version, the core
// image is installed again from the reverted system, once the merge has brought back
// its modules, so the two are of one version at every boot.
import type { Mount } from "../config/mounts.ts";
import type { BootFiles } from "../system/files.ts";
import type { Runner } from "../system/runner.ts";
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
  let help = "";
  try {
    version = grubVersion((await runner([grub.install, "--version"])).stdout);
    help = (await runner([grub.install, "--help"])).stdout;
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
