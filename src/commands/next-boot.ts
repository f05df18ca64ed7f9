// rootsnap next-boot [--cancel]: only the next boot starts rootsnap's entry and so takes
// a boot-time set: GRUB's grub-reboot (rootsnap-finish.service clears the one-shot where
// GRUB cannot), or systemd-boot's LoaderEntryOneShot, which the boot loader clears itself.
import { nodeBootFiles, type BootFiles } from "../system/files.ts";
import { ENTRY_ID, hasRootsnapEntry, nextEntryOf, type Grub } from "../boot/grub.ts";
import { cancelOneShot, isSystemdBoot, readsBlsEntries } from "../boot/install.ts";
import { detectMenu, refreshEntry } from "../boot/menu.ts";
import { loaderVariable, type SystemdBoot } from "../boot/sdboot.ts";
import { ConfigError } from "../system/errors.ts";
import { DEFAULT_PROGRAM } from "../boot/units.ts";
import { keepBootPlan } from "../lifecycle/boot-plan.ts";
import type { Commands, Context } from "../system/context.ts";

export interface NextBootResult {
  /** The entry the next boot starts once, or null for a normal boot. */
  readonly entry: string | null;
  /** Whether that entry is rootsnap's. */
  readonly rootsnap: boolean;
  readonly changed: boolean;
  readonly commands: Commands;
  readonly dryRun: boolean;
  readonly warnings: readonly string[];
}

/** The one-shot entry the next boot starts, or undefined. */
async function pendingOneShot(
  context: Context,
  files: BootFiles,
  menu: Grub | SystemdBoot,
): Promise<string | undefined> {
  if (isSystemdBoot(menu)) {
    const value = await loaderVariable(files, "LoaderEntryOneShot");
    return value === "" ? undefined : value;
  }
  const env = (await files.exists(menu.env))
    ? await context.effects.read([menu.editenv, menu.env, "list"])
    : "";
  return nextEntryOf(env);
}

/** Sets the one-shot; returns the entry id it names. */
async function setOneShot(
  context: Context,
  files: BootFiles,
  menu: Grub | SystemdBoot,
): Promise<string> {
  const { effects } = context;
  if (readsBlsEntries(menu)) {
    // The default entry may have changed since setup (loader.conf, bootctl set-default,
    // grubby --set-default).
    const refreshed = await refreshEntry(files, effects, menu);
    if (refreshed.id === undefined) {
      throw new ConfigError(
        `${isSystemdBoot(menu) ? "systemd-boot" : "GRUB"} has no rootsnap entry (${refreshed.skipped ?? "none made"})`,
        "run rootsnap setup first",
      );
    }
    if (isSystemdBoot(menu)) {
      await effects.run([menu.bootctl, "set-oneshot", refreshed.id]);
      return refreshed.id;
    }
    // GRUB names a BLS entry by its file name without .conf.
    const id = refreshed.id.replace(/\.conf$/, "");
    await effects.run([menu.reboot, id]);
    return id;
  }
  const config = (await files.read(menu.config))?.toString("utf8") ?? "";
  if (!hasRootsnapEntry(config)) {
    throw new ConfigError(
      `${menu.config} has no rootsnap entry`,
      "run rootsnap setup first (or update-grub if setup was done)",
    );
  }
  // grub-reboot warns on stderr that grubenv on LVM keeps next_entry: rootsnap clears it.
  await effects.run([menu.reboot, ENTRY_ID]);
  return ENTRY_ID;
}

export async function nextBoot(
  context: Context,
  cancel: boolean,
  files: BootFiles = nodeBootFiles,
  program: readonly string[] = DEFAULT_PROGRAM,
): Promise<NextBootResult> {
  const menu = await detectMenu(files);
  const { effects } = context;
  if (cancel) {
    const changed = await cancelOneShot(effects, menu, files);
    const left = context.dryRun && changed ? undefined : await pendingOneShot(context, files, menu);
    return {
      entry: left ?? null,
      rootsnap: false,
      changed,
      commands: effects.changes,
      dryRun: effects.dryRun,
      warnings: [],
    };
  }
  const entry = await setOneShot(context, files, menu);
  // The snapshot boot runs the plan: made now, it holds today's volumes and sizes.
  const plan = await keepBootPlan(context, files, program);
  return {
    entry,
    rootsnap: true,
    changed: true,
    commands: effects.changes,
    dryRun: effects.dryRun,
    warnings: plan.warnings,
  };
}
