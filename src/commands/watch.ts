// rootsnap watch: the watchdog. Reads every fill level in one lvs call and acts before
// a copy-on-write snapshot overflows (and becomes invalid) or a thin pool fills up:
// extend from VG free space, remove the set, or warn, as [watchdog] says.
import { loadConfig } from "../config/config.ts";
import type { WatchdogConfig } from "../config/lifecycle.ts";
import { renderMetrics } from "../lifecycle/metrics.ts";
import type { Lvm } from "../lvm/lvm.ts";
import type { LogicalVolume, VolumeGroup } from "../lvm/model.ts";
import { collectSets, type SetVolume, type SnapshotSet } from "../sets/model.ts";
import type { Context } from "../system/context.ts";
import { lvmOf } from "../lvm/lvm.ts";
import { dropSet } from "../sets/apply.ts";
import { sleepUnlessAborted } from "../system/sleep.ts";

export interface WatchEvent {
  readonly level: "warning" | "notice";
  readonly set: string;
  readonly snapshot: string;
  readonly usedPercent: number | null;
  readonly action: "extended" | "removed" | "warned" | "invalid";
  readonly message: string;
}

export interface WatchResult {
  readonly events: readonly WatchEvent[];
  readonly metrics: string | undefined;
  /** The [watchdog] threshold (percent full) this pass acted at. */
  readonly threshold: number;
}

export type WriteFile = (path: string, data: string, mode: number) => Promise<void>;

/**
 * rootsnap's lock taken without waiting, or why it is not to be had: a pass that would
 * remove a set takes it (a backup or a create may be using that set), one that extends does not.
 */
export type TakeLock = () => Promise<{ release(): void } | string>;

export interface WatchOptions {
  readonly write?: WriteFile;
  readonly takeLock?: TakeLock;
}

/** Bytes to add: extendPercent of the current size, in whole extents. */
function increment(size: number, percent: number, extent: number): number {
  const want = Math.max(extent, Math.ceil((size * percent) / 100));
  return Math.ceil(want / extent) * extent;
}

interface Pass {
  readonly lvm: Lvm;
  readonly config: WatchdogConfig;
  readonly vgs: Map<string, VolumeGroup>;
  readonly events: WatchEvent[];
  readonly takeLock?: TakeLock;
  /** The lock once this pass took it, or why it could not. */
  lock?: { release(): void } | string;
}

/** Undefined when the pass may remove a set; otherwise why not. */
async function lockForRemoval(pass: Pass): Promise<string | undefined> {
  if (pass.takeLock === undefined || pass.lvm.dryRun) return undefined;
  pass.lock ??= await pass.takeLock();
  return typeof pass.lock === "string" ? pass.lock : undefined;
}

function event(
  pass: Pass,
  set: SnapshotSet,
  v: SetVolume,
  action: WatchEvent["action"],
  message: string,
): void {
  pass.events.push({
    level: action === "extended" ? "notice" : "warning",
    set: set.name,
    snapshot: v.snapshot,
    usedPercent: v.usedPercent,
    action,
    message,
  });
}

/** The LV that runs full: the COW snapshot itself, or a thin snapshot's pool. */
function filling(v: SetVolume, byName: Map<string, LogicalVolume>): LogicalVolume | undefined {
  const lv = v.snapshotLv;
  return v.thin ? (lv.pool === null ? undefined : byName.get(`${lv.vg}/${lv.pool}`)) : lv;
}

async function extend(pass: Pass, target: LogicalVolume): Promise<string | undefined> {
  const vg = pass.vgs.get(target.vg);
  if (vg === undefined) return undefined;
  const bytes = increment(target.sizeBytes, pass.config.extendPercent, vg.extentSizeBytes);
  if (bytes > vg.freeBytes) return undefined;
  await pass.lvm.change(["lvextend", "-L", `+${bytes}b`, target.fullName]);
  pass.vgs.set(vg.name, { ...vg, freeBytes: vg.freeBytes - bytes });
  return `extended ${target.fullName} by ${Math.round(bytes / 2 ** 20)} MiB`;
}

