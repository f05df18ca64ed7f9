// Every key of rootsnap.toml with its type, default and meaning: the one description the
// man page rootsnap.toml(5) is made from. A test checks it against the keys the reader accepts.
import { SIZE_SYNTAX } from "../sets/size.ts";
import { DEFAULT_SIZE_TEXT } from "./config.ts";
import { DEFAULT_HOOKS, DEFAULT_WATCHDOG } from "./lifecycle.ts";

export interface ConfigKey {
  /** The table: "defaults", "volumes" ([[volumes]]), "retention.KIND", "watchdog"... */
  readonly table: string;
  readonly key: string;
  readonly type: string;
  readonly default: string;
  readonly about: string;
}

export interface ConfigTable {
  readonly table: string;
  /** How it is written: [defaults], [[volumes]]. */
  readonly header: string;
  readonly about: string;
}

export const CONFIG_TABLES: readonly ConfigTable[] = [
  {
    table: "defaults",
    header: "[defaults]",
    about: "What applies to every volume that does not say otherwise.",
  },
  {
    table: "volumes",
    header: "[[volumes]]",
    about:
      "One entry per volume of a set. Without any, a set holds the LV mounted at /. A volume named twice is refused.",
  },
  {
    table: "retention",
    header: "[retention.KIND]",
    about:
      "How many sets of one kind (boot, pre-update, scheduled, manual) prune keeps. A set is kept when any rule of its kind keeps it. Defaults: boot keep-last 3; pre-update keep-last 10; scheduled daily 7, weekly 4, monthly 3; manual sets are all kept. A table given for a kind replaces that kind's default.",
  },
  {
    table: "watchdog",
    header: "[watchdog]",
    about:
      "What rootsnap watch (and rootsnap-watch.service) does with a thick snapshot that fills up: a full snapshot becomes invalid and is lost.",
  },
  {
    table: "hooks",
    header: "[hooks]",
    about: "The package managers' hooks that rootsnap setup installs.",
  },
  {
    table: "schedule",
    header: "[schedule]",
    about: "Sets of kind scheduled, taken by rootsnap-scheduled.timer.",
  },
];

const PERIODS = {
  hourly: "hours",
  daily: "days",
  weekly: "weeks",
  monthly: "months",
  yearly: "years",
};

const TIMELINE = (unit: keyof typeof PERIODS): ConfigKey => ({
  table: "retention",
  key: unit,
  type: "integer",
  default: "none",
  about: `keep the newest set of each of the N most recent ${PERIODS[unit]} (UTC) that have a set`,
});

export const CONFIG_KEYS: readonly ConfigKey[] = [
  {
    table: "defaults",
    key: "size",
    type: "size policy",
    default: DEFAULT_SIZE_TEXT,
    about: `the size of each thick snapshot: ${SIZE_SYNTAX}; thin snapshots take their pool's space and no size`,
  },
  {
    table: "volumes",
    key: "lv",
    type: "string VG/LV",
    default: "required",
    about: 'the volume, as "vg0/root"',
  },
  {
    table: "volumes",
    key: "size",
    type: "size policy",
    default: "[defaults] size",
    about: "this volume's snapshot size",
  },
  {
    table: "retention",
    key: "keep-last",
    type: "integer",
    default: "none",
    about: "keep the newest N sets of the kind",
  },
  {
    table: "retention",
    key: "keep-within",
    type: "duration",
    default: "none",
    about: 'keep every set newer than this: a number and s, m, h, d or w, e.g. "30d"',
  },
  TIMELINE("hourly"),
  TIMELINE("daily"),
  TIMELINE("weekly"),
  TIMELINE("monthly"),
  TIMELINE("yearly"),
  {
    table: "watchdog",
    key: "threshold",
    type: "integer, percent",
    default: String(DEFAULT_WATCHDOG.threshold),
    about: "act on a snapshot filled to this percentage or more (10 to 99)",
  },
  {
    table: "watchdog",
    key: "action",
    type: "extend | remove | warn",
    default: DEFAULT_WATCHDOG.action,
    about: "grow the snapshot (lvextend), remove its whole set, or only warn in the journal",
  },
  {
    table: "watchdog",
    key: "fallback",
    type: "remove | warn",
    default: DEFAULT_WATCHDOG.fallback,
    about: "what to do when extending is impossible (the VG has no free space)",
  },
  {
    table: "watchdog",
    key: "extend-percent",
    type: "integer, percent",
    default: String(DEFAULT_WATCHDOG.extendPercent),
    about: "how much to grow a snapshot by, as a percentage of its current size",
  },
  {
    table: "watchdog",
    key: "interval",
    type: "duration",
    default: `${DEFAULT_WATCHDOG.interval}s`,
    about: "time between two passes of watch --follow (1s to 24d)",
  },
  {
    table: "watchdog",
    key: "metrics",
    type: "absolute path ending in .prom",
    default: "none",
    about:
      "a Prometheus text file written after every pass, for node_exporter's textfile collector",
  },
  {
    table: "hooks",
    key: "package-manager",
    type: "boolean",
    default: String(DEFAULT_HOOKS.packageManager),
    about: "take a set of kind pre-update before each apt, pacman or dnf run",
  },
  {
    table: "hooks",
    key: "on-failure",
    type: "warn | refuse",
    default: DEFAULT_HOOKS.onFailure,
    about: "when the set cannot be taken: let the update go on with a warning, or stop it",
  },
  {
    table: "schedule",
    key: "on-calendar",
    type: "systemd calendar expression",
    default: "none",
    about:
      'when to take a scheduled set (OnCalendar=, systemd.time(7)), e.g. "daily" or "*-*-* 03:00"',
  },
];

/** A complete example file, shipped as /usr/share/doc/rootsnap/examples/rootsnap.toml. */
export const EXAMPLE_CONFIG = `# /etc/rootsnap/rootsnap.toml: see rootsnap.toml(5).
# Every table is optional; these values are examples, the man page has the defaults.

[defaults]
size = "20%ORIGIN"          # each thick snapshot's size

# A set's volumes; without any entry a set holds the LV mounted at /.
[[volumes]]
lv = "vg0/root"

[[volumes]]
lv = "vg0/home"
size = "10G"

[retention.pre-update]
keep-last = 10

[retention.manual]
keep-within = "30d"

[watchdog]
threshold = 80
action = "extend"
fallback = "warn"
extend-percent = 20
interval = "10s"

[hooks]
package-manager = true
on-failure = "warn"

[schedule]
on-calendar = "daily"
`;
