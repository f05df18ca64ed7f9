// The initramfs image this system boots, the tool that lists it, and what each generator
// needs to put LVM snapshots and merges into it: initramfs-tools, dracut and mkinitcpio.
import type { BootFiles } from "../system/files.ts";
import type { InitramfsGenerator } from "./stack.ts";
import { blsField } from "./bls.ts";
import { loaderVariable, readEntries, type SystemdBoot } from "./sdboot.ts";

/** The program that lists an image's files, per generator. */
export const LISTER: Record<Exclude<InitramfsGenerator, "unknown">, string> = {
  "initramfs-tools": "lsinitramfs",
  dracut: "lsinitrd",
  mkinitcpio: "lsinitcpio",
};

/** How to add a module to the image and rebuild it, per generator, for one line of advice. */
export function rebuildAdvice(generator: InitramfsGenerator, release: string): string {
  switch (generator) {
    case "dracut":
      return `add it (add_drivers+=" dm-snapshot " in /etc/dracut.conf.d/, thin-provisioning-tools) and run dracut -f --kver ${release}`;
    case "mkinitcpio":
      return "add lvm2 to HOOKS in /etc/mkinitcpio.conf (thin-provisioning-tools for thin) and run mkinitcpio -P";
    default:
      return "add it (thin-provisioning-tools, /etc/initramfs-tools/modules) and run update-initramfs -u";
  }
}

/**
 * The image the running kernel was started with, as far as the files tell: the initrd of
 * systemd-boot's selected (or default) entry, else Debian's, Fedora's or Arch's name for it.
 */
export async function currentImage(
  files: BootFiles,
  release: string,
  sd: SystemdBoot | undefined,
): Promise<string | undefined> {
  if (sd !== undefined) {
    const selected = await loaderVariable(files, "LoaderEntrySelected");
    const entries = await readEntries(files, sd);
    const placed =
      entries.find((e) => e.entry.id === selected) ??
      entries.find((e) => blsField(e.entry, "version") === release);
    const initrd = placed === undefined ? undefined : blsField(placed.entry, "initrd");
    if (placed !== undefined && initrd !== undefined && initrd !== "") {
      const root = placed.dir.replace(/\/loader\/entries$/, "");
      return `${root}/${initrd.split(/\s+/)[0]?.replace(/^\/+/, "") ?? ""}`;
    }
  }
  const pkgbase = (await files.read(`/usr/lib/modules/${release}/pkgbase`))?.toString().trim();
  const candidates = [
    `/boot/initrd.img-${release}`,
    `/boot/initramfs-${release}.img`,
    ...(pkgbase === undefined ? [] : [`/boot/initramfs-${pkgbase}.img`]),
  ];
  for (const path of candidates) if (await files.exists(path)) return path;
  return undefined;
}

/**
 * HOOKS of mkinitcpio's configuration: /etc/mkinitcpio.conf, then the drop-ins in
 * /etc/mkinitcpio.conf.d (sourced after it), the last assignment winning and `+=` adding.
 */
export function mkinitcpioHooks(texts: readonly string[]): string[] {
  let hooks: string[] = [];
  for (const text of texts) {
    for (const m of text.matchAll(/^\s*HOOKS(\+?)=\(([^)]*)\)/gm)) {
      const words = (m[2] ?? "")
        .split("\n")
        .map((line) => line.replace(/#.*$/, ""))
        .join(" ")
        .split(/\s+/)
        .map((word) => word.replace(/^["']|["']$/g, ""))
        .filter((word) => word !== "");
      hooks = m[1] === "+" ? [...hooks, ...words] : words;
    }
  }
  return hooks;
}

/** mkinitcpio's configuration files, in the order mkinitcpio reads them. */
export async function mkinitcpioConfig(files: BootFiles): Promise<string[]> {
  const texts: string[] = [];
  const main = (await files.read("/etc/mkinitcpio.conf"))?.toString("utf8");
  if (main !== undefined) texts.push(main);
  for (const name of (await files.list("/etc/mkinitcpio.conf.d")).sort()) {
    if (!name.endsWith(".conf")) continue;
    const text = (await files.read(`/etc/mkinitcpio.conf.d/${name}`))?.toString("utf8");
    if (text !== undefined) texts.push(text);
  }
  return texts;
}

/** dracut's LVM module activates with --sysinit, which starts no merge poller. */
export async function dracutActivatesWithoutPolling(
  files: BootFiles,
): Promise<boolean | undefined> {
  const scan = (await files.read("/usr/lib/dracut/modules.d/90lvm/lvm_scan.sh"))?.toString("utf8");
  return scan === undefined ? undefined : /--sysinit\b|--poll n\b/.test(scan);
}
