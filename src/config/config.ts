// /etc/rootsnap/rootsnap.toml: which volumes a set covers and how big their snapshots
// are. Every mistake is reported with the file, the line and the key.
import { DEFAULT_CONFIG_PATH } from "../system/paths.ts";
import { ConfigError } from "../system/errors.ts";
import type { FileSystem } from "../system/fs.ts";
import type { RetentionPolicies } from "../sets/retention.ts";
import {
  notASizePolicy,
  parseSizePolicy,
  readSizePolicy,
  SIZE_SYNTAX,
  type SizePolicy,
} from "../sets/size.ts";
import {
  DEFAULT_HOOKS,
  DEFAULT_RETENTION,
  DEFAULT_WATCHDOG,
  readHooks,
  readRetention,
  readSchedule,
  readWatchdog,
  type HooksConfig,
  type TableReader,
  type WatchdogConfig,
} from "./lifecycle.ts";

/** Re-exported from src/system/paths.ts, where every path rootsnap owns is listed. */
export { DEFAULT_CONFIG_PATH };

/** With no policy configured: a fifth of the origin holds a typical update's changes. */
export const DEFAULT_SIZE_TEXT = "20%ORIGIN";

export interface VolumeConfig {
  /** "vg/lv" */
  readonly lv: string;
  readonly size: SizePolicy | undefined;
}

export interface Config {
  /** The file read, or undefined when none exists. */
  readonly path: string | undefined;
  readonly defaultSize: SizePolicy;
  readonly volumes: readonly VolumeConfig[];
  readonly retention: RetentionPolicies;
  readonly watchdog: WatchdogConfig;
  readonly hooks: HooksConfig;
  /** OnCalendar= of scheduled sets, or undefined for none. */
  readonly schedule: string | undefined;
}

export const TOP_KEYS = ["defaults", "volumes", "retention", "watchdog", "hooks", "schedule"];
export const DEFAULTS_KEYS = ["size"];
export const VOLUME_KEYS = ["lv", "size"];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** 1-based line of `key` in table `table` (its `index`-th instance for [[arrays]]), or of the table. */
export function lineOfKey(
  source: string,
  table: string | null,
  index: number,
  key: string | null,
): number | undefined {
  const keyLine = key === null ? null : new RegExp(`^\\s*["']?${escapeRegExp(key)}["']?\\s*=`);
  const header = /^\s*\[\[?\s*([^\]]+?)\s*\]\]?/;
  let current: string | null = null;
  let seen = -1;
  const lines = source.split("\n");
  for (const [number, line] of lines.entries()) {
    const opened = header.exec(line)?.[1]?.replace(/["']/g, "");
    if (opened !== undefined) {
      current = opened;
      if (current === table) seen += 1;
      if (keyLine === null && current === table && seen === index) return number + 1;
      continue;
    }
    if (
      keyLine !== null &&
      current === table &&
      (table === null || seen === index) &&
      keyLine.test(line)
    ) {
      return number + 1;
    }
  }
  return undefined;
}

class Reader implements TableReader {
  constructor(
    readonly path: string,
    readonly source: string,
  ) {}

  fail(
    message: string,
    table: string | null,
    index: number,
    key: string | null,
    hint?: string,
  ): never {
    const line = lineOfKey(this.source, table, index, key);
    throw new ConfigError(`${this.path}${line === undefined ? "" : `:${line}`}: ${message}`, hint);
  }

  table(
    value: unknown,
    name: string,
    index: number,
    known: readonly string[],
  ): Record<string, unknown> {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.fail(`[${name}] must be a table`, null, 0, name);
    }
    const table = value as Record<string, unknown>;
    for (const key of Object.keys(table)) {
      if (!known.includes(key)) {
        this.fail(
          `unknown key "${key}" in [${name}]`,
          name,
          index,
          key,
          `known keys: ${known.join(", ")}`,
        );
      }
    }
    return table;
  }

  size(value: unknown, table: string, index: number): SizePolicy | undefined {
    if (value === undefined) return undefined;
    const policy = typeof value === "string" ? readSizePolicy(value) : { problem: "" };
    if ("problem" in policy) {
      this.fail(
        notASizePolicy(`size ${JSON.stringify(value)} in [${table}]`, policy.problem),
        table,
        index,
        "size",
        `use ${SIZE_SYNTAX}`,
      );
    }
    return policy;
  }

  volume(value: unknown, index: number): VolumeConfig {
    const table = this.table(value, "volumes", index, VOLUME_KEYS);
    const lv = table.lv;
    if (typeof lv !== "string" || !/^[^/\s]+\/[^/\s]+$/.test(lv)) {
      this.fail(
        `lv must be a string "VG/LV" in [[volumes]] number ${index + 1}`,
        "volumes",
        index,
        lv === undefined ? null : "lv",
        'example: lv = "vg0/root"',
      );
    }
    return { lv, size: this.size(table.size, "volumes", index) };
  }

  /** Every [[volumes]] entry; one volume named twice would be snapshotted twice in one set. */
  volumes(values: readonly unknown[]): VolumeConfig[] {
    const volumes = values.map((value, index) => this.volume(value, index));
    volumes.forEach(({ lv }, index) => {
      const first = volumes.findIndex((volume) => volume.lv === lv);
      if (first === index) return;
      const firstLine = lineOfKey(this.source, "volumes", first, "lv");
      this.fail(
        `lv "${lv}" is named twice in [[volumes]]${firstLine === undefined ? "" : ` (first at line ${firstLine})`}`,
        "volumes",
        index,
        "lv",
        "keep one [[volumes]] entry per volume",
      );
    });
    return volumes;
  }
}

