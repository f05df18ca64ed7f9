// The boot stack of the running system, each part found where distributions put it:
// firmware (and secure boot), the boot loader and the file it reads, where grubenv lies
// and whether GRUB can write it, the initramfs generator, and the encryption under /.
import type { Mount } from "../config/mounts.ts";
import { mountAt } from "../config/mounts.ts";
import type { BootFiles } from "../system/files.ts";
import type { FileSystem } from "../system/fs.ts";
import { RootsnapError } from "../system/errors.ts";
import {
  DEFAULT_GRUB_PATH,
  ESP_MOUNT_POINTS,
  findProgram,
  isGrubBls,
  usesBls,
  type Grub,
} from "./grub.ts";
import { mountHolding } from "./revertboot.ts";
import { isSystemdBoot } from "./install.ts";
import { detectMenu } from "./menu.ts";
import { findSystemdBoot, type SystemdBoot } from "./sdboot.ts";

export type Firmware = "bios" | "uefi";

/** The EFI global variable that says whether secure boot is enforced. */
const SECURE_BOOT_VAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

export interface Esp {
  readonly mountPoint: string;
  readonly source: string;
  /** The directories under EFI/ that hold a boot loader, e.g. "debian"; BOOT is the removable path. */
  readonly loaders: readonly string[];
  /** EFI/<id>/shimx64.efi beside GRUB: a secure-boot chain (shim, signed GRUB). */
  readonly shim: boolean;
}

export type LoaderKind = "grub" | "grub-bls" | "systemd-boot" | "unknown";

export interface GrubEnv {
  readonly path: string;
  /** Whether GRUB itself can write it (save_env, a one-shot entry clearing itself). */
  readonly writable: boolean;
  readonly why: string;
}

export type InitramfsGenerator = "initramfs-tools" | "dracut" | "mkinitcpio" | "unknown";

export interface BootStack {
  readonly firmware: Firmware;
  /** undefined: the firmware does not say (BIOS, or no SecureBoot variable). */
  readonly secureBoot: boolean | undefined;
  readonly esp: Esp | undefined;
  readonly loader: LoaderKind;
  /** The configuration file the boot loader reads, or why none was found. */
  readonly loaderConfig: string | undefined;
  readonly loaderProblem: string | undefined;
  readonly grub: Grub | undefined;
  readonly grubEnv: GrubEnv | undefined;
  readonly systemdBoot: SystemdBoot | undefined;
  readonly initramfs: InitramfsGenerator;
  /** The dm-crypt mappings / lies on, e.g. ["vda2_crypt"]. */
  readonly encryption: readonly string[];
  /** What rootsnap's boot integration lacks for this stack; undefined: supported. */
  readonly unsupported: string | undefined;
}

export const LOADER_NAMES: Readonly<Record<LoaderKind, string>> = {
  grub: "GRUB",
  "grub-bls": "GRUB with Boot Loader Spec entries",
  "systemd-boot": "systemd-boot",
  unknown: "no boot loader rootsnap knows",
};

/** The stack in a few words: "UEFI, systemd-boot, dracut, LUKS". */
export function stackSummary(stack: BootStack): string {
  const parts = [
    stack.firmware === "bios" ? "BIOS" : "UEFI",
    LOADER_NAMES[stack.loader],
    stack.initramfs === "unknown" ? "no initramfs generator rootsnap knows" : stack.initramfs,
  ];
  if (stack.encryption.length > 0) parts.push("LUKS");
  return parts.join(", ");
}

export async function detectFirmware(
  files: BootFiles,
): Promise<{ firmware: Firmware; secureBoot: boolean | undefined }> {
  if (!(await files.isDirectory("/sys/firmware/efi"))) {
    return { firmware: "bios", secureBoot: undefined };
  }
  // efivarfs: four bytes of attributes, then the variable's one byte.
  const value = await files.read(SECURE_BOOT_VAR).catch(() => undefined);
  return {
    firmware: "uefi",
    secureBoot: value === undefined || value.length < 5 ? undefined : value[4] === 1,
  };
}

/** The mounted ESP (vfat at /boot/efi, /efi or /boot) and the boot loaders on it. */
export async function findEsp(
  files: BootFiles,
  mounts: readonly Mount[],
): Promise<Esp | undefined> {
  for (const mountPoint of ESP_MOUNT_POINTS) {
    const mount = mountAt(mounts, mountPoint);
    if (mount === undefined || mount.fsType !== "vfat") continue;
    const entries = await files.list(`${mountPoint}/EFI`);
    if (entries.length === 0) continue;
    const loaders: string[] = [];
    let shim = false;
    for (const id of entries.sort()) {
      const names = (await files.list(`${mountPoint}/EFI/${id}`)).map((n) => n.toLowerCase());
      if (names.some((n) => /^(grub|shim)[a-z0-9]*\.efi$/.test(n) || n === "bootx64.efi")) {
        loaders.push(id);
      }
      if (id.toUpperCase() !== "BOOT" && names.some((n) => /^shim[a-z0-9]*\.efi$/.test(n))) {
        shim = true;
      }
    }
    return { mountPoint, source: mount.source, loaders, shim };
  }
  return undefined;
}

const DEV_BLOCK = "/sys/dev/block";

