// rootsnap revert NAME: merge every snapshot of a set back into its origin, then read
// lv_attr again to tell what merged now and what waits for the next activation:
// lvconvert --merge exits 0 in both cases.
import { CancelledError, DataError, OperationError } from "../system/errors.ts";
import type { LogicalVolume } from "../lvm/model.ts";
import type { Lvm } from "../lvm/lvm.ts";
import { collectSets, type SetVolume, type SnapshotSet } from "../sets/model.ts";
import { mountAt } from "../config/mounts.ts";
import { bootCopyToRestore, restoreBootForRevert } from "../boot/bootcopy.ts";
import { kernelEntryForRevert, startSetKernelNext } from "../boot/revertboot.ts";
import { prepareInitramfsForMerge } from "../boot/initramfs.ts";
import { bootLoaderForRevert } from "../boot/loader.ts";
import type { Commands, Context } from "../system/context.ts";
import { lvmOf } from "../lvm/lvm.ts";
import { readMounts } from "../config/mounts.ts";
import { requireComplete, requireSet } from "../sets/model.ts";

/** merged: done now; pending: starts when the origin is next activated (next boot if in use). */
export type MergeOutcome = "merged" | "pending" | "planned";

export interface RevertedVolume {
  readonly origin: string;
  readonly snapshot: string;
  readonly outcome: MergeOutcome;
}

export interface RevertResult {
  readonly set: SnapshotSet;
  readonly volumes: readonly RevertedVolume[];
  readonly commands: Commands;
  readonly dryRun: boolean;
}

function originMerging(origin: LogicalVolume, lvs: readonly LogicalVolume[]): boolean {
  return (
    origin.attr.isMergingOrigin ||
    lvs.some((lv) => lv.vg === origin.vg && lv.origin === origin.name && lv.merging)
  );
}

/** Why this volume cannot be merged, or undefined when it can. */
function mergeProblem(volume: SetVolume, lvs: readonly LogicalVolume[]): string | undefined {
  const snapshot = volume.snapshot;
  if (volume.state === "invalid")
    return `${snapshot} is invalid: it overflowed, its data is lost and it cannot be merged`;
  if (volume.mergeFailed) return `an earlier merge of ${snapshot} failed`;
  if (volume.state === "merging")
    return `${snapshot} is already merging into ${volume.origin ?? "its origin"}`;
  if (volume.originLv === undefined) return `the origin of ${snapshot} no longer exists`;
  if (originMerging(volume.originLv, lvs))
    return `${volume.originLv.fullName} already has a snapshot merging into it`;
  return undefined;
}

function checkMergeable(set: SnapshotSet, lvs: readonly LogicalVolume[]): void {
  for (const volume of set.volumes) {
    const problem = mergeProblem(volume, lvs);
    if (problem !== undefined) {
      throw new DataError(
        `cannot revert set ${set.name}: ${problem}`,
        `nothing was changed; rootsnap remove ${set.name} drops the set`,
      );
    }
  }
}

export function mergeArgv(snapshot: string): string[] {
  return ["lvconvert", "--merge", snapshot];
}

async function mergeAll(lvm: Lvm, set: SnapshotSet): Promise<void> {
  const started: string[] = [];
  for (const volume of set.volumes) {
    try {
      await lvm.change(mergeArgv(volume.snapshot));
    } catch (error) {
      const done =
        started.length === 0
          ? "no merge was started"
          : `merges of ${started.join(", ")} were started`;
      const message = error instanceof Error ? error.message : String(error);
      throw new OperationError(
        `merging ${volume.snapshot} failed, ${done}: ${message}`,
        "rootsnap status shows what is merging",
        { cause: error },
      );
    }
    started.push(volume.snapshot);
  }
}

/** What lvm says now about each merged volume. */
async function outcomes(lvm: Lvm, set: SnapshotSet): Promise<RevertedVolume[]> {
  const after = collectSets(await lvm.logicalVolumes()).find(
    (candidate) => candidate.name === set.name,
  );
  return set.volumes.map((volume) => {
    const now = after?.volumes.find((candidate) => candidate.snapshot === volume.snapshot);
    if (now !== undefined && now.state !== "merging") {
      throw new OperationError(
        `lvconvert --merge ${volume.snapshot} exited 0 but lvm shows no merge (state ${now.state})`,
      );
    }
    const outcome: MergeOutcome = now === undefined ? "merged" : "pending";
    return { origin: volume.origin ?? "", snapshot: volume.snapshot, outcome };
  });
}

