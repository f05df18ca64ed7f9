// rootsnap setup and uninstall: the units, the /etc/grub.d script and grub.cfg, each
// file validated before it replaces anything, and a record of what was there before,
// so uninstall can put the boot configuration back byte for byte.
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { OperationError } from "../errors.ts";
import { unifiedDiff } from "./diff.ts";
import type { BootFiles } from "./files.ts";
import { INITRAMFS_HOOK } from "./initramfs.ts";
import {
  GRUB_SCRIPT_PATH,
  grubScript,
  hasRootsnapEntry,
  nextEntryOf,
  ENTRY_ID,
  type Grub,
} from "./grub.ts";
import type { Steps } from "./steps.ts";
import { lifecyclePaths, startsNow, type LifecycleFile } from "../lifecycle/units.ts";
import { BOOT_PLAN_PATH } from "./plan.ts";
import { ARTICLE_UNITS, UNIT_DIR, unitFiles } from "./units.ts";

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** What setup installs for the lifecycle (hooks, timers, watchdog), and the directories it needs. */
export interface Lifecycle {
  readonly files: readonly LifecycleFile[];
  readonly missingDirectories: readonly string[];
}

const NO_LIFECYCLE: Lifecycle = { files: [], missingDirectories: [] };

export const STATE_DIR = "/etc/rootsnap";
export const STATE_PATH = `${STATE_DIR}/boot-setup.json`;
export const SAVED_GRUB_CFG = `${STATE_DIR}/grub.cfg.before-setup`;

/** What setup found and made, so uninstall removes exactly that. */
export interface SetupState {
  readonly grubConfig: string;
  /** grub.cfg as setup wrote it; when it still is, the saved copy goes back unchanged. */
  readonly writtenSha256: string | null;
  /** Whether SAVED_GRUB_CFG holds grub.cfg from before setup. */
  readonly savedBefore: boolean;
  readonly createdDirectories: readonly string[];
  /** The rootsnap program the units run, which the boot plan hands over to. */
  readonly executable?: string;
}

export interface FileChange {
  readonly path: string;
  readonly before: string | undefined;
  readonly after: string | undefined;
  readonly mode: number;
}

export interface InstallResult {
  readonly changes: readonly FileChange[];
  readonly commands: readonly (readonly string[])[];
  readonly dryRun: boolean;
  /** Nothing needed doing. */
  readonly unchanged: boolean;
  readonly warnings: readonly string[];
}

export function diffOf(changes: readonly FileChange[]): string {
  return changes.map((change) => unifiedDiff(change.path, change.before, change.after)).join("");
}

function desiredFiles(
  executable: string,
  lifecycle: Lifecycle,
): { path: string; text: string; mode: number }[] {
  return [
    ...lifecycle.files,
    ...unitFiles(executable).map((unit) => ({
      path: `${UNIT_DIR}/${unit.name}`,
      text: unit.text,
      mode: 0o644,
    })),
    { path: GRUB_SCRIPT_PATH, text: grubScript(), mode: 0o755 },
  ];
}

export function parseState(text: string | undefined): SetupState | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as SetupState;
  } catch {
    return undefined;
  }
}

export async function readState(files: BootFiles): Promise<SetupState | undefined> {
  return parseState((await files.read(STATE_PATH))?.toString("utf8"));
}

/**
 * What to say when a setup run began and did not end: its record is written before any
 * other file and gets grub.cfg's hash only once grub.cfg has the entry.
 */
export function interruptedSetup(state: SetupState | undefined): string | null {
  return state !== undefined && state.writtenSha256 === null
    ? `rootsnap setup did not finish (${STATE_PATH} records a run cut off before ${state.grubConfig} got its entry): run rootsnap setup again to finish it, or rootsnap uninstall to undo it`
    : null;
}

async function textOf(files: BootFiles, path: string): Promise<string | undefined> {
  return (await files.read(path))?.toString("utf8");
}

/** grub-mkconfig into a file beside grub.cfg, checked, then moved over it in one rename. */
export async function regenerateGrubConfig(
  files: BootFiles,
  steps: Steps,
  grub: Grub,
  expectEntry: boolean,
): Promise<void> {
  const temp = `${grub.config}.rootsnap-new`;
  await steps.change([grub.mkconfig, "-o", temp], { timeoutMs: 10 * 60_000 });
  if (steps.dryRun) {
    steps.note(["mv", temp, grub.config]);
    return;
  }
  try {
    await steps.read([grub.scriptCheck, temp]);
    const made = (await textOf(files, temp)) ?? "";
    if (hasRootsnapEntry(made) !== expectEntry) {
      throw new OperationError(
        expectEntry
          ? `${grub.mkconfig} made no rootsnap entry (${GRUB_SCRIPT_PATH} found no Linux entry in /etc/grub.d/10_linux's output)`
          : `${grub.mkconfig} still made a rootsnap entry`,
        `${grub.config} was left as it was`,
      );
    }
  } catch (error) {
    await files.remove(temp);
    throw error;
  }
  await files.move(temp, grub.config);
}