/** Device-mapper uuids of a block device and everything under it ("LVM-...", "CRYPT-..."). */
async function stackBelow(
  fs: FileSystem,
  device: string,
): Promise<{ name: string; uuid: string }[]> {
  const found: { name: string; uuid: string }[] = [];
  const seen = new Set<string>();
  const visit = async (base: string, depth: number): Promise<void> => {
    if (depth > 8 || seen.has(base)) return;
    seen.add(base);
    const uuid = (await fs.readText(`${base}/dm/uuid`))?.trim();
    const name = (await fs.readText(`${base}/dm/name`))?.trim();
    if (uuid !== undefined && name !== undefined) found.push({ name, uuid });
    for (const slave of await fs.list(`${base}/slaves`)) {
      await visit(`/sys/class/block/${slave}`, depth + 1);
    }
  };
  await visit(`${DEV_BLOCK}/${device}`, 0);
  return found;
}

/** The dm-crypt mappings under the file system mounted at `mountPoint`. */
export async function encryptionUnder(
  fs: FileSystem,
  mounts: readonly Mount[],
  mountPoint: string,
): Promise<string[]> {
  const mount = mountAt(mounts, mountPoint);
  if (mount === undefined) return [];
  return (await stackBelow(fs, mount.device))
    .filter((entry) => entry.uuid.startsWith("CRYPT-"))
    .map((entry) => entry.name);
}

/**
 * Whether GRUB can write the environment block at `path`: it refuses to write through
 * LVM, RAID and encryption, and on file systems it cannot write in place (btrfs, zfs).
 */
export async function grubEnvWritable(
  fs: FileSystem,
  mounts: readonly Mount[],
  path: string,
): Promise<GrubEnv> {
  const mount = mountHolding(mounts, path);
  if (mount === undefined) return { path, writable: false, why: "on no mounted file system" };
  if (["btrfs", "zfs"].includes(mount.fsType)) {
    return { path, writable: false, why: `on ${mount.fsType}, which GRUB does not write` };
  }
  const below = await stackBelow(fs, mount.device);
  const layer = below.find((entry) => /^(LVM|CRYPT|mpath)-/.test(entry.uuid));
  if (layer !== undefined) {
    const what = layer.uuid.startsWith("LVM-")
      ? "LVM"
      : layer.uuid.startsWith("CRYPT-")
        ? "an encrypted device"
        : "multipath";
    return { path, writable: false, why: `on ${what} (${mount.source})` };
  }
  if ((await fs.list(`${DEV_BLOCK}/${mount.device}/md`)).length > 0) {
    return { path, writable: false, why: `on RAID (${mount.source})` };
  }
  return { path, writable: true, why: `on ${mount.source} (${mount.fsType})` };
}

async function hasProgram(files: BootFiles, name: string): Promise<boolean> {
  return (await findProgram(files, [name])) !== undefined;
}

/** The program that builds this system's initramfs images. */
export async function detectInitramfs(files: BootFiles): Promise<InitramfsGenerator> {
  if (
    (await hasProgram(files, "update-initramfs")) &&
    (await files.isDirectory("/etc/initramfs-tools"))
  ) {
    return "initramfs-tools";
  }
  if (await hasProgram(files, "dracut")) return "dracut";
  if (await hasProgram(files, "mkinitcpio")) return "mkinitcpio";
  return "unknown";
}

async function detectLoader(files: BootFiles): Promise<{
  loader: LoaderKind;
  grub?: Grub;
  systemdBoot?: SystemdBoot;
  config?: string;
  problem?: string;
}> {
  try {
    const menu = await detectMenu(files);
    if (isSystemdBoot(menu))
      return { loader: "systemd-boot", systemdBoot: menu, config: `${menu.boot}/loader/entries` };
    return isGrubBls(menu)
      ? { loader: "grub-bls", grub: menu, config: `${menu.config} (blscfg: ${menu.entries})` }
      : { loader: "grub", grub: menu, config: menu.config };
  } catch (error) {
    if (!(error instanceof RootsnapError)) throw error;
    const defaultGrub = (await files.read(DEFAULT_GRUB_PATH))?.toString("utf8");
    if (usesBls(defaultGrub)) return { loader: "grub-bls", problem: error.message };
    const sd = await findSystemdBoot(files);
    if (sd !== undefined) {
      return {
        loader: "systemd-boot",
        config: `${sd.boot}/loader/entries`,
        problem: "systemd-boot without bootctl",
      };
    }
    return { loader: "unknown", problem: error.message };
  }
}

/** The whole stack, read from the running system; nothing is changed. */
export async function detectStack(
  files: BootFiles,
  fs: FileSystem,
  mounts: readonly Mount[],
): Promise<BootStack> {
  const { firmware, secureBoot } = await detectFirmware(files);
  const esp = firmware === "uefi" ? await findEsp(files, mounts) : undefined;
  const loader = await detectLoader(files);
  const initramfs = await detectInitramfs(files);
  const grubEnv =
    loader.grub === undefined ? undefined : await grubEnvWritable(fs, mounts, loader.grub.env);
  const encryption = await encryptionUnder(fs, mounts, "/");
  const lacks: string[] = [];
  if (loader.problem !== undefined) lacks.push(loader.problem);
  if (initramfs === "unknown") lacks.push("an initramfs generator it knows");
  return {
    firmware,
    secureBoot,
    esp,
    loader: loader.loader,
    loaderConfig: loader.config,
    loaderProblem: loader.problem,
    grub: loader.grub,
    grubEnv,
    systemdBoot: loader.systemdBoot,
    initramfs,
    encryption,
    unsupported: lacks.length === 0 ? undefined : lacks.join(" and "),
  };
}