/** Volumes whose merge waits for the next boot and needs lvm's poller to finish. */
function polledAtBoot(set: SnapshotSet, volumes: readonly RevertedVolume[]): boolean {
  return set.volumes.some((volume) => {
    if (volume.thin) return false;
    const outcome = volumes.find((v) => v.snapshot === volume.snapshot)?.outcome;
    return outcome === "pending" || (outcome === "planned" && volume.originLv?.attr.open === true);
  });
}

/**
 * Merges that start at the next boot: the initramfs must not leave them to a poller that
 * outlives it (see boot/initramfs.ts). The merges have started by now, so a failure here
 * is an error that says how to finish by hand.
 */
async function prepareBoot(
  context: Context,
  set: SnapshotSet,
  setReleases: ReadonlySet<string> | undefined,
): Promise<void> {
  const files = context.bootFiles;
  if (files === undefined) return;
  try {
    const { rebuilt, skipped } = await prepareInitramfsForMerge(
      files,
      context.effects,
      setReleases,
    );
    if (rebuilt.length > 0 && !context.dryRun) {
      context.output.note(
        `rebuilt ${rebuilt.join(", ")} so that lvm finishes the merges in the running system`,
      );
    }
    if (skipped.length > 0) {
      context.output.warn(
        `${skipped.join(", ")} cannot be rebuilt (the kernel's modules are not installed): boot another kernel for the merge, or the boot may hang on a suspended volume`,
      );
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new OperationError(
      `the merges of set ${set.name} are started, but the initramfs could not be prepared for them: ${message}`,
      "run update-initramfs -u -k all before rebooting; without it the boot that merges may hang on a suspended volume",
      { cause: error },
    );
  }
}

/** Reverting / while /boot stays as it is can leave a kernel without its modules. */
async function warnAboutBoot(context: Context, set: SnapshotSet): Promise<void> {
  const mounts = await readMounts(context);
  const devices = new Set(set.volumes.map((volume) => volume.originLv?.device));
  const root = mountAt(mounts, "/");
  const boot = mountAt(mounts, "/boot");
  if (
    root === undefined ||
    boot === undefined ||
    !devices.has(root.device) ||
    devices.has(boot.device)
  ) {
    return;
  }
  context.output.warn(
    `/boot is not in set ${set.name}: a kernel installed since ${set.created.toISOString()} stays in /boot while its modules are reverted; check /boot before rebooting`,
  );
}

export async function revert(context: Context, name: string): Promise<RevertResult> {
  const lvm = lvmOf(context);
  const lvs = await lvm.logicalVolumes();
  const set = requireSet(collectSets(lvs), name);
  checkMergeable(set, lvs);
  requireComplete(set, "reverting the rest would leave its volumes out of step");
  const origins = set.volumes.map((volume) => volume.origin ?? "?").join(", ");
  const question = `Revert ${origins} to set ${name}? Every change made since ${set.created.toISOString()} is lost.`;
  const bootCopy = await bootCopyToRestore(context, set);
  if (bootCopy === undefined) await warnAboutBoot(context, set);
  const kernelEntry = bootCopy === undefined ? await kernelEntryForRevert(context, set) : undefined;
  if (!(await context.confirm(question))) throw new CancelledError(`revert ${name}`);
  await mergeAll(lvm, set);
  if (bootCopy !== undefined) await restoreBootForRevert(context, name);
  else if (kernelEntry !== undefined) await startSetKernelNext(context, kernelEntry);
  const volumes = lvm.dryRun
    ? set.volumes.map((volume) => ({
        origin: volume.origin ?? "",
        snapshot: volume.snapshot,
        outcome: "planned" as const,
      }))
    : await outcomes(lvm, set);
  const rootDevice = mountAt(await readMounts(context), "/")?.device;
  await bootLoaderForRevert(
    context,
    set,
    volumes.map((volume) => ({
      origin: volume.origin,
      merged: volume.outcome === "merged",
      root:
        set.volumes.find((v) => v.snapshot === volume.snapshot)?.originLv?.device === rootDevice,
    })),
  );
  // With /boot inside a reverted volume, images of kernels newer than the set go with the merge.
  if (polledAtBoot(set, volumes)) await prepareBoot(context, set, kernelEntry?.setReleases);
  return {
    set,
    volumes,
    commands: context.effects.changes,
    dryRun: lvm.dryRun,
  };
}
