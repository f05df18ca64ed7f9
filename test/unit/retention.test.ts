import assert from "node:assert/strict";
import { test } from "node:test";
import {
  planPrune,
  type PruneCandidate,
  type RetentionPolicies,
} from "../../src/sets/retention.ts";
import type { SetKind } from "../../src/sets/tags.ts";

const NOW = new Date("2026-11-23T12:00:00Z");
const H = 3_600_000;

function set(
  name: string,
  hoursAgo: number,
  kind: SetKind = "manual",
  extra: Partial<PruneCandidate> = {},
): PruneCandidate {
  return {
    name,
    kind,
    created: new Date(NOW.getTime() - hoursAgo * H),
    merging: false,
    mounted: false,
    ...extra,
  };
}

function removed(sets: PruneCandidate[], policies: RetentionPolicies, now = NOW): string[] {
  return planPrune(sets, policies, now)
    .filter((d) => !d.keep)
    .map((d) => d.name)
    .sort();
}

test("a kind without a policy keeps every set", () => {
  assert.deepEqual(removed([set("a", 1), set("b", 1000)], { boot: { keepLast: 1 } }), []);
});

test("keepLast keeps the newest N of that kind only", () => {
  const sets = [
    set("m1", 5),
    set("m2", 4),
    set("m3", 3),
    set("m4", 2),
    set("s1", 100, "scheduled"),
  ];
  assert.deepEqual(removed(sets, { manual: { keepLast: 2 }, scheduled: { keepLast: 1 } }), [
    "m1",
    "m2",
  ]);
});

test("keepWithin keeps sets younger than the duration", () => {
  const sets = [set("h2", 2), set("h23", 23), set("h25", 25), set("d3", 72)];
  assert.deepEqual(removed(sets, { manual: { keepWithin: 24 * 3600 } }), ["d3", "h25"]);
});

test("daily timeline keeps the newest set of each of the last N days", () => {
  // NOW is 12:00 UTC: 1 h and 5 h ago are today, 20 h ago is yesterday, 30 h ago too.
  const sets = [
    set("today-new", 1),
    set("today-old", 5),
    set("yest-new", 20),
    set("yest-old", 30),
    set("d2", 40),
    set("d3", 70),
  ];
  assert.deepEqual(removed(sets, { manual: { timeline: { daily: 3 } } }), [
    "d3",
    "today-old",
    "yest-old",
  ]);
});

test("weekly buckets start on Monday (UTC)", () => {
  // 2026-11-23 is a Monday; 2026-11-22 a Sunday of the week before.
  const monday = set("monday", 11);
  const sunday = set("sunday", 13);
  const lastMonday = set("last-monday", 11 + 7 * 24);
  assert.deepEqual(removed([monday, sunday, lastMonday], { manual: { timeline: { weekly: 2 } } }), [
    "last-monday",
  ]);
});

test("rules add up: a set kept by any rule stays", () => {
  const sets = [set("a", 1), set("b", 50), set("c", 24 * 40)];
  const plan = planPrune(sets, { manual: { keepLast: 1, timeline: { monthly: 2 } } }, NOW);
  assert.deepEqual(
    plan.map((d) => [d.name, d.keep]),
    [
      ["a", true],
      ["b", false],
      ["c", true],
    ],
  );
  assert.match(plan[2]?.reason ?? "", /monthly 2 of 2/);
});

test("the newest boot set, merging sets and mounted sets are never removed", () => {
  const sets = [
    set("boot-new", 1, "boot"),
    set("boot-old", 48, "boot"),
    set("merging", 200, "manual", { merging: true }),
    set("mounted", 300, "manual", { mounted: true }),
    set("old", 400),
  ];
  assert.deepEqual(removed(sets, { boot: { keepLast: 0 }, manual: { keepLast: 0 } }), [
    "boot-old",
    "old",
  ]);
});

test("a clock that jumped back keeps the sets from the future", () => {
  const past = new Date(NOW.getTime() - 1000 * H);
  assert.deepEqual(
    removed([set("a", 1), set("b", 2), set("c", 5000)], { manual: { keepWithin: 3600 } }, past),
    ["c"],
  );
});

test("a clock that jumped far ahead still keeps keepLast and the timeline's newest", () => {
  const future = new Date(NOW.getTime() + 10_000 * H);
  const sets = [set("a", 1), set("b", 30), set("c", 60)];
  assert.deepEqual(
    removed(sets, { manual: { keepWithin: 3600, keepLast: 1, timeline: { daily: 2 } } }, future),
    ["c"],
  );
});

test("decisions come back in the order given, one per set", () => {
  const sets = [set("x", 3), set("y", 1), set("z", 2)];
  assert.deepEqual(
    planPrune(sets, { manual: { keepLast: 1 } }, NOW).map((d) => d.name),
    ["x", "y", "z"],
  );
});
