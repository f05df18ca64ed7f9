// rootsnap next-boot [--cancel]: only the next boot starts rootsnap's entry and so takes
// a boot-time set; rootsnap-finish.service clears the one-shot where GRUB cannot.
import { nodeBootFiles, type BootFiles } from "../system/files.ts";
import { detectGrub, ENTRY_ID, hasRootsnapEntry, nextEntryOf } from "../boot/grub.ts";
import { cancelOneShot } from "../boot/install.ts";
import { ConfigError } from "../system/errors.ts";
import { DEFAULT_PROGRAM } from "../boot/units.ts";
import { keepBootPlan } from "../lifecycle/boot-plan.ts";
import type { Commands, Context } from "../system/context.ts";

export interface NextBootResult {
  /** The entry the next boot starts once, or null for a normal boot. */
  readonly entry: string | null;
  readonly changed: boolean;
  readonly commands: Commands;
  readonly dryRun: boolean;
  readonly warnings: readonly string[];
}

export async function nextBoot(
  context: Context,
  cancel: boolean,
  files: BootFiles = nodeBootFiles,
  program: readonly string[] = DEFAULT_PROGRAM,
): Promise<NextBootResult> {
  const grub = await detectGrub(files);
  const { effects } = context;
  if (cancel) {
    const changed = await cancelOneShot(effects, grub, files);
    const env = (await files.exists(grub.env))
      ? await effects.read([grub.editenv, grub.env, "list"])
      : "";
    const left = context.dryRun && changed ? undefined : nextEntryOf(env);
    return {
      entry: left ?? null,
      changed,
      commands: effects.changes,
      dryRun: effects.dryRun,
      warnings: [],
    };
  }
  const config = (await files.read(grub.config))?.toString("utf8") ?? "";
  if (!hasRootsnapEntry(config)) {
    throw new ConfigError(
      `${grub.config} has no rootsnap entry`,
      "run rootsnap setup first (or update-grub if setup was done)",
    );
  }
  // grub-reboot warns on stderr that grubenv on LVM keeps next_entry: rootsnap clears it.
  await effects.run([grub.reboot, ENTRY_ID]);
  // The snapshot boot runs the plan: made now, it holds today's volumes and sizes.
  const plan = await keepBootPlan(context, files, program);
  return {
    entry: ENTRY_ID,
    changed: true,
    commands: effects.changes,
    dryRun: effects.dryRun,
    warnings: plan.warnings,
  };
}
