// Which sets a retention policy removes. Pure: the clock and the sets are handed in, so
// clock jumps and thousands of sets are tested without a system.
import type { SetKind } from "./tags.ts";

/** How many of the newest sets to keep per calendar bucket (UTC). */
export interface Timeline {
  readonly hourly?: number;
  readonly daily?: number;
  readonly weekly?: number;
  readonly monthly?: number;
  readonly yearly?: number;
}

/** A set is kept when any rule keeps it; a kind with no policy keeps everything. */
export interface RetentionPolicy {
  readonly keepLast?: number;
  /** Seconds: sets younger than this are kept. */
  readonly keepWithin?: number;
  readonly timeline?: Timeline;
}

export type RetentionPolicies = Partial<Record<SetKind, RetentionPolicy>>;

export interface PruneCandidate {
  readonly name: string;
  readonly kind: SetKind;
  readonly created: Date;
  /** A merge is pending or running: removing it would drop the revert. */
  readonly merging: boolean;
  readonly mounted: boolean;
  /** Snapshots it lacks: such a set cannot be reverted and takes no place in a policy. */
  readonly missing?: number;
  /** The set records no volumes: what it lacks may lie in a VG that is absent for now. */
  readonly missingMayBeAway?: boolean;
  /** VGs lvm does not report now that hold some of its snapshots: kept until they are back. */
  readonly absentVgs?: readonly string[];
}

export interface PruneDecision {
  readonly name: string;
  readonly keep: boolean;
  /** Why: the rule that kept it, or the policy that let it go. */
  readonly reason: string;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

type Bucket = (t: number) => number;

/** ISO weeks start on Monday; 1970-01-01 was a Thursday. */
const BUCKETS: Record<keyof Timeline, Bucket> = {
  hourly: (t) => Math.floor(t / HOUR),
  daily: (t) => Math.floor(t / DAY),
  weekly: (t) => Math.floor((Math.floor(t / DAY) + 3) / 7),
  monthly: (t) => {
    const d = new Date(t);
    return d.getUTCFullYear() * 12 + d.getUTCMonth();
  },
  yearly: (t) => new Date(t).getUTCFullYear(),
};

function keptByTimeline(
  newestFirst: readonly PruneCandidate[],
  timeline: Timeline,
): Map<string, string> {
  const kept = new Map<string, string>();
  for (const key of Object.keys(BUCKETS) as (keyof Timeline)[]) {
    const want = timeline[key] ?? 0;
    if (want <= 0) continue;
    const bucketOf = BUCKETS[key];
    const seen = new Set<number>();
    for (const set of newestFirst) {
      if (seen.size >= want) break;
      const b = bucketOf(set.created.getTime());
      if (seen.has(b)) continue;
      seen.add(b);
      if (!kept.has(set.name)) kept.set(set.name, `${key} ${seen.size} of ${want}`);
    }
  }
  return kept;
}

function decideKind(
  newestFirst: readonly PruneCandidate[],
  policy: RetentionPolicy,
  now: number,
): Map<string, string> {
  const kept = new Map<string, string>();
  const keepLast = policy.keepLast ?? 0;
  newestFirst.slice(0, keepLast).forEach((s, i) => {
    kept.set(s.name, `newest ${i + 1} of ${keepLast}`);
  });
  if (policy.keepWithin !== undefined) {
    const within = policy.keepWithin * 1000;
    for (const s of newestFirst) {
      // A set from the future (the clock went back) is never old enough to go.
      if (!kept.has(s.name) && now - s.created.getTime() < within)
        kept.set(s.name, "younger than keep-within");
    }
  }
  if (policy.timeline) {
    for (const [name, why] of keptByTimeline(newestFirst, policy.timeline)) {
      if (!kept.has(name)) kept.set(name, why);
    }
  }
  return kept;
}

/**
 * Why a set part of which may merely be out of reach is kept, or undefined: removing what
 * can be seen would leave a set whose disk comes back broken.
 */
function unreachableReason(s: PruneCandidate): string | undefined {
  const missing = s.missing ?? 0;
  if (missing > 0 && s.missingMayBeAway === true) {
    return `incomplete: ${missing} snapshot(s) missing, perhaps in a VG that is absent now (the set does not record its volumes); rootsnap remove ${s.name} drops it`;
  }
  const absent = s.absentVgs ?? [];
  if (missing === 0 && absent.length > 0) {
    return `VG ${absent.join(", ")} is absent: kept until lvm sees it again`;
  }
  return undefined;
}

/** One decision per set, in the order given. */
export function planPrune(
  sets: readonly PruneCandidate[],
  policies: RetentionPolicies,
  now: Date,
): PruneDecision[] {
  const byKind = new Map<SetKind, PruneCandidate[]>();
  const reasons = new Map<string, PruneDecision>();
  for (const s of sets) {
    const unreachable = unreachableReason(s);
    if (unreachable !== undefined) {
      reasons.set(s.name, { name: s.name, keep: true, reason: unreachable });
      continue;
    }
    if ((s.missing ?? 0) > 0) {
      reasons.set(
        s.name,
        s.mounted
          ? { name: s.name, keep: true, reason: "mounted" }
          : { name: s.name, keep: false, reason: `incomplete: ${s.missing} snapshot(s) missing` },
      );
      continue;
    }
    const list = byKind.get(s.kind) ?? [];
    list.push(s);
    byKind.set(s.kind, list);
  }
  for (const [kind, list] of byKind) {
    const newestFirst = [...list].sort((a, b) => b.created.getTime() - a.created.getTime());
    const policy = policies[kind];
    const kept = policy ? decideKind(newestFirst, policy, now.getTime()) : undefined;
    newestFirst.forEach((s, i) => {
      let reason = kept === undefined ? `no retention policy for ${kind} sets` : kept.get(s.name);
      if (s.merging) reason = "a merge is pending";
      else if (s.mounted) reason = "mounted";
      else if (kind === "boot" && i === 0) reason ??= "the newest boot set";
      reasons.set(
        s.name,
        reason === undefined
          ? { name: s.name, keep: false, reason: `not kept by the ${kind} policy` }
          : { name: s.name, keep: true, reason },
      );
    });
  }
  return sets.map((s) => reasons.get(s.name) ?? { name: s.name, keep: true, reason: "unknown" });
}