export async function parseConfig(path: string, source: string): Promise<Config> {
  const { parse, TomlError } = await import("smol-toml");
  let document: Record<string, unknown>;
  try {
    document = parse(source);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    const firstLine = error.message.split("\n")[0] ?? "syntax error";
    throw new ConfigError(`${path}:${error.line}: ${firstLine}`, "fix the TOML syntax");
  }
  const reader = new Reader(path, source);
  for (const key of Object.keys(document)) {
    if (!TOP_KEYS.includes(key)) {
      reader.fail(`unknown key "${key}"`, null, 0, key, `known keys: ${TOP_KEYS.join(", ")}`);
    }
  }
  const defaults = reader.table(document.defaults ?? {}, "defaults", 0, DEFAULTS_KEYS);
  const volumes = document.volumes ?? [];
  if (!Array.isArray(volumes))
    reader.fail("volumes must be an array of tables [[volumes]]", null, 0, "volumes");
  return {
    path,
    defaultSize: reader.size(defaults.size, "defaults", 0) ?? defaultSize(),
    volumes: reader.volumes(volumes as unknown[]),
    retention: readRetention(reader, document.retention),
    watchdog: readWatchdog(reader, document.watchdog),
    hooks: readHooks(reader, document.hooks),
    schedule: readSchedule(reader, document.schedule),
  };
}

function defaultSize(): SizePolicy {
  const policy = parseSizePolicy(DEFAULT_SIZE_TEXT);
  if (policy === undefined) throw new Error("the built-in default size policy does not parse");
  return policy;
}

/** The file's text, or undefined when there is none; a file that cannot be read is exit 78. */
async function readConfigText(
  fs: FileSystem,
  path: string,
  named: boolean,
): Promise<string | undefined> {
  try {
    return await fs.readText(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === undefined) throw error;
    const what = named ? `--config ${path}` : path;
    if (code === "EISDIR") throw new ConfigError(`${what} is a directory: name the file`);
    if (code === "EACCES") throw new ConfigError(`${what} cannot be read: permission denied`);
    throw new ConfigError(`${what} cannot be read: ${(error as Error).message}`);
  }
}

/** The configuration; a missing default file means defaults, a missing named one is an error. */
export async function loadConfig(fs: FileSystem, path: string, named: boolean): Promise<Config> {
  const source = await readConfigText(fs, path, named);
  if (source === undefined) {
    if (named)
      throw new ConfigError(
        `--config ${path}: no such file`,
        `name an existing file, or leave --config out to read ${DEFAULT_CONFIG_PATH}`,
      );
    return {
      path: undefined,
      defaultSize: defaultSize(),
      volumes: [],
      retention: DEFAULT_RETENTION,
      watchdog: DEFAULT_WATCHDOG,
      hooks: DEFAULT_HOOKS,
      schedule: undefined,
    };
  }
  return parseConfig(path, source);
}

/** `on-failure = "refuse"` on a line of its own inside [hooks], comments allowed after it. */
function refusesInText(source: string): boolean {
  let inHooks = false;
  for (const line of source.split("\n")) {
    const header = /^\s*\[\s*([^\]]*?)\s*\]/.exec(line);
    if (header !== null) inHooks = header[1]?.replace(/["']/g, "") === "hooks";
    else if (inHooks && /^\s*["']?on-failure["']?\s*=\s*(["'])refuse\1\s*(#.*)?$/.test(line))
      return true;
  }
  return false;
}

/**
 * [hooks] on-failure when the configuration does not load: "refuse" only where the file says
 * so beyond doubt (it parses as TOML, or the [hooks] table has the line), else the default.
 */
export async function hookFailurePolicy(
  fs: FileSystem,
  path: string,
): Promise<HooksConfig["onFailure"]> {
  let source: string | undefined;
  try {
    source = await fs.readText(path);
  } catch {
    return DEFAULT_HOOKS.onFailure;
  }
  if (source === undefined) return DEFAULT_HOOKS.onFailure;
  const { parse } = await import("smol-toml");
  let document: Record<string, unknown>;
  try {
    document = parse(source);
  } catch {
    return refusesInText(source) ? "refuse" : DEFAULT_HOOKS.onFailure;
  }
  const hooks = document.hooks;
  const refuses =
    typeof hooks === "object" &&
    hooks !== null &&
    (hooks as Record<string, unknown>)["on-failure"] === "refuse";
  return refuses ? "refuse" : DEFAULT_HOOKS.onFailure;
}
