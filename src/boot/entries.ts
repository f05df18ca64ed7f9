// Reading grub.cfg: its top-level default entry and the id path of any entry, as
// grub-reboot takes it ("submenu-id>entry-id").

export interface GrubEntry {
  /** What grub-reboot takes: the entry id, prefixed by its submenu's id and ">". */
  readonly path: string;
  readonly title: string;
  /** The kernel the `linux` line loads, e.g. /boot/vmlinuz-6.1.0-50-cloud-amd64. */
  readonly kernel: string | undefined;
  readonly topLevel: boolean;
}

const OPENER =
  /^\s*(menuentry|submenu)\s+'((?:[^']|'\\'')*)'.*?\$menuentry_id_option\s+'([^']*)'.*\{\s*$/;

export function grubEntries(grubCfg: string): GrubEntry[] {
  const entries: GrubEntry[] = [];
  const stack: { kind: string; id: string; title: string; kernel?: string }[] = [];
  for (const line of grubCfg.split("\n")) {
    const opened = OPENER.exec(line);
    if (opened !== null) {
      stack.push({ kind: opened[1] ?? "", title: opened[2] ?? "", id: opened[3] ?? "" });
      continue;
    }
    const top = stack[stack.length - 1];
    const kernel = /^\s*linux(?:16|efi)?\s+(\S+)/.exec(line)?.[1];
    if (top !== undefined && kernel !== undefined) top.kernel = kernel;
    if (/^\s*\}\s*$/.test(line) && top !== undefined) {
      stack.pop();
      if (top.kind !== "menuentry") continue;
      const parents = stack.filter((frame) => frame.kind === "submenu").map((frame) => frame.id);
      entries.push({
        path: [...parents, top.id].join(">"),
        title: top.title,
        kernel: top.kernel,
        topLevel: stack.length === 0,
      });
    }
  }
  return entries;
}

/** The kernel GRUB starts by default (GRUB_DEFAULT=0): the first top-level entry's. */
export function defaultKernel(grubCfg: string): string | undefined {
  return grubEntries(grubCfg).find((entry) => entry.topLevel)?.kernel;
}

/** A plain (not recovery, not rootsnap) entry that starts `kernel`. */
export function entryForKernel(grubCfg: string, kernel: string): GrubEntry | undefined {
  return grubEntries(grubCfg).find(
    (entry) =>
      entry.kernel === kernel &&
      !entry.path.endsWith("rootsnap-boot") &&
      !/recovery/i.test(entry.title) &&
      !/recovery/.test(entry.path),
  );
}
