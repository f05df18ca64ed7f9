// Regenerates the boot plan (src/boot/plan.ts) from the same planning create uses, as
// `rootsnap create --kind boot` with the default configuration would plan it now.
import { createHash } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { BootFiles } from "../system/files.ts";
import { programOf, readState, type FileChange } from "../boot/install.ts";
import { requireTrustedProgram, type PathInspector } from "../boot/program.ts";
import {
  BOOT_PLAN_PATH,
  hashablePath,
  instantiate,
  placeholderSet,
  renderBootPlan,
  type PlanSource,
} from "../boot/plan.ts";
import { BOOT_UNIT, UNIT_DIR } from "../boot/units.ts";
import { detectGrub } from "../boot/grub.ts";
import { DEFAULT_CONFIG_PATH } from "../config/config.ts";
import { DataError, OperationError, RootsnapError } from "../system/errors.ts";
import { Lvm } from "../lvm/lvm.ts";
import { planCreate, type CreatePlan } from "../sets/plan.ts";
import type { SetIdentity } from "../sets/tags.ts";
import type { Context } from "../system/context.ts";
import { bootLoaderNow, planInputs } from "./make.ts";

export interface BootPlanRefresh {
  /** The plan file as it was and as it is now; undefined when it did not change. */
  readonly change: FileChange | undefined;
  /** Why no plan could be made (the boot then runs rootsnap create itself). */
  readonly unplanned: string | undefined;
}

/** A second identity, planned too, proves the script's substitution gives create's argv. */
const CHECK_SET: Omit<SetIdentity, "kind"> = {
  name: "boot-20360708-091011",
  created: new Date("2036-07-08T09:10:11Z"),
};

/** The plan for placeholderSet(), checked against a plan made directly for another identity. */
async function planBootSet(context: Context): Promise<CreatePlan> {
  // The boot-time unit runs create with the default configuration, whatever --config says.
  const planning: Context = { ...context, configPath: DEFAULT_CONFIG_PATH, configNamed: false };
  const options = { name: undefined, kind: "boot", volumes: [], size: undefined } as const;
  const inputs = await planInputs(planning, new Lvm(context.effects.dry()), options);
  const bootLoader = await bootLoaderNow(context);
  const recorded = bootLoader === undefined ? {} : { bootLoader };
  const placeholder = { ...placeholderSet(), ...recorded };
  const plan = planCreate({ ...inputs, set: placeholder });
  const check = planCreate({ ...inputs, set: { ...CHECK_SET, kind: "boot", ...recorded } });
  const rendered = plan.snapshots.map((s) => instantiate(s.argv, placeholder, CHECK_SET));
  if (
    !isDeepStrictEqual(
      rendered,
      check.snapshots.map((s) => s.argv),
    )
  ) {
    throw new OperationError("the boot plan's commands would differ from rootsnap create's");
  }
  return plan;
}

async function sourcesOf(files: BootFiles, paths: readonly string[]): Promise<PlanSource[]> {
  const sources: PlanSource[] = [];
  for (const path of paths) {
    const data = await files.read(path);
    const sha256 = data === undefined ? undefined : createHash("sha256").update(data).digest("hex");
    sources.push({ path, sha256 });
  }
  return sources;
}

/** The boot plan as it should be now, and why it holds no plan, if it does not. */
export async function bootPlanFile(
  context: Context,
  files: BootFiles,
  program: readonly string[],
): Promise<{ file: { path: string; text: string; mode: number }; unplanned: string | undefined }> {
  let plan: CreatePlan | undefined;
  let unplanned: string | undefined;
  // rootsnap's own script, not Node: a new Node plans the same set.
  const script = program[program.length - 1] ?? "";
  // A new GRUB makes the plan's record of the boot loader stale.
  const grubInstall = (await detectGrub(files).catch(() => undefined))?.install;
  const paths = [DEFAULT_CONFIG_PATH, script, ...(grubInstall === undefined ? [] : [grubInstall])];
  try {
    if (!paths.every(hashablePath)) throw new DataError(`${script}: a path sha256sum would escape`);
    plan = await planBootSet(context);
  } catch (error) {
    if (!(error instanceof RootsnapError)) throw error;
    unplanned = error.message;
  }
  const text = renderBootPlan({
    plan,
    ...(unplanned === undefined ? {} : { unplanned }),
    program,
    sources: await sourcesOf(files, paths),
  });
  return { file: { path: BOOT_PLAN_PATH, text, mode: 0o644 }, unplanned };
}

/** Writes the boot plan as it should be now (in a dry run only compares). */
export async function refreshBootPlan(
  context: Context,
  files: BootFiles,
  program: readonly string[],
): Promise<BootPlanRefresh> {
  const { file, unplanned } = await bootPlanFile(context, files, program);
  const { text, mode } = file;
  const before = (await files.read(BOOT_PLAN_PATH))?.toString("utf8");
  if (before === text && (await files.mode(BOOT_PLAN_PATH)) === mode) {
    return { change: undefined, unplanned };
  }
  await context.effects.writeFile(BOOT_PLAN_PATH, text, mode);
  return { change: { path: BOOT_PLAN_PATH, before, after: text, mode }, unplanned };
}

/** The plan's write as a dry run lists it: nothing when the plan did not change. */
export function planCommands(change: FileChange | undefined): string[][] {
  return change === undefined
    ? []
    : [["install", "-m", change.mode.toString(8), "/dev/stdin", change.path]];
}

/** What setup, next-boot and boot-finish say when the boot cannot use a plan. */
export function unplannedWarning(unplanned: string | undefined): string[] {
  return unplanned === undefined
    ? []
    : [
        `the boot-time set could not be planned ahead (${unplanned}): at boot, rootsnap create --kind boot plans it instead`,
      ];
}

/** The argv prefix setup installed the units for, else the one running. */
export async function installedProgram(
  files: BootFiles,
  running: readonly string[],
): Promise<readonly string[]> {
  return programOf(await readState(files)) ?? running;
}

/** Whether setup's units are in place: only then is there a boot plan to keep. */
export async function bootUnitInstalled(files: BootFiles): Promise<boolean> {
  return files.exists(`${UNIT_DIR}/${BOOT_UNIT}`);
}

/**
 * next-boot and boot-finish keep the plan of an installed setup current; a failure to
 * plan is a warning, never theirs.
 */
export async function keepBootPlan(
  context: Context,
  files: BootFiles,
  running: readonly string[],
  inspector?: PathInspector,
): Promise<{ commands: string[][]; warnings: string[] }> {
  if (!(await bootUnitInstalled(files))) return { commands: [], warnings: [] };
  try {
    const program = await installedProgram(files, running);
    // The plan hands over to it as root at boot, as the units do.
    await requireTrustedProgram(program, [], inspector);
    const { change, unplanned } = await refreshBootPlan(context, files, program);
    return {
      commands: planCommands(change),
      warnings: unplannedWarning(unplanned),
    };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { commands: [], warnings: [`the boot plan ${BOOT_PLAN_PATH} was not updated: ${why}`] };
  }
}
