// What rootsnap status shows: sets, fill levels, pending merges, invalid snapshots, VG free
// space, and what a repair is due for. It only looks: it takes no lock and changes nothing,
// so it answers while another rootsnap runs. The repairs themselves are in repair.ts.
import { interruptedSetup, parseState, STATE_PATH } from "../boot/install.ts";
import { readBootFailure } from "../boot/plan.ts";
import { isThin, type LogicalVolume, type VolumeGroup } from "../lvm/model.ts";
import type { Lvm } from "../lvm/lvm.ts";
import { collectSets, type SnapshotSet } from "../sets/model.ts";
import { readSetTags, reinstallTagOf } from "../sets/tags.ts";
import { decodeRecord, describeRecord } from "../boot/loader.ts";
import { lvmPollers, type LvmPoller } from "../lvm/pollers.ts";
import type { Context } from "../system/context.ts";
import { lvmOf } from "../lvm/lvm.ts";

/** Fill level from which a snapshot or pool is reported as nearly full. */
export const FULL_WARNING_PERCENT = 80;

/**
 * waiting: starts at the origin's next activation; running: the kernel merges now (or has
 * merged) and lvm still lists the snapshot; finished: rootsnap repair polled it to the end.
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
  /** Merges waiting or running. */
  readonly merges: readonly PendingMerge[];
  /** Copy-on-write volumes an interrupted merge left behind, which rootsnap repair removes. */
  readonly leftovers: readonly string[];
  /** Origins whose revert brings back another GRUB: its core image is installed once merged. */
  readonly bootLoaderPending: readonly { readonly origin: string; readonly bootLoader: string }[];
  /** Whether rootsnap repair has something to do now: a running merge nothing polls, a leftover. */
  readonly repairDue: boolean;
  /** Why this boot's set was not made, as the boot-time unit recorded it. */
  readonly bootFailure: string | null;
  /** What a setup run cut off before its end left, and what to do; null when none was. */
  readonly setupInterrupted: string | null;
  readonly warnings: readonly string[];
}

function mergingSnapshots(lvs: readonly LogicalVolume[]): LogicalVolume[] {
  return lvs.filter((lv) => lv.origin !== null && lv.merging);
}

/** A merge the kernel already runs (snapshot-merge target) but lvm's metadata still shows. */
async function kernelMerging(lvm: Lvm, origin: LogicalVolume | undefined): Promise<boolean> {
  if (origin === undefined || !origin.active || origin.dmPath === "") return false;
  return (await lvm.liveTargets(origin)).includes("snapshot-merge");
}

export async function findMerges(lvm: Lvm, lvs: readonly LogicalVolume[]): Promise<PendingMerge[]> {
  const byName = new Map(lvs.map((lv) => [lv.fullName, lv]));
  const merges: PendingMerge[] = [];
  for (const snapshot of mergingSnapshots(lvs)) {
    const origin = `${snapshot.vg}/${snapshot.origin ?? ""}`;
    const running = await kernelMerging(lvm, byName.get(origin));
    merges.push({ origin, snapshot: snapshot.fullName, state: running ? "running" : "waiting" });
  }
  return merges;
}

export function warningsFor(
  sets: readonly SnapshotSet[],
  merges: readonly PendingMerge[],
): string[] {
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

/**
 * lvm's own pollers, when there is work a repair would do: while one runs, rootsnap leaves
 * the merges and their leftovers to it (a second hand on them is what goes wrong).
 */
export async function pollersAtWork(
  context: Context,
  merges: readonly PendingMerge[],
  leftovers: readonly LogicalVolume[],
): Promise<LvmPoller[]> {
  const work = merges.some((merge) => merge.state === "running") || leftovers.length > 0;
  return work ? await lvmPollers(context.fs) : [];
}

export function pollersWarning(pollers: readonly LvmPoller[], again: string): string {
  const who = pollers.map((poller) => `pid ${poller.pid}`).join(", ");
  return `lvm (${who}) is still finishing a merge; rootsnap leaves it to lvm (run ${again} again when it has ended)`;
}

/** What rootsnap repair would do, one warning each. */
function repairWarnings(merges: readonly PendingMerge[], leftovers: readonly string[]): string[] {
  return [
    ...merges
      .filter((merge) => merge.state === "running")
      .map(
        (merge) =>
          `a merge of ${merge.snapshot} into ${merge.origin} ran in the kernel but nothing polled it to its end, so lvm still lists it: rootsnap repair finishes it`,
      ),
    ...leftovers.map(
      (leftover) => `${leftover} is what an interrupted merge left: rootsnap repair removes it`,
    ),
  ];
}

/** The warnings every look at the state begins with: a cut-off setup, a failed boot set. */
async function systemWarnings(
  context: Context,
): Promise<{ bootFailure: string | null; setupInterrupted: string | null; warnings: string[] }> {
  const warnings: string[] = [];
  const setupInterrupted = interruptedSetup(parseState(await context.fs.readText(STATE_PATH)));
  if (setupInterrupted !== null) warnings.push(setupInterrupted);
  const bootFailure = await readBootFailure(context.fs);
  if (bootFailure !== null) warnings.push(`this boot's set was not made: ${bootFailure}`);
  return { bootFailure, setupInterrupted, warnings };
}

/** The boot-loader installs reverts left on origins, described from their records. */
function pendingInstalls(
  lvs: readonly LogicalVolume[],
): { readonly origin: string; readonly bootLoader: string }[] {
  return lvs.flatMap((lv) => {
    const record = decodeRecord(reinstallTagOf(lv.tags));
    return record === undefined
      ? []
      : [{ origin: lv.fullName, bootLoader: describeRecord(record) }];
  });
}

/** The state as lvm and rootsnap's records show it; nothing is changed. */
export async function status(context: Context): Promise<StatusResult> {
  const lvm = lvmOf(context);
  const [lvs, volumeGroups] = await Promise.all([lvm.logicalVolumes(), lvm.volumeGroups()]);
  const merges = await findMerges(lvm, lvs);
  const found = mergeLeftovers(lvs);
  const pollers = await pollersAtWork(context, merges, found);
  const leftovers = found.map((lv) => lv.fullName);
  const left = new Set(leftovers);
  // A leftover is no snapshot of its set any more: it shows as that, not as a member.
  const sets = collectSets(lvs.filter((lv) => !left.has(lv.fullName)));
  const { bootFailure, setupInterrupted, warnings } = await systemWarnings(context);
  warnings.push(...warningsFor(sets, merges));
  const bootLoaderPending = pendingInstalls(lvs);
  for (const pending of bootLoaderPending) {
    warnings.push(
      `${pending.origin} was reverted to a set made with ${pending.bootLoader}: its core image is installed again once the merge has run (rootsnap-finish.service at boot, or rootsnap repair)`,
    );
  }
  const merged = (origin: string): boolean => !merges.some((merge) => merge.origin === origin);
  const repairDue =
    pollers.length === 0 &&
    (leftovers.length > 0 ||
      merges.some((merge) => merge.state === "running") ||
      bootLoaderPending.some((pending) => merged(pending.origin)));
  if (pollers.length > 0) warnings.push(pollersWarning(pollers, "rootsnap status"));
  else warnings.push(...repairWarnings(merges, leftovers));
  return {
    sets,
    volumeGroups,
    merges,
    leftovers,
    bootLoaderPending,
    repairDue,
    bootFailure,
    setupInterrupted,
    warnings,
  };
}
