// The lvm2 adapter: reports in, changes out. Changes go through one door so that a dry
// run can list them instead of making them.
import { CommandError, type RunOptions, type Runner } from "../system/runner.ts";
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

export class Lvm {
  /** Every changing command, in order: run, or only listed in a dry run. */
  readonly changes: (readonly string[])[] = [];
  private readonly runner: Runner;
  readonly dryRun: boolean;

  constructor(runner: Runner, dryRun = false) {
    this.runner = runner;
    this.dryRun = dryRun;
  }

  /** All LVs of all VGs, hidden ones included, in one `lvs` call. */
  async logicalVolumes(options?: RunOptions): Promise<LogicalVolume[]> {
    const stdout = await this.read(lvsArgv(), options);
    return parseReport(stdout, "lv").map(toLogicalVolume);
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
    return (await this.exec(argv, options)).stdout;
  }

  /** Runs a command that changes the system, or in a dry run only records it. */
  async change(argv: readonly string[], options?: RunOptions): Promise<string> {
    this.changes.push(argv);
    if (this.dryRun) return "";
    return (await this.exec(argv, { timeoutMs: CHANGE_TIMEOUT_MS, ...options })).stdout;
  }

  private async exec(argv: readonly string[], options?: RunOptions) {
    try {
      return await this.runner(argv, options);
    } catch (error) {
      if (error instanceof CommandError) throw new LvmError(error);
      throw error;
    }
  }
}

export function lvmOf(context: Pick<Context, "runner" | "dryRun">): Lvm {
  return new Lvm(context.runner, context.dryRun);
}
