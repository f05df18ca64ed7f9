// Pruning: remove the sets the retention policies of rootsnap.toml no longer keep.
import { loadConfig } from "../config/config.ts";
import { mountPointsOf, type Mount } from "../config/mounts.ts";
import { CancelledError } from "../system/errors.ts";
import type { Lvm } from "../lvm/lvm.ts";
import { collectSets, type SnapshotSet } from "../sets/model.ts";
import { planPrune, type PruneDecision, type RetentionPolicies } from "../sets/retention.ts";
import type { SetKind } from "../sets/tags.ts";
import type { Commands, Context } from "../system/context.ts";
import { readMounts } from "../config/mounts.ts";
import { dropSet } from "../sets/apply.ts";
import { decideTemporary, removeLeftover } from "./temporary.ts";

export interface PruneEntry extends PruneDecision {
  readonly kind: SetKind;
  readonly created: Date;
}

export interface PruneResult {
  readonly decisions: readonly PruneEntry[];
  readonly removed: readonly string[];
  readonly commands: Commands;
  readonly dryRun: boolean;
}

/** In use: mounted somewhere, or held open (a backup reading it). */
function inUse(set: SnapshotSet, mounts: readonly Mount[]): boolean {
  return set.volumes.some(
    (v) =>
      v.snapshotLv.open ||
      (v.snapshotLv.device !== null && mountPointsOf(mounts, v.snapshotLv.device).length > 0),
  );
}

export function decide(
  sets: readonly SnapshotSet[],
  mounts: readonly Mount[],
  policies: RetentionPolicies,
  now: Date,
  kinds?: readonly SetKind[],
): PruneEntry[] {
  const considered = kinds === undefined ? sets : sets.filter((s) => kinds.includes(s.kind));
  const decisions = planPrune(
    considered.map((s) => ({
      name: s.name,
      kind: s.kind,
      created: s.created,
      merging: s.volumes.some((v) => v.state === "merging"),
      mounted: inUse(s, mounts),
      missing: s.missing,
      missingMayBeAway: !s.recordsVolumes,
      absentVgs: s.absentVgs,
    })),
    policies,
    now,
  );
  return decisions.map((d, i) => ({
    ...d,
    kind: considered[i]?.kind ?? "manual",
    created: considered[i]?.created ?? new Date(0),
  }));
}

/** What a prune would decide for each set, with the mounts it looked at. */
async function decideAll(
  context: Context,
  sets: readonly SnapshotSet[],
  kinds?: readonly SetKind[],
): Promise<{ decided: PruneEntry[]; mounts: readonly Mount[] }> {
  const config = await loadConfig(context.fs, context.configPath, context.configNamed);
  const mounts = await readMounts(context);
  // Temporary sets count in no retention policy; a full prune removes those of gone runs.
  const lasting = sets.filter((s) => s.temporary === undefined);
  const decided = [
    ...decide(lasting, mounts, config.retention, context.clock(), kinds),
    ...(kinds === undefined ? await decideTemporary(context.fs, sets, mounts) : []),
  ];
  return { decided, mounts };
}

/** What `rootsnap prune` would decide for the named set among `sets`, changing nothing. */
export async function retentionOf(
  context: Context,
  sets: readonly SnapshotSet[],
  name: string,
): Promise<PruneDecision> {
  const { decided } = await decideAll(context, sets);
  const found = decided.find((d) => d.name === name);
  return found === undefined
    ? { name, keep: true, reason: "not considered by prune" }
    : { name, keep: found.keep, reason: found.reason };
}

/** Removes what the policies let go; `ask` is false when create prunes after itself. */
export async function pruneWith(
  context: Context,
  lvm: Lvm,
  options: { kinds?: readonly SetKind[]; ask: boolean; protect?: readonly string[] },
): Promise<PruneResult> {
  const sets = collectSets(await lvm.logicalVolumes());
  const { decided, mounts } = await decideAll(context, sets, options.kinds);
  const protect = new Set(options.protect);
  const decisions = decided.map((d) =>
    protect.has(d.name) && !d.keep ? { ...d, keep: true, reason: "just created" } : d,
  );
  const going = decisions.filter((d) => !d.keep).map((d) => d.name);
  if (
    going.length > 0 &&
    options.ask &&
    !(await context.confirm(`Remove ${going.length} set(s): ${going.join(", ")}?`))
  ) {
    throw new CancelledError("prune");
  }
  const removed: string[] = [];
  for (const name of going) {
    const set = sets.find((s) => s.name === name);
    if (set === undefined) continue;
    removed.push(...(await (set.temporary ? removeLeftover(lvm, set, mounts) : dropSet(lvm, set))));
    context.output.note(`${lvm.dryRun ? "would remove" : "removed"} set ${name}`);
  }
  return { decisions, removed, commands: lvm.effects.changes, dryRun: lvm.dryRun };
}
