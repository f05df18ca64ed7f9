// Prune's decision for 1,000 sets of mixed kinds and ages, against a baseline measured in
// the same run: sorting the same sets by age (the least any decision must do).
import { performance } from "node:perf_hooks";
import {
  planPrune,
  type PruneCandidate,
  type RetentionPolicies,
} from "../../src/sets/retention.ts";
import { SET_KINDS } from "../../src/sets/tags.ts";

const SETS = 1000;
const RUNS = 51;
export const PRUNE_BAR_MS = 50;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function makeSets(now: number): PruneCandidate[] {
  let seed = 42;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  return Array.from({ length: SETS }, (_, i) => ({
    name: `set-${i}`,
    kind: SET_KINDS[i % SET_KINDS.length] ?? "manual",
    created: new Date(now - Math.floor(random() * 400 * 86_400_000)),
    merging: i % 97 === 0,
    mounted: i % 89 === 0,
  }));
}

const POLICIES: RetentionPolicies = {
  boot: { keepLast: 5 },
  manual: { keepWithin: 30 * 86_400 },
  "pre-update": { keepLast: 10, keepWithin: 7 * 86_400 },
  scheduled: { timeline: { hourly: 24, daily: 7, weekly: 4, monthly: 12, yearly: 2 } },
};

export interface PruneBench {
  pruneMs: number;
  baselineMs: number;
  removed: number;
}

export function benchPrune(): PruneBench {
  const now = new Date("2026-11-23T12:00:00Z");
  const sets = makeSets(now.getTime());
  const prune: number[] = [];
  const base: number[] = [];
  let removed = 0;
  for (let i = 0; i < RUNS; i += 1) {
    let t = performance.now();
    removed = planPrune(sets, POLICIES, now).filter((d) => !d.keep).length;
    prune.push(performance.now() - t);
    t = performance.now();
    [...sets].sort((a, b) => b.created.getTime() - a.created.getTime());
    base.push(performance.now() - t);
  }
  return { pruneMs: median(prune), baselineMs: median(base), removed };
}
