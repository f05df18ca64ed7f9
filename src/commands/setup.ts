// rootsnap setup: the boot-time units and the GRUB entry, installed idempotently.
import { nodeBootFiles, type BootFiles } from "../boot/files.ts";
import { detectGrub } from "../boot/grub.ts";
import { setupBoot, type InstallResult } from "../boot/install.ts";
import { Steps } from "../boot/steps.ts";
import { rootVolume } from "./create.ts";
import { lvmOf, readMounts, type Context } from "./context.ts";

export async function setup(
  context: Context,
  executable: string,
  files: BootFiles = nodeBootFiles,
): Promise<InstallResult> {
  const grub = await detectGrub(files);
  // Refuses, like create, a system whose / is not on LVM.
  rootVolume(await lvmOf(context).logicalVolumes(), await readMounts(context));
  return setupBoot(files, new Steps(context.runner, context.dryRun), grub, executable);
}