async function verifyUnits(
  steps: Steps,
  files: BootFiles,
  units: { path: string; text: string }[],
): Promise<void> {
  const dir = `/run/rootsnap-verify-${process.pid}`;
  await files.makeDirectory(dir);
  try {
    const paths: string[] = [];
    for (const unit of units) {
      const path = `${dir}/${basename(unit.path)}`;
      await files.writeAtomic(path, unit.text, 0o644);
      paths.push(path);
    }
    await steps.read(["systemd-analyze", "verify", ...paths]);
  } finally {
    for (const unit of units) await files.remove(`${dir}/${basename(unit.path)}`);
    await files.removeEmptyDirectory(dir);
  }
}

/** `.wants` directories systemctl enable will create, so uninstall can remove them again. */
async function missingWantsDirectories(
  files: BootFiles,
  executable: string,
  lifecycle: Lifecycle,
): Promise<string[]> {
  const missing: string[] = [];
  const targets = [
    ...unitFiles(executable).map((unit) => unit.wantedBy),
    ...lifecycle.files.flatMap((file) => (file.wantedBy === undefined ? [] : [file.wantedBy])),
  ];
  for (const target of targets) {
    const dir = `${UNIT_DIR}/${target}.wants`;
    if (!(await files.isDirectory(dir)) && !missing.includes(dir)) missing.push(dir);
  }
  return missing;
}

export async function setupBoot(
  files: BootFiles,
  steps: Steps,
  grub: Grub,
  executable: string,
  lifecycle: Lifecycle = NO_LIFECYCLE,
): Promise<InstallResult> {
  const warnings: string[] = [];
  for (const name of ARTICLE_UNITS) {
    if (await files.exists(`${UNIT_DIR}/${name}`)) {
      warnings.push(
        `${UNIT_DIR}/${name} (a hand-made boot snapshot unit) exists: rootsnap replaces it; disable and remove it with systemctl disable ${name} && rm ${UNIT_DIR}/${name}`,
      );
    }
  }
  const desired = desiredFiles(executable, lifecycle);
  const changes: FileChange[] = [];
  for (const file of desired) {
    const before = await textOf(files, file.path);
    const mode = await files.mode(file.path);
    if (before !== file.text || (mode !== undefined && mode !== file.mode)) {
      changes.push({ path: file.path, before, after: file.text, mode: file.mode });
    }
  }
  const state = await readState(files);
  const grubCfg = (await files.read(grub.config)) ?? Buffer.alloc(0);
  const entryPresent = hasRootsnapEntry(grubCfg.toString("utf8"));
  if (changes.length === 0 && entryPresent && state !== undefined) {
    return { changes, commands: [], dryRun: steps.dryRun, unchanged: true, warnings };
  }
  const units = desired.filter((file) => file.path.startsWith(UNIT_DIR));
  await verifyUnits(steps, files, units);
  const createdDirectories = [
    ...(state?.createdDirectories ?? []),
    ...(await missingWantsDirectories(files, executable, lifecycle)),
    ...lifecycle.missingDirectories.filter((dir) => !state?.createdDirectories.includes(dir)),
  ];
  if (!(await files.isDirectory(STATE_DIR))) createdDirectories.push(STATE_DIR);
  for (const change of changes)
    steps.note(["install", "-m", change.mode.toString(8), "/dev/stdin", change.path]);
  // Units without [Install] (those a timer starts) are not enabled themselves.
  const unitNames = units
    .filter((unit) => unit.text.includes("[Install]"))
    .map((unit) => basename(unit.path));
  const startNow = units.filter((unit) => startsNow(unit.path)).map((unit) => basename(unit.path));
  if (steps.dryRun) {
    await steps.change(["systemctl", "daemon-reload"]);
    await steps.change(["systemctl", "enable", ...unitNames]);
    if (startNow.length > 0) await steps.change(["systemctl", "restart", ...startNow]);
    await regenerateGrubConfig(files, steps, grub, true);
    return { changes, commands: steps.commands, dryRun: true, unchanged: false, warnings };
  }
  // Keep grub.cfg from before the first setup, unless it has been regenerated since.
  const keepSaved = state?.savedBefore === true && state.writtenSha256 === sha256(grubCfg);
  await files.makeDirectory(STATE_DIR);
  if (state === undefined) await files.writeAtomic(SAVED_GRUB_CFG, grubCfg, 0o600);
  const savedBefore = state === undefined || keepSaved;
  if (!savedBefore) await files.remove(SAVED_GRUB_CFG);
  // The record comes first: an interrupted setup is undone by uninstall.
  const writeState = (writtenSha256: string | null): Promise<void> =>
    files.writeAtomic(
      STATE_PATH,
      `${JSON.stringify({ grubConfig: grub.config, writtenSha256, savedBefore, createdDirectories, executable } satisfies SetupState, null, 2)}\n`,
      0o644,
    );
  await writeState(null);
  for (const dir of lifecycle.missingDirectories) await files.makeDirectory(dir);
  for (const change of changes)
    await files.writeAtomic(change.path, change.after ?? "", change.mode);
  await steps.change(["systemctl", "daemon-reload"]);
  await steps.change(["systemctl", "enable", ...unitNames]);
  if (startNow.length > 0) await steps.change(["systemctl", "restart", ...startNow]);
  try {
    await regenerateGrubConfig(files, steps, grub, true);
  } catch (error) {
    await files.remove(GRUB_SCRIPT_PATH);
    throw error;
  }
  await writeState(sha256((await files.read(grub.config)) ?? ""));
  return { changes, commands: steps.commands, dryRun: false, unchanged: false, warnings };
}