async function act(
  pass: Pass,
  set: SnapshotSet,
  v: SetVolume,
  target: LogicalVolume,
): Promise<void> {
  const used = `${v.usedPercent?.toFixed(1) ?? "?"}% full`;
  const { action, fallback } = pass.config;
  if (action === "extend") {
    const done = await extend(pass, target);
    if (done !== undefined) {
      event(pass, set, v, "extended", `set ${set.name}: ${v.snapshot} was ${used}; ${done}`);
      return;
    }
  }
  const removing = action === "remove" || (action === "extend" && fallback === "remove");
  let protectedBy = set.volumes.some((x) => x.state === "merging")
    ? "a merge is pending"
    : set.volumes.some((x) => x.snapshotLv.open)
      ? "it is in use"
      : undefined;
  if (removing && protectedBy === undefined) protectedBy = await lockForRemoval(pass);
  if (removing && protectedBy === undefined) {
    await dropSet(pass.lvm, set);
    event(
      pass,
      set,
      v,
      "removed",
      `set ${set.name}: ${v.snapshot} was ${used} and could not grow; removed the set before it overflowed`,
    );
    return;
  }
  const why =
    action === "extend"
      ? `no free space in ${target.vg} to extend ${target.fullName}`
      : `[watchdog] action is ${action}`;
  event(
    pass,
    set,
    v,
    "warned",
    `set ${set.name}: ${v.snapshot} is ${used} (${why}${protectedBy ? `; not removed: ${protectedBy}` : ""}); free space with vgextend, or remove a set`,
  );
}

/** Acts on each active volume at or above the threshold, each thin pool once. */
async function actOnSets(
  pass: Pass,
  sets: readonly SnapshotSet[],
  byName: Map<string, LogicalVolume>,
): Promise<void> {
  const handledPools = new Set<string>();
  for (const set of [...sets].reverse()) {
    for (const v of set.volumes) {
      if (v.state === "invalid") {
        event(
          pass,
          set,
          v,
          "invalid",
          `set ${set.name}: ${v.snapshot} overflowed and is invalid, its data is gone; rootsnap remove ${set.name}`,
        );
        continue;
      }
      if (v.state !== "active" || v.usedPercent === null || v.usedPercent < pass.config.threshold)
        continue;
      const target = filling(v, byName);
      if (target === undefined || handledPools.has(target.fullName)) continue;
      if (v.thin) handledPools.add(target.fullName);
      await act(pass, set, v, target);
    }
  }
}

/** One look at every set; acts on each volume at or above the threshold. */
export async function watchOnce(
  context: Context,
  lvm: Lvm,
  options: WatchOptions = {},
): Promise<WatchResult> {
  const { write, takeLock } = options;
  const { watchdog: config } = await loadConfig(
    context.fs,
    context.configPath,
    context.configNamed,
  );
  const [lvs, vgs] = await Promise.all([lvm.logicalVolumes(), lvm.volumeGroups()]);
  const byName = new Map(lvs.map((lv) => [lv.fullName, lv]));
  const pass: Pass = {
    lvm,
    config,
    vgs: new Map(vgs.map((vg) => [vg.name, vg])),
    events: [],
    takeLock,
  };
  const sets = collectSets(lvs);
  try {
    await actOnSets(pass, sets, byName);
  } finally {
    if (typeof pass.lock === "object") pass.lock.release();
  }
  let metrics: string | undefined;
  if (config.metrics !== undefined && write !== undefined && !lvm.dryRun) {
    const changed = pass.events.some((e) => e.action === "extended" || e.action === "removed");
    const now = changed ? collectSets(await lvm.logicalVolumes()) : sets;
    const nowVgs = changed ? await lvm.volumeGroups() : vgs;
    await write(config.metrics, renderMetrics(now, nowVgs, context.clock()), 0o644);
    metrics = config.metrics;
  }
  for (const e of pass.events) {
    if (e.level === "warning") context.output.warn(e.message);
    else context.output.note(e.message);
  }
  return { events: pass.events, metrics, threshold: config.threshold };
}

/**
 * Looks again every [watchdog] interval until the signal aborts. It waits for no rootsnap
 * lock (it must extend a snapshot that fills during a long backup): LVM locks its own
 * metadata, and only a pass that removes a set takes rootsnap's lock, if it is free.
 */
export async function watchFollow(
  context: Context,
  options: WatchOptions,
  signal: AbortSignal,
): Promise<WatchResult> {
  const { watchdog } = await loadConfig(context.fs, context.configPath, context.configNamed);
  let last: WatchResult = { events: [], metrics: undefined, threshold: watchdog.threshold };
  while (!signal.aborted) {
    last = await watchOnce(context, lvmOf(context), options);
    await sleepUnlessAborted(watchdog.interval * 1000, signal);
  }
  return last;
}
