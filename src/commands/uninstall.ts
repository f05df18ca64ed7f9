// rootsnap uninstall: everything setup made goes, and grub.cfg (or systemd-boot's entries) is
// as it was before.
import { nodeBootFiles, type BootFiles } from "../system/files.ts";
import { uninstallBoot, type BootMenu, type InstallResult } from "../boot/install.ts";
import { detectMenu } from "../boot/menu.ts";
import { RootsnapError } from "../system/errors.ts";
import type { Context } from "../system/context.ts";

export async function uninstall(
  context: Context,
  files: BootFiles = nodeBootFiles,
): Promise<InstallResult> {
  let menu: BootMenu | undefined;
  try {
    menu = await detectMenu(files);
  } catch (error) {
    // Without a boot loader rootsnap knows there is no entry to remove, but the units still go.
    if (!(error instanceof RootsnapError)) throw error;
    context.output.warn(`${error.message}: only the units are removed`);
  }
  return uninstallBoot(files, context.effects, menu);
}
