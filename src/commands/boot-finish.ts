// rootsnap boot-finish, run by rootsnap-finish.service after local-fs.target at every
// boot: finishes merges nothing polls, clears rootsnap's one-shot entry where GRUB could
// not (grubenv on LVM), copies /boot for this boot's set, and drops copies of gone sets;
// it prunes the boot sets after a boot that made one, and regenerates the boot plan.
import {
  bootArea,
  bootCopyPath,
  bootLeftOut,
  pruneBootCopies,
  saveBootCopy,
} from "../boot/bootcopy.ts";
import { nodeBootFiles, type BootFiles } from "../system/files.ts";
import { detectMenu } from "../boot/menu.ts";
import { cancelOneShot } from "../boot/install.ts";
import { RootsnapError } from "../system/errors.ts";
import { DEFAULT_PROGRAM } from "../boot/units.ts";
import type { SnapshotSet } from "../sets/model.ts";
import { keepBootPlan } from "../lifecycle/boot-plan.ts";
import type { Commands, Context } from "../system/context.ts";
import { lvmOf } from "../lvm/lvm.ts";
import { readMounts } from "../config/mounts.ts";
import { pruneWith } from "../lifecycle/prune.ts";
import { repair } from "../lifecycle/repair.ts";
import { readBootFailure } from "../boot/plan.ts";

export interface BootFinishResult {
  readonly mergesFinished: readonly string[];
  /** Copy-on-write volumes an interrupted merge left, removed by this run. */
  readonly leftoversRemoved: readonly string[];
  readonly oneShotCleared: boolean;
  /** GRUB core images installed again now that a revert's merge has run. */
  readonly bootLoader: readonly string[];
  readonly bootCopies: readonly string[];
  readonly pruned: readonly string[];
  /** Boot sets the boot set's retention policy let go once this boot's set was made. */
  readonly setsPruned: readonly string[];
  /** Why this boot's set was not made, as the boot-time unit recorded it. */
  readonly bootFailure: string | null;
  readonly warnings: readonly string[];
  readonly commands: Commands;
  readonly dryRun: boolean;
}

/**
 * How long boot-finish waits, before it takes rootsnap's lock, for lvm's own pollers to
 * finish the merges a revert started at this boot; the repair leaves to them what they still poll.
 */
export const BOOT_LVM_WAIT_MS = 180_000;

/** When this boot started, from btime in /proc/stat. */
async function bootTime(context: Context): Promise<Date> {
  const stat = (await context.fs.readText("/proc/stat")) ?? "";
  const seconds = Number(/^btime (\d+)$/m.exec(stat)?.[1] ?? "0");
  return new Date(seconds * 1000);
}

/** What the boot-time set's create would have pruned after it, now that the boot is done. */
async function pruneBootSets(
  context: Context,
  sets: readonly SnapshotSet[],
  since: Date,
): Promise<{ removed: string[]; commands: Commands; warnings: string[] }> {
  const made = sets.filter((set) => set.kind === "boot" && set.created >= since);
  if (made.length === 0) return { removed: [], commands: [], warnings: [] };
  const lvm = lvmOf(context);
  try {
    const protect = made.map((set) => set.name);
    const result = await pruneWith(context, lvm, { kinds: ["boot"], ask: false, protect });
    const removed = result.decisions.filter((d) => !d.keep).map((d) => d.name);
    return { removed, commands: result.commands, warnings: [] };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return {
      removed: [],
      commands: lvm.effects.changes,
      warnings: [`pruning old boot sets failed: ${why}`],
    };
  }
}

export async function bootFinish(
  context: Context,
  files: BootFiles = nodeBootFiles,
  program: readonly string[] = DEFAULT_PROGRAM,
): Promise<BootFinishResult> {
  const { effects } = context;
  const state = await repair(context);
  const mergesFinished = state.merges
    .filter((merge) => merge.state === "finished")
    .map((merge) => merge.snapshot);
  let oneShotCleared = false;
  try {
    oneShotCleared = await cancelOneShot(effects, await detectMenu(files), files);
  } catch (error) {
    if (!(error instanceof RootsnapError)) throw error;
  }
  const mounts = await readMounts(context);
  const since = await bootTime(context);
  const bootCopies: string[] = [];
  const area = await bootArea(files);
  for (const set of state.sets) {
    const devices = new Set(
      set.volumes
        .map((volume) => volume.originLv?.device)
        .filter((device): device is string => typeof device === "string"),
    );
    // The boot area is mounted now but was not when the boot-time unit took the set.
    if (set.created < since || !bootLeftOut(mounts, devices, area)) continue;
    if (await files.exists(bootCopyPath(set.name))) continue;
    bootCopies.push(await saveBootCopy(files, effects, set.name, area));
  }
  // The boot-time unit runs the plan, which leaves retention to this unit.
  const setsPruned = await pruneBootSets(context, state.sets, since);
  const gone = new Set(context.dryRun ? [] : setsPruned.removed);
  const kept = state.sets.filter((set) => !gone.has(set.name)).map((set) => set.name);
  const pruned = await pruneBootCopies(files, effects, new Set(kept));
  // After the pruning: the plan sizes N%FREE from the space it left.
  const plan = await keepBootPlan(context, files, program);
  return {
    mergesFinished,
    leftoversRemoved: state.leftovers,
    oneShotCleared,
    bootLoader: state.bootLoader,
    bootCopies,
    pruned,
    setsPruned: setsPruned.removed,
    bootFailure: await readBootFailure(context.fs),
    warnings: [...state.warnings, ...setsPruned.warnings, ...plan.warnings],
    commands: context.effects.changes,
    dryRun: context.dryRun,
  };
}
