// rootsnap repair (and boot-finish at every boot): finishes the merges a boot ran in the
// kernel but nothing polled to the end (`lvchange --poll y`), and removes what lvm leaves
// when finishing a merge is cut short. While lvm's own poller still works on a merge,
// rootsnap leaves it alone (src/lvm/pollers.ts says why).
import type { LogicalVolume } from "../lvm/model.ts";
import { lvmOf, type Lvm } from "../lvm/lvm.ts";
import { removeArgv } from "../sets/apply.ts";
import { collectSets, type SnapshotSet } from "../sets/model.ts";
import type { Commands, Context } from "../system/context.ts";
import { finishPendingInstalls } from "../boot/loader.ts";
import {
  findMerges,
  mergeLeftovers,
  pollersAtWork,
  pollersWarning,
  type PendingMerge,
} from "./state.ts";

export interface RepairResult {
  /** Every merge lvm listed, with "finished" for those this run polled to the end. */
  readonly merges: readonly PendingMerge[];
  /** The leftovers removed (in a dry run: that would be). */
  readonly leftovers: readonly string[];
  /** GRUB core images installed again now that a revert's merge has run. */
  readonly bootLoader: readonly string[];
  readonly warnings: readonly string[];
  readonly commands: Commands;
  readonly dryRun: boolean;
}

/** A repair, and the sets as lvm lists them after it (boot-finish goes on with those). */
export interface Repaired extends RepairResult {
  readonly sets: readonly SnapshotSet[];
}

export function pollArgv(origin: string): string[] {
  return ["lvchange", "--poll", "y", origin];
}

/** Asks lvm to finish each running merge, then reads back which ones ended. */
async function finishMerges(
  lvm: Lvm,
  merges: PendingMerge[],
): Promise<{ merges: PendingMerge[]; lvs?: LogicalVolume[] }> {
  const running = merges.filter((merge) => merge.state === "running");
  if (running.length === 0) return { merges };
  for (const merge of running) await lvm.change(pollArgv(merge.origin));
  if (lvm.dryRun) return { merges };
  const lvs = await lvm.logicalVolumes();
  const stillThere = new Set(lvs.map((lv) => lv.fullName));
  const updated = merges.map((merge): PendingMerge =>
    merge.state === "running" && !stillThere.has(merge.snapshot)
      ? { ...merge, state: "finished" }
      : merge,
  );
  return { merges: updated, lvs };
}

export async function repair(context: Context): Promise<Repaired> {
  const lvm = lvmOf(context);
  const lvs = await lvm.logicalVolumes();
  const merges = await findMerges(lvm, lvs);
  const pollers = await pollersAtWork(context, merges, mergeLeftovers(lvs));
  const warnings: string[] = [];
  if (pollers.length > 0) {
    warnings.push(pollersWarning(pollers, "rootsnap repair"));
    return {
      merges,
      leftovers: [],
      bootLoader: [],
      warnings,
      commands: [],
      dryRun: lvm.dryRun,
      sets: collectSets(lvs),
    };
  }
  const finished = await finishMerges(lvm, merges);
  const after = finished.lvs ?? lvs;
  const leftovers = mergeLeftovers(after).map((lv) => lv.fullName);
  for (const leftover of leftovers) {
    await lvm.change(removeArgv(leftover));
  }
  if (!lvm.dryRun) {
    for (const merge of finished.merges.filter((m) => m.state === "running")) {
      warnings.push(
        `${merge.snapshot} still merges into ${merge.origin} after lvchange --poll: run rootsnap repair again`,
      );
    }
  }
  const removed = new Set(lvm.dryRun ? [] : leftovers);
  const remaining = after.filter((lv) => !removed.has(lv.fullName));
  const installs = await finishPendingInstalls(context, remaining);
  warnings.push(...installs.warnings);
  const sets = collectSets(remaining);
  return {
    merges: finished.merges,
    leftovers,
    bootLoader: installs.installed,
    warnings,
    commands: lvm.effects.changes,
    dryRun: lvm.dryRun,
    sets,
  };
}
