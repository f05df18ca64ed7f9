// The lifecycle tables of rootsnap.toml: how long sets are kept ([retention.KIND]) and
// what the watchdog does before a snapshot overflows ([watchdog]).
import type { RetentionPolicies, RetentionPolicy } from "../sets/retention.ts";
import { SET_KINDS, type SetKind } from "../sets/tags.ts";

export type WatchdogAction = "extend" | "remove" | "warn";

export interface WatchdogConfig {
  /** Fill level (percent) at which the watchdog acts. */
  readonly threshold: number;
  readonly action: WatchdogAction;
  /** What to do when extending is impossible (no free space in the VG). */
  readonly fallback: "remove" | "warn";
  /** Percent of the snapshot's current size added per extension. */
  readonly extendPercent: number;
  /** Seconds between two looks with `watch --follow`. */
  readonly interval: number;
  /** A node_exporter textfile, or undefined for none. */
  readonly metrics: string | undefined;
}

/** What a failure reading one of these tables needs to say where it is. */
export interface TableReader {
  table(
    value: unknown,
    name: string,
    index: number,
    known: readonly string[],
  ): Record<string, unknown>;
  fail(
    message: string,
    table: string | null,
    index: number,
    key: string | null,
    hint?: string,
  ): never;
}

/** Conservative defaults: manual sets are never removed unless a policy says so. */
export const DEFAULT_RETENTION: RetentionPolicies = {
  boot: { keepLast: 3 },
  "pre-update": { keepLast: 10 },
  scheduled: { timeline: { daily: 7, weekly: 4, monthly: 3 } },
};

export const DEFAULT_WATCHDOG: WatchdogConfig = {
  threshold: 80,
  action: "extend",
  fallback: "warn",
  extendPercent: 20,
  interval: 10,
  metrics: undefined,
};

const TIMELINE_KEYS = ["hourly", "daily", "weekly", "monthly", "yearly"] as const;
export const RETENTION_KEYS = ["keep-last", "keep-within", ...TIMELINE_KEYS];
export const HOOKS_KEYS = ["package-manager", "on-failure"];
export const SCHEDULE_KEYS = ["on-calendar"];
export const WATCHDOG_KEYS = [
  "threshold",
  "action",
  "fallback",
  "extend-percent",
  "interval",
  "metrics",
];
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
/** A timer holds at most 2^31-1 ms (24.8 days); Node fires a longer one after 1 ms. */
const INTERVAL_MAX_SECONDS = 24 * 86_400;

