// rootsnap boot-entry, run by kernel-install's plugin after a kernel is added or removed:
// systemd-boot's rootsnap entry follows the default entry.
import { nodeBootFiles, type BootFiles } from "../system/files.ts";
import { isSystemdBoot } from "../boot/install.ts";
import { detectMenu, refreshEntry, type EntryRefresh } from "../boot/menu.ts";
import type { Commands, Context } from "../system/context.ts";

export interface BootEntryResult extends EntryRefresh {
  readonly commands: Commands;
  readonly dryRun: boolean;
}

export async function bootEntry(
  context: Context,
  files: BootFiles = nodeBootFiles,
): Promise<BootEntryResult> {
  const menu = await detectMenu(files);
  const refreshed = isSystemdBoot(menu)
    ? await refreshEntry(files, context.effects, menu)
    : { id: undefined, written: undefined, removed: [], skipped: "this system boots with GRUB" };
  return { ...refreshed, commands: context.effects.changes, dryRun: context.dryRun };
}
