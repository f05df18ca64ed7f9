// Which boot loader's menu rootsnap's entry goes into (GRUB or systemd-boot), and keeping
// a BLS entry of rootsnap's a copy of the default entry as kernels come and go.
import type { Effects } from "../system/effects.ts";
import { RootsnapError } from "../system/errors.ts";
import type { BootFiles } from "../system/files.ts";
import { detectGrub } from "./grub.ts";
import type { GrubBls } from "./grub.ts";
import { planBlsMenu } from "./grubbls.ts";
import { loaderName, readState, type BootMenu } from "./install.ts";
import {
  bootedBySystemdBoot,
  detectSystemdBoot,
  findSystemdBoot,
  type SystemdBoot,
} from "./sdboot.ts";

/**
 * The boot loader whose menu rootsnap drives: systemd-boot when it started this boot, or
 * when it is installed and GRUB's configuration is not; else GRUB (whose detection names
 * what rootsnap does not support). Nothing is changed.
 */
export async function detectMenu(files: BootFiles): Promise<BootMenu> {
  if ((await findSystemdBoot(files)) !== undefined) {
    if (await bootedBySystemdBoot(files)) return detectSystemdBoot(files);
    try {
      return await detectGrub(files);
    } catch (error) {
      if (!(error instanceof RootsnapError)) throw error;
      return detectSystemdBoot(files);
    }
  }
  return detectGrub(files);
}

export interface EntryRefresh {
  /** rootsnap's entry id (what `bootctl set-oneshot` takes), or undefined when none is made. */
  readonly id: string | undefined;
  readonly written: string | undefined;
  readonly removed: readonly string[];
  /** Why nothing was done. */
  readonly skipped: string | undefined;
}

/**
 * After setup on a boot loader that reads BLS entries: rootsnap's entry is made again from
 * the default entry (a new kernel may be the default now), and copies of entries that are
 * gone are removed.
 */
export async function refreshEntry(
  files: BootFiles,
  effects: Effects,
  menu: SystemdBoot | GrubBls,
): Promise<EntryRefresh> {
  const state = await readState(files);
  const loader = loaderName(menu);
  if (state?.loader !== loader) {
    return {
      id: undefined,
      written: undefined,
      removed: [],
      skipped: `rootsnap setup has not been run for ${loader === "grub-bls" ? "GRUB with BLS entries" : loader}`,
    };
  }
  const plan = await planBlsMenu(files, menu);
  const { wanted } = plan;
  for (const entry of plan.stale) await effects.remove(entry.path);
  const removed = plan.stale.map((entry) => entry.path);
  if (wanted === undefined) {
    return { id: undefined, written: undefined, removed, skipped: "no entry to copy" };
  }
  const same = plan.present.some(
    (entry) => entry.path === wanted.path && entry.text === wanted.text,
  );
  if (!same) await effects.writeFile(wanted.path, wanted.text, 0o644);
  return { id: wanted.id, written: same ? undefined : wanted.path, removed, skipped: undefined };
}