/** "90s", "15m", "36h", "30d", "2w" in seconds, or undefined. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * (UNITS[m[2] ?? ""] ?? NaN);
}

function count(
  r: TableReader,
  table: Record<string, unknown>,
  name: string,
  key: string,
  max = 100_000,
): number | undefined {
  const value = table[key];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    r.fail(`${key} in [${name}] must be a whole number from 0 to ${max}`, name, 0, key);
  }
  return value;
}

function retentionPolicy(r: TableReader, value: unknown, kind: SetKind): RetentionPolicy {
  const name = `retention.${kind}`;
  const t = r.table(value, name, 0, RETENTION_KEYS);
  let keepWithin: number | undefined;
  if (t["keep-within"] !== undefined) {
    const text = t["keep-within"];
    keepWithin = typeof text === "string" ? parseDuration(text) : undefined;
    if (keepWithin === undefined) {
      r.fail(
        `keep-within in [${name}] is not a duration`,
        name,
        0,
        "keep-within",
        'use a number and s, m, h, d or w, e.g. "30d"',
      );
    }
  }
  const timeline: Record<string, number> = {};
  for (const key of TIMELINE_KEYS) {
    const n = count(r, t, name, key);
    if (n !== undefined) timeline[key] = n;
  }
  const keepLast = count(r, t, name, "keep-last");
  return {
    ...(keepLast === undefined ? {} : { keepLast }),
    ...(keepWithin === undefined ? {} : { keepWithin }),
    ...(Object.keys(timeline).length > 0 ? { timeline } : {}),
  };
}

export function readRetention(r: TableReader, value: unknown): RetentionPolicies {
  if (value === undefined) return DEFAULT_RETENTION;
  const t = r.table(value, "retention", 0, SET_KINDS);
  const policies: Partial<Record<SetKind, RetentionPolicy>> = {};
  for (const kind of SET_KINDS) {
    const policy =
      t[kind] === undefined ? DEFAULT_RETENTION[kind] : retentionPolicy(r, t[kind], kind);
    if (policy !== undefined) policies[kind] = policy;
  }
  return policies;
}

function oneOf<T extends string>(
  r: TableReader,
  t: Record<string, unknown>,
  key: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const value = t[key];
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    r.fail(`${key} in [watchdog] must be one of ${allowed.join(", ")}`, "watchdog", 0, key);
  }
  return value as T;
}

export function readWatchdog(r: TableReader, value: unknown): WatchdogConfig {
  if (value === undefined) return DEFAULT_WATCHDOG;
  const t = r.table(value, "watchdog", 0, WATCHDOG_KEYS);
  const threshold = count(r, t, "watchdog", "threshold", 99) ?? DEFAULT_WATCHDOG.threshold;
  if (threshold < 10)
    r.fail("threshold in [watchdog] must be from 10 to 99 (percent)", "watchdog", 0, "threshold");
  const interval =
    t.interval === undefined
      ? DEFAULT_WATCHDOG.interval
      : typeof t.interval === "string"
        ? parseDuration(t.interval)
        : undefined;
  if (interval === undefined) {
    r.fail("interval in [watchdog] is not a duration", "watchdog", 0, "interval", 'use e.g. "10s"');
  }
  if (interval < 1 || interval > INTERVAL_MAX_SECONDS) {
    r.fail("interval in [watchdog] must be from 1s to 24d", "watchdog", 0, "interval");
  }
  const metrics = t.metrics;
  if (
    metrics !== undefined &&
    (typeof metrics !== "string" || !metrics.startsWith("/") || !metrics.endsWith(".prom"))
  ) {
    r.fail(
      "metrics in [watchdog] must be an absolute path ending in .prom",
      "watchdog",
      0,
      "metrics",
      'e.g. "/var/lib/prometheus/node-exporter/rootsnap.prom"',
    );
  }
  return {
    threshold,
    action: oneOf(r, t, "action", ["extend", "remove", "warn"], DEFAULT_WATCHDOG.action),
    fallback: oneOf(r, t, "fallback", ["remove", "warn"], DEFAULT_WATCHDOG.fallback),
    extendPercent:
      count(r, t, "watchdog", "extend-percent", 1000) ?? DEFAULT_WATCHDOG.extendPercent,
    interval,
    metrics: metrics === undefined || metrics === "" ? undefined : metrics,
  };
}

export interface HooksConfig {
  /** Take a pre-update set from the package manager's hook. */
  readonly packageManager: boolean;
  /** "refuse" stops the update when the set cannot be taken. */
  readonly onFailure: "warn" | "refuse";
}

export const DEFAULT_HOOKS: HooksConfig = { packageManager: true, onFailure: "warn" };

export function readHooks(r: TableReader, value: unknown): HooksConfig {
  if (value === undefined) return DEFAULT_HOOKS;
  const t = r.table(value, "hooks", 0, HOOKS_KEYS);
  const enabled = t["package-manager"];
  if (enabled !== undefined && typeof enabled !== "boolean") {
    r.fail("package-manager in [hooks] must be true or false", "hooks", 0, "package-manager");
  }
  const onFailure = t["on-failure"];
  if (onFailure !== undefined && onFailure !== "warn" && onFailure !== "refuse") {
    r.fail('on-failure in [hooks] must be "warn" or "refuse"', "hooks", 0, "on-failure");
  }
  return {
    packageManager: enabled ?? DEFAULT_HOOKS.packageManager,
    onFailure: onFailure ?? DEFAULT_HOOKS.onFailure,
  };
}

/** OnCalendar= of scheduled sets (systemd.time(7)), or undefined: no schedule. */
export function readSchedule(r: TableReader, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const t = r.table(value, "schedule", 0, SCHEDULE_KEYS);
  const when = t["on-calendar"];
  if (when === undefined || when === "") return undefined;
  if (typeof when !== "string" || /[\n\r]/.test(when)) {
    r.fail(
      "on-calendar in [schedule] must be a systemd calendar expression",
      "schedule",
      0,
      "on-calendar",
      'e.g. "daily" or "*-*-* 03:00"',
    );
  }
  return when;
}
