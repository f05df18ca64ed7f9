// rootsnap setup: the boot-time units, their boot plan and the GRUB entry, and per rootsnap.toml the
// package-manager hooks, the timers and the watchdog, installed idempotently.
import { nodeBootFiles, type BootFiles } from "../system/files.ts";
import { detectMenu } from "../boot/menu.ts";
import { setupBoot, type InstallResult, type Lifecycle } from "../boot/install.ts";
import { nodePathInspector, requireTrustedProgram, type PathInspector } from "../boot/program.ts";
import { loadConfig } from "../config/config.ts";
import { ConfigError, ExitCode, RootsnapError } from "../system/errors.ts";
import { detectStack, stackSummary } from "../boot/stack.ts";
import { detectManagers, lifecycleFiles, type PackageManager } from "../boot/lifecycle-units.ts";
import { bootPlanFile, unplannedWarning } from "../lifecycle/boot-plan.ts";
import { rootVolume } from "../lifecycle/make.ts";
import type { Context } from "../system/context.ts";
import { lvmOf } from "../lvm/lvm.ts";
import { readMounts } from "../config/mounts.ts";

async function lifecycleFor(
  context: Context,
  files: BootFiles,
): Promise<{ managers: PackageManager[]; schedule: string | undefined; missing: string[] }> {
  const config = await loadConfig(context.fs, context.configPath, context.configNamed);
  if (config.schedule !== undefined) {
    try {
      await context.effects.read(["systemd-analyze", "calendar", config.schedule]);
    } catch {
      throw new ConfigError(
        `[schedule] on-calendar ${JSON.stringify(config.schedule)} is not a calendar expression systemd accepts`,
        'see systemd.time(7), e.g. "daily" or "*-*-* 03:00"',
      );
    }
  }
  const found = config.hooks.packageManager
    ? await detectManagers((path) => files.exists(path))
    : { managers: [], missingDirectories: [] };
  return {
    managers: found.managers,
    schedule: config.schedule,
    missing: found.missingDirectories,
  };
}

export async function setup(
  context: Context,
  program: readonly string[],
  files: BootFiles = nodeBootFiles,
  inspector: PathInspector = nodePathInspector,
): Promise<InstallResult> {
  const menu = await detectMenu(files);
  const mounts = await readMounts(context);
  // Refuses, like create, a system whose / is not on LVM.
  rootVolume(await lvmOf(context).logicalVolumes(), mounts);
  const stack = await detectStack(files, context.fs, mounts);
  if (stack.initramfs === "unknown") {
    throw new RootsnapError(
      ExitCode.unavailable,
      "no initramfs generator rootsnap knows is installed (update-initramfs, dracut or mkinitcpio), so merges that start at boot cannot be looked after",
      "boot integration needs one of them; create, revert and backup work without it",
    );
  }
  const { managers, schedule, missing } = await lifecycleFor(context, files);
  await requireTrustedProgram(program, managers, inspector);
  // The boot plan is one of setup's files: written, or put back, with the others.
  const plan = await bootPlanFile(context, files, program);
  const lifecycle: Lifecycle = {
    files: [...lifecycleFiles(program, { managers, schedule }), plan.file],
    missingDirectories: missing,
  };
  // Said once every check has passed: a refusal stays one line.
  context.output.note(`boot stack: ${stackSummary(stack)}`);
  const installed = await setupBoot(files, context.effects, menu, program, lifecycle, (message) => {
    context.output.warn(message);
  });
  return { ...installed, warnings: [...installed.warnings, ...unplannedWarning(plan.unplanned)] };
}
