// rootsnap status: sets, fill levels, pending merges, invalid snapshots, VG free space;
// and it finishes merges that an earlier boot ran but nothing polled to the end.
import { interruptedSetup, parseState, STATE_PATH } from "../boot/install.ts";
import { readBootFailure } from "../boot/plan.ts";
import { isThin, type LogicalVolume, type VolumeGroup } from "../lvm/model.ts";
import type { Lvm } from "../lvm/lvm.ts";
import { removeArgv } from "../sets/apply.ts";
import { collectSets, type SnapshotSet } from "../sets/model.ts";
import { readSetTags } from "../sets/tags.ts";
import { lvmPollers } from "../lvm/pollers.ts";
import type { Commands, Context } from "../system/context.ts";
import { lvmOf } from "../lvm/lvm.ts";

/** Fill level from which a snapshot or pool is reported as nearly full. */
export const FULL_WARNING_PERCENT = 80;

/**
 * waiting: starts at the origin's next activation; running: the kernel merges now;
 * finished: rootsnap polled it to the end just now.
 */
export type MergeState = "waiting" | "running" | "finished";

export interface PendingMerge {
  readonly origin: string;
  readonly snapshot: string;
  readonly state: MergeState;
}

export interface StatusResult {
  readonly sets: readonly SnapshotSet[];
  readonly volumeGroups: readonly VolumeGroup[];
  readonly merges: readonly PendingMerge[];
  /** Copy-on-write volumes an interrupted merge left behind, removed by this run. */
  readonly leftovers: readonly string[];
  /** Why this boot's set was not made, as the boot-time unit recorded it. */
  readonly bootFailure: string | null;
  /** What a setup run cut off before its end left, and what to do; null when none was. */
  readonly setupInterrupted: string | null;
  readonly warnings: readonly string[];
  readonly commands: Commands;
  readonly dryRun: boolean;
}

export function pollArgv(origin: string): string[] {
  return ["lvchange", "--poll", "y", origin];
}

function mergingSnapshots(lvs: readonly LogicalVolume[]): LogicalVolume[] {
  return lvs.filter((lv) => lv.origin !== null && lv.merging);
}

/** A merge the kernel already runs (snapshot-merge target) but lvm's metadata still shows. */
async function kernelMerging(lvm: Lvm, origin: LogicalVolume | undefined): Promise<boolean> {
  if (origin === undefined || !origin.active || origin.dmPath === "") return false;
  return (await lvm.liveTargets(origin)).includes("snapshot-merge");
}

async function findMerges(lvm: Lvm, lvs: readonly LogicalVolume[]): Promise<PendingMerge[]> {
  const byName = new Map(lvs.map((lv) => [lv.fullName, lv]));
  const merges: PendingMerge[] = [];
  for (const snapshot of mergingSnapshots(lvs)) {
    const origin = `${snapshot.vg}/${snapshot.origin ?? ""}`;
    const running = await kernelMerging(lvm, byName.get(origin));
    merges.push({ origin, snapshot: snapshot.fullName, state: running ? "running" : "waiting" });
  }
  return merges;
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

function warningsFor(sets: readonly SnapshotSet[], merges: readonly PendingMerge[]): string[] {
  const warnings: string[] = [];
  for (const set of sets) {
    const had = set.volumes.length + set.missing + set.unavailable.length;
    if (set.missing > 0) {
      const drop = set.recordsVolumes ? "rootsnap prune or rootsnap remove" : "rootsnap remove";
      warnings.push(
        `set ${set.name} is incomplete (${set.missing} of ${had} snapshots missing) and cannot be reverted; ${drop} ${set.name} drops it`,
      );
    } else if (set.unavailable.length > 0) {
      warnings.push(
        `set ${set.name} has ${set.unavailable.length} of ${had} snapshots in VG ${set.absentVgs.join(", ")}, which lvm does not see: connect its disk; until then the set cannot be reverted, and prune keeps it`,
      );
    }
    for (const volume of set.volumes) {
      if (volume.state === "invalid") {
        warnings.push(
          `${volume.snapshot} (set ${set.name}) is invalid: it overflowed and its data is lost; remove the set`,
        );
      } else if (volume.mergeFailed) {
        warnings.push(`${volume.snapshot} (set ${set.name}): merge failed`);
      } else if (volume.usedPercent !== null && volume.usedPercent >= FULL_WARNING_PERCENT) {
        const what = volume.usedOf === "pool" ? "its thin pool" : "it";
        warnings.push(
          `${volume.snapshot} (set ${set.name}): ${what} is ${volume.usedPercent}% full`,
        );
      }
    }
  }
  for (const merge of merges.filter((candidate) => candidate.state === "waiting")) {
    warnings.push(
      `${merge.snapshot} merges into ${merge.origin} at its next activation (next boot if in use)`,
    );
  }
  return warnings;
}

/**
 * lvm finishes a merge by detaching the snapshot, which turns its copy-on-write volume into
 * a plain LV, and then removing that LV; a boot cut between the two leaves the plain LV
 * with the set's tags. rootsnap tags only the snapshots it makes, so such an LV is that.
 */
export function mergeLeftovers(lvs: readonly LogicalVolume[]): LogicalVolume[] {
  return lvs.filter(
    (lv) =>
      readSetTags(lv.tags, null) !== undefined &&
      lv.origin === null &&
      !lv.attr.isSnapshot &&
      !isThin(lv) &&
      !lv.hidden &&
      !lv.open,
  );
}

export async function status(context: Context): Promise<StatusResult> {
  const lvm = lvmOf(context);
  const [lvs, volumeGroups] = await Promise.all([lvm.logicalVolumes(), lvm.volumeGroups()]);
  const merges = await findMerges(lvm, lvs);
  const work = merges.some((merge) => merge.state === "running") || mergeLeftovers(lvs).length > 0;
  // lvm's own poller finishes what it polls; a second hand on it is what goes wrong.
  const pollers = work ? await lvmPollers(context.fs) : [];
  const busy = pollers.length > 0;
  const finished = busy ? { merges } : await finishMerges(lvm, merges);
  const leftovers = busy ? [] : mergeLeftovers(finished.lvs ?? lvs).map((lv) => lv.fullName);
  for (const leftover of leftovers) {
    await lvm.change(removeArgv(leftover));
    context.output.note(
      `${lvm.dryRun ? "would remove" : "removed"} ${leftover}, the copy-on-write volume a finished merge left behind`,
    );
  }
  const removed = new Set(lvm.dryRun ? [] : leftovers);
  const sets = collectSets((finished.lvs ?? lvs).filter((lv) => !removed.has(lv.fullName)));
  const warnings = warningsFor(sets, finished.merges);
  const bootFailure = await readBootFailure(context.fs);
  if (bootFailure !== null) warnings.unshift(`this boot's set was not made: ${bootFailure}`);
  const setupInterrupted = interruptedSetup(parseState(await context.fs.readText(STATE_PATH)));
  if (setupInterrupted !== null) warnings.unshift(setupInterrupted);
  if (busy) {
    const who = pollers.map((poller) => `pid ${poller.pid}`).join(", ");
    warnings.push(
      `lvm (${who}) is still finishing a merge; rootsnap leaves it to lvm (run rootsnap status again when it has ended)`,
    );
  }
  return {
    sets,
    volumeGroups,
    merges: finished.merges,
    leftovers,
    bootFailure,
    setupInterrupted,
    warnings,
    commands: lvm.effects.changes,
    dryRun: lvm.dryRun,
  };
}
