// rootsnap boot-finish, run by rootsnap-finish.service after local-fs.target at every
// boot: finishes merges nothing polls, clears rootsnap's one-shot entry where GRUB could
// not (grubenv on LVM), copies /boot for this boot's set, and drops copies of gone sets.
import { bootCopyPath, bootLeftOut, pruneBootCopies, saveBootCopy } from "../boot/bootcopy.ts";
import { nodeBootFiles, type BootFiles } from "../boot/files.ts";
import { detectGrub } from "../boot/grub.ts";
import { cancelOneShot } from "../boot/install.ts";
import { Steps } from "../boot/steps.ts";
import { RootsnapError } from "../errors.ts";
import { readMounts, type Commands, type Context } from "./context.ts";
import { status } from "./status.ts";

export interface BootFinishResult {
  readonly mergesFinished: readonly string[];
  readonly oneShotCleared: boolean;
  readonly bootCopies: readonly string[];
  readonly pruned: readonly string[];
  readonly commands: Commands;
  readonly dryRun: boolean;
}

/**
 * How long boot-finish waits, before it takes rootsnap's lock, for lvm's own pollers to
 * finish the merges a revert started at this boot; status leaves to them what they still poll.
 */
export const BOOT_LVM_WAIT_MS = 180_000;

/** When this boot started, from btime in /proc/stat. */
async function bootTime(context: Context): Promise<Date> {
  const stat = (await context.fs.readText("/proc/stat")) ?? "";
  const seconds = Number(/^btime (\d+)$/m.exec(stat)?.[1] ?? "0");
  return new Date(seconds * 1000);
}

export async function bootFinish(
  context: Context,
  files: BootFiles = nodeBootFiles,
): Promise<BootFinishResult> {
  const steps = new Steps(context.runner, context.dryRun);
  const state = await status(context);
  const mergesFinished = state.merges
    .filter((merge) => merge.state === "finished")
    .map((merge) => merge.snapshot);
  let oneShotCleared = false;
  try {
    oneShotCleared = await cancelOneShot(steps, await detectGrub(files), files);
  } catch (error) {
    if (!(error instanceof RootsnapError)) throw error;
  }
  const mounts = await readMounts(context);
  const since = await bootTime(context);
  const bootCopies: string[] = [];
  for (const set of state.sets) {
    const devices = new Set(
      set.volumes
        .map((volume) => volume.originLv?.device)
        .filter((device): device is string => typeof device === "string"),
    );
    // /boot is mounted now but was not when the boot-time unit took the set.
    if (set.created < since || !bootLeftOut(mounts, devices)) continue;
    if (await files.exists(bootCopyPath(set.name))) continue;
    bootCopies.push(await saveBootCopy(files, steps, set.name));
  }
  const pruned = await pruneBootCopies(files, steps, new Set(state.sets.map((set) => set.name)));
  return {
    mergesFinished,
    oneShotCleared,
    bootCopies,
    pruned,
    commands: [...state.commands, ...steps.commands],
    dryRun: context.dryRun,
  };
}
