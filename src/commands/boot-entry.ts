// rootsnap boot-entry, run by kernel-install's plugin after a kernel is added or removed:
// rootsnap's BLS entry (systemd-boot, or GRUB with GRUB_ENABLE_BLSCFG) follows the default entry.
import { nodeBootFiles, type BootFiles } from "../system/files.ts";
import { readsBlsEntries } from "../boot/install.ts";
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
  const refreshed = readsBlsEntries(menu)
    ? await refreshEntry(files, context.effects, menu)
    : {
        id: undefined,
        written: undefined,
        removed: [],
        skipped: "this system's GRUB makes its menu with grub-mkconfig",
      };
  return { ...refreshed, commands: context.effects.changes, dryRun: context.dryRun };
}