export async function uninstallBoot(
  files: BootFiles,
  steps: Steps,
  grub: Grub | undefined,
): Promise<InstallResult> {
  const state = await readState(files);
  const present = [
    ...unitFiles("").map((unit) => `${UNIT_DIR}/${unit.name}`),
    GRUB_SCRIPT_PATH,
    BOOT_PLAN_PATH,
    ...lifecyclePaths(),
    // Written by revert; the initramfs images built with it keep `--poll n`, which is harmless.
    INITRAMFS_HOOK,
  ];
  const changes: FileChange[] = [];
  for (const path of present) {
    const before = await textOf(files, path);
    if (before !== undefined) changes.push({ path, before, after: undefined, mode: 0 });
  }
  const grubCfg = grub === undefined ? undefined : await files.read(grub.config);
  const entryPresent = hasRootsnapEntry(grubCfg?.toString("utf8") ?? "");
  if (changes.length === 0 && state === undefined && !entryPresent) {
    return { changes, commands: [], dryRun: steps.dryRun, unchanged: true, warnings: [] };
  }
  const installedUnits = changes
    .filter(
      (change) =>
        change.path.startsWith(`${UNIT_DIR}/`) && (change.before ?? "").includes("[Install]"),
    )
    .map((change) => basename(change.path));
  if (installedUnits.length > 0) {
    await steps.change(["systemctl", "disable", "--now", ...installedUnits]);
  }
  for (const change of changes) {
    steps.note(["rm", change.path]);
    if (!steps.dryRun) await files.remove(change.path);
  }
  await steps.change(["systemctl", "daemon-reload"]);
  for (const dir of state?.createdDirectories ?? []) {
    if (dir === STATE_DIR) continue;
    steps.note(["rmdir", dir]);
    if (!steps.dryRun) await files.removeEmptyDirectory(dir);
  }
  if (grub !== undefined) {
    await cancelOneShot(steps, grub, files);
    const saved = state?.savedBefore === true ? await files.read(SAVED_GRUB_CFG) : undefined;
    if (saved !== undefined && grubCfg !== undefined && state?.writtenSha256 === sha256(grubCfg)) {
      // Nothing regenerated grub.cfg since setup: the saved copy is the exact original.
      steps.note(["cp", SAVED_GRUB_CFG, grub.config]);
      if (!steps.dryRun)
        await files.writeAtomic(grub.config, saved, (await files.mode(grub.config)) ?? 0o444);
    } else if (entryPresent) {
      await regenerateGrubConfig(files, steps, grub, false);
    }
  }
  for (const path of [SAVED_GRUB_CFG, STATE_PATH]) {
    if (await files.exists(path)) {
      steps.note(["rm", path]);
      if (!steps.dryRun) await files.remove(path);
    }
  }
  if (state?.createdDirectories.includes(STATE_DIR) === true && !steps.dryRun) {
    await files.removeEmptyDirectory(STATE_DIR);
  }
  return {
    changes,
    commands: steps.commands,
    dryRun: steps.dryRun,
    unchanged: false,
    warnings: [],
  };
}

/** next_entry in grubenv, when it names rootsnap's entry, is unset; true when it did. */
export async function cancelOneShot(steps: Steps, grub: Grub, files: BootFiles): Promise<boolean> {
  if (!(await files.exists(grub.env))) return false;
  const env = await steps.read([grub.editenv, grub.env, "list"]);
  if (nextEntryOf(env) !== ENTRY_ID) return false;
  await steps.change([grub.editenv, grub.env, "unset", "next_entry"]);
  return true;
}
