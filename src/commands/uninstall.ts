// rootsnap uninstall: everything setup made goes, and grub.cfg is as it was before.
import { nodeBootFiles, type BootFiles } from "../system/files.ts";
import { detectGrub, type Grub } from "../boot/grub.ts";
import { uninstallBoot, type InstallResult } from "../boot/install.ts";
import { RootsnapError } from "../system/errors.ts";
import type { Context } from "../system/context.ts";

export async function uninstall(
  context: Context,
  files: BootFiles = nodeBootFiles,
): Promise<InstallResult> {
  let grub: Grub | undefined;
  try {
    grub = await detectGrub(files);
  } catch (error) {
    // Without GRUB there is no entry to remove, but the units still go.
    if (!(error instanceof RootsnapError)) throw error;
    context.output.warn(`${error.message}: only the units are removed`);
  }
  return uninstallBoot(files, context.effects, grub);
}
