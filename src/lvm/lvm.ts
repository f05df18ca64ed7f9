// The lvm2 adapter: reports in, changes out. Changes go through the run's effects gate,
// so that a dry run lists them instead of making them.
import type { Effects } from "../system/effects.ts";
import type { CommandError, RunOptions } from "../system/runner.ts";
import { LvmError } from "./errors.ts";
import type { Context } from "../system/context.ts";
import { lvsArgv, vgsArgv } from "./fields.ts";
import {
  dmName,
  toLogicalVolume,
  toVolumeGroup,
  type LogicalVolume,
  type VolumeGroup,
} from "./model.ts";
import { parseReport } from "./report.ts";

// Killing lvm halfway could leave a device suspended: changes get a day, not minutes.
const CHANGE_TIMEOUT_MS = 24 * 60 * 60 * 1000;

const lvmFailure = (error: CommandError): LvmError => new LvmError(error);

export class Lvm {
  readonly effects: Effects;

  constructor(effects: Effects) {
    this.effects = effects;
  }

  get dryRun(): boolean {
    return this.effects.dryRun;
  }

  /**
   * All LVs of all VGs, hidden ones included, in one `lvs` call. The report has segment
   * fields (segtype, chunk_size), so an LV of several segments (a snapshot lvextend grew)
   * comes as one row per segment: each LV is kept once.
   */
  async logicalVolumes(options?: RunOptions): Promise<LogicalVolume[]> {
    const stdout = await this.read(lvsArgv(), options);
    return uniqueVolumes(parseReport(stdout, "lv").map(toLogicalVolume));
  }

  async volumeGroups(): Promise<VolumeGroup[]> {
    const stdout = await this.read(vgsArgv());
    return parseReport(stdout, "vg").map(toVolumeGroup);
  }

  /** The device-mapper target types of an active LV's live table ("snapshot-merge", ...). */
  async liveTargets(lv: LogicalVolume): Promise<string[]> {
    const stdout = await this.read(["dmsetup", "table", "--", dmName(lv.vg, lv.name)]);
    return stdout
      .split("\n")
      .map((line) => line.trim().split(/\s+/)[2] ?? "")
      .filter((target) => target !== "");
  }

  /** Runs a command that only reads; it runs in a dry run too. */
  async read(argv: readonly string[], options?: RunOptions): Promise<string> {
    return this.effects.read(argv, { ...options, failure: lvmFailure });
  }

  /** Runs a command that changes the system, or in a dry run only records it. */
  async change(argv: readonly string[], options?: RunOptions): Promise<string> {
    return this.effects.run(argv, {
      timeoutMs: CHANGE_TIMEOUT_MS,
      ...options,
      failure: lvmFailure,
    });
  }
}

/** The first row of each LV (the rows of one LV's segments share its uuid and name). */
export function uniqueVolumes(rows: readonly LogicalVolume[]): LogicalVolume[] {
  const seen = new Set<string>();
  return rows.filter((lv) => {
    const key = `${lv.uuid} ${lv.fullName}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function lvmOf(context: Pick<Context, "effects">): Lvm {
  return new Lvm(context.effects);
}
