// rootsnap setup and uninstall: the units, the /etc/grub.d script and grub.cfg, each
// file validated before it replaces anything, and a record of what was there before,
// so uninstall can put the boot configuration back byte for byte.
import { STATE_DIR } from "../system/paths.ts";
import { createHash } from "node:crypto";
import { basename, dirname } from "node:path";
import { ExitCode, OperationError, RootsnapError } from "../system/errors.ts";
import { unifiedDiff } from "./diff.ts";
import type { BootFiles } from "../system/files.ts";
import { INITRAMFS_HOOK } from "./initramfs.ts";
import {
  GRUB_SCRIPT_PATH,
  grubScript,
  hasRootsnapEntry,
  nextEntryOf,
  ENTRY_ID,
  isGrubBls,
  type Grub,
  type GrubBls,
} from "./grub.ts";
import { planBlsMenu, readGrubBlsEntries } from "./grubbls.ts";
import { installArgv, type Effects } from "../system/effects.ts";
import { BLS_SUFFIX, isRootsnapEntry } from "./bls.ts";
import {
  entryDirectories,
  KERNEL_INSTALL_PLUGIN,
  kernelInstallPlugin,
  loaderVariable,
  readEntries,
  entryPath,
  type SystemdBoot,
} from "./sdboot.ts";
import { lifecyclePaths, startsNow, type LifecycleFile } from "./lifecycle-units.ts";
import { BOOT_PLAN_PATH } from "./plan.ts";
import { ARTICLE_UNITS, UNIT_DIR, unitFiles } from "./units.ts";
import { UndoLog } from "./undo.ts";

/** Re-exported from src/system/paths.ts, where every path rootsnap owns is listed. */
export { STATE_DIR };

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** What setup installs for the lifecycle (hooks, timers, watchdog), and the directories it needs. */
export interface Lifecycle {
  readonly files: readonly LifecycleFile[];
  readonly missingDirectories: readonly string[];
}

const NO_LIFECYCLE: Lifecycle = { files: [], missingDirectories: [] };

export const STATE_PATH = `${STATE_DIR}/boot-setup.json`;
export const SAVED_GRUB_CFG = `${STATE_DIR}/grub.cfg.before-setup`;

/** The boot loader whose menu setup puts rootsnap's entry into. */
export type BootMenu = Grub | SystemdBoot;

export function isSystemdBoot(menu: BootMenu): menu is SystemdBoot {
  return "bootctl" in menu;
}

/** A boot loader whose menu is Boot Loader Spec entries: rootsnap's entry is a file there. */
export function readsBlsEntries(menu: BootMenu): menu is SystemdBoot | GrubBls {
  return isSystemdBoot(menu) || isGrubBls(menu);
}

/** What setup's record calls the boot loader. */
export type LoaderName = "grub" | "systemd-boot" | "grub-bls";

export function loaderName(menu: BootMenu): LoaderName {
  return isSystemdBoot(menu) ? "systemd-boot" : isGrubBls(menu) ? "grub-bls" : "grub";
}

/** What setup found and made, so uninstall removes exactly that. */
export interface SetupState {
  /** grub.cfg, or the directory of rootsnap's BLS entry. */
  readonly grubConfig: string;
  /** Absent in records of GRUB setups. */
  readonly loader?: LoaderName;
  /** grub.cfg as setup wrote it; when it still is, the saved copy goes back unchanged. */
  readonly writtenSha256: string | null;
  /** Whether SAVED_GRUB_CFG holds grub.cfg from before setup. */
  readonly savedBefore: boolean;
  readonly createdDirectories: readonly string[];
  /** The argv prefix the units run (Node and rootsnap's script); the boot plan hands over to it. */
  readonly program?: readonly string[];
  /** What a setup before `program` recorded: the one file the units ran. */
  readonly executable?: string;
}

/** The argv prefix a setup recorded, or undefined when it recorded none. */
export function programOf(state: SetupState | undefined): readonly string[] | undefined {
  if (Array.isArray(state?.program) && state.program.every((word) => typeof word === "string"))
    return state.program;
  return typeof state?.executable === "string" ? [state.executable] : undefined;
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

interface DesiredFile {
  readonly path: string;
  readonly text: string;
  readonly mode: number;
  /** For units: the target `systemctl enable` links it into. */
  readonly wantedBy?: string;
}

function desiredFiles(
  program: readonly string[],
  lifecycle: Lifecycle,
  menu: BootMenu,
): DesiredFile[] {
  return [
    ...lifecycle.files,
    ...unitFiles(program).map((unit) => ({
      path: `${UNIT_DIR}/${unit.name}`,
      text: unit.text,
      mode: 0o644,
      wantedBy: unit.wantedBy,
    })),
    readsBlsEntries(menu)
      ? { path: KERNEL_INSTALL_PLUGIN, text: kernelInstallPlugin(program), mode: 0o755 }
      : { path: GRUB_SCRIPT_PATH, text: grubScript(), mode: 0o755 },
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
  effects: Effects,
  grub: Grub,
  expectEntry: boolean,
): Promise<void> {
  const temp = `${grub.config}.rootsnap-new`;
  if (effects.dryRun) {
    await effects.run([grub.mkconfig, "-o", temp]);
    await effects.move(temp, grub.config);
    return;
  }
  try {
    await effects.run([grub.mkconfig, "-o", temp], { timeoutMs: 10 * 60_000 });
    await effects.read([grub.scriptCheck, temp]);
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
    // grub-mkconfig -o FILE writes FILE.new first and leaves it when a script fails.
    await effects.remove(`${temp}.new`, null);
    await effects.remove(temp, null);
    throw error;
  }
  await effects.move(temp, grub.config, null);
}

/** Scratch copies in /run, made in a dry run too: systemd-analyze verify reads files. */
async function verifyUnits(
  effects: Effects,
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
    await effects.read(["systemd-analyze", "verify", ...paths]);
  } finally {
    for (const unit of units) await files.remove(`${dir}/${basename(unit.path)}`);
    await files.removeEmptyDirectory(dir);
  }
}

/** `.wants` directories systemctl enable will create, so uninstall can remove them again. */
async function missingWantsDirectories(
  files: BootFiles,
  units: readonly DesiredFile[],
): Promise<string[]> {
  const missing: string[] = [];
  for (const unit of units) {
    if (unit.wantedBy === undefined) continue;
    const dir = `${UNIT_DIR}/${unit.wantedBy}.wants`;
    if (!(await files.isDirectory(dir)) && !missing.includes(dir)) missing.push(dir);
  }
  return missing;
}

/** Refuses, before anything is written, a system whose directories setup writes into are missing. */
async function checkDirectories(
  files: BootFiles,
  desired: readonly DesiredFile[],
  lifecycle: Lifecycle,
): Promise<void> {
  const made = [
    STATE_DIR,
    ...lifecycle.missingDirectories,
    ...(await pluginDirectory(files, desired)),
  ];
  for (const dir of new Set(desired.map((file) => dirname(file.path)))) {
    if (made.includes(dir) || (await files.isDirectory(dir))) continue;
    const exists = await files.exists(dir);
    throw new RootsnapError(
      ExitCode.unavailable,
      `${dir} ${exists ? "is not a directory" : "does not exist"}: rootsnap setup writes ${desired
        .filter((file) => dirname(file.path) === dir)
        .map((file) => basename(file.path))
        .join(", ")} there`,
      dir === dirname(GRUB_SCRIPT_PATH)
        ? "reinstall the GRUB package that provides grub-mkconfig (grub-common or grub2-tools)"
        : dir === UNIT_DIR
          ? "boot integration needs systemd"
          : undefined,
    );
  }
}

/** kernel-install's /etc directory for plugins, when setup has to make it. */
async function pluginDirectory(
  files: BootFiles,
  desired: readonly DesiredFile[],
): Promise<string[]> {
  const dir = dirname(KERNEL_INSTALL_PLUGIN);
  return desired.some((file) => file.path === KERNEL_INSTALL_PLUGIN) &&
    !(await files.isDirectory(dir))
    ? [dir]
    : [];
}

/** The units among `names` that systemd runs now (`systemctl is-active` says "active"). */
async function activeUnits(effects: Effects, names: readonly string[]): Promise<Set<string>> {
  if (names.length === 0) return new Set();
  // One line per unit; it exits 3 when one is not active.
  const out = await effects.read(["systemctl", "is-active", ...names], {
    okCodes: [0, 1, 2, 3, 4],
  });
  const states = out.split("\n");
  return new Set(names.filter((_, i) => states[i]?.trim() === "active"));
}

/** A unit that failed stays listed until this, even once its file is gone. */
async function resetFailed(effects: Effects, names: readonly string[]): Promise<void> {
  // It exits 1 for a unit systemd has not loaded, and goes on with the others.
  await effects.run(["systemctl", "reset-failed", ...names], { okCodes: [0, 1] });
}

/** The units `systemctl enable` links (those with [Install]), and those started at once. */
function unitRoles(units: readonly DesiredFile[]): { enabled: DesiredFile[]; startNow: string[] } {
  return {
    // Units without [Install] (those a timer starts) are not enabled themselves.
    enabled: units.filter((unit) => unit.text.includes("[Install]")),
    startNow: units.filter((unit) => startsNow(unit.path)).map((unit) => basename(unit.path)),
  };
}

/**
 * Writes the changed files, enables the units and starts the timers and the watchdog, each
 * step with its undo in `undo`: a failure leaves enabled and running what was before.
 */
async function installUnits(
  files: BootFiles,
  effects: Effects,
  undo: UndoLog,
  changes: readonly FileChange[],
  units: readonly DesiredFile[],
  wantsMissing: readonly string[],
): Promise<void> {
  const { enabled, startNow } = unitRoles(units);
  const newlyEnabled: string[] = [];
  for (const unit of enabled) {
    const link = `${UNIT_DIR}/${unit.wantedBy ?? ""}.wants/${basename(unit.path)}`;
    if (unit.wantedBy === undefined || !(await files.exists(link)))
      newlyEnabled.push(basename(unit.path));
  }
  const running = await activeUnits(effects, startNow);
  let restarted = false;
  // Once the unit files are back, systemd reads them again and what ran before runs them.
  undo.add("systemctl daemon-reload", async () => {
    await effects.run(["systemctl", "daemon-reload"]);
    const before = startNow.filter((name) => running.has(name));
    if (restarted && before.length > 0) await effects.run(["systemctl", "restart", ...before]);
  });
  for (const change of changes) await undo.write(change.path, change.after ?? "", change.mode);
  await effects.run(["systemctl", "daemon-reload"]);
  for (const dir of wantsMissing) undo.add(dir, () => undo.removeDirectory(dir));
  if (newlyEnabled.length > 0) {
    undo.add(`systemctl disable ${newlyEnabled.join(" ")}`, async () => {
      await effects.run(["systemctl", "disable", ...newlyEnabled]);
    });
  }
  await effects.run(["systemctl", "enable", ...enabled.map((unit) => basename(unit.path))]);
  if (startNow.length === 0) return;
  const started = startNow.filter((name) => !running.has(name));
  if (started.length > 0) {
    undo.add(`systemctl stop ${started.join(" ")}`, async () => {
      await effects.run(["systemctl", "stop", ...started]);
      await resetFailed(effects, started);
    });
  }
  restarted = true;
  await effects.run(["systemctl", "restart", ...startNow]);
}

/** How setup puts rootsnap's entry into one boot loader's menu. */
interface MenuStep {
  readonly loader: LoaderName;
  /** For the record: grub.cfg, or the directory of systemd-boot's entry. */
  readonly config: string;
  /** rootsnap's entry is in the menu as it should be. */
  readonly inPlace: boolean;
  /** Whether the record's saved grub.cfg is (still) the one from before the first setup. */
  savedBefore(state: SetupState | undefined): boolean;
  /** Before the record is written: what uninstall needs to put the menu back. */
  keep(undo: UndoLog, state: SetupState | undefined, savedBefore: boolean): Promise<void>;
  /** What a dry run shows. */
  dryRun(): Promise<void>;
  /** Puts the entry in place, its undo in `undo`; resolves with the hash the record keeps. */
  apply(undo: UndoLog): Promise<string>;
}

async function grubStep(files: BootFiles, effects: Effects, grub: Grub): Promise<MenuStep> {
  const grubCfg = (await files.read(grub.config)) ?? Buffer.alloc(0);
  return {
    loader: "grub",
    config: grub.config,
    inPlace: hasRootsnapEntry(grubCfg.toString("utf8")),
    // Keep grub.cfg from before the first setup, unless it has been regenerated since.
    savedBefore: (state) =>
      state === undefined || (state.savedBefore && state.writtenSha256 === sha256(grubCfg)),
    keep: async (undo, state, savedBefore) => {
      if (state === undefined) await undo.write(SAVED_GRUB_CFG, grubCfg, 0o600, true);
      if (!savedBefore) await undo.remove(SAVED_GRUB_CFG, true);
    },
    dryRun: () => regenerateGrubConfig(files, effects, grub, true),
    apply: async (undo) => {
      const grubMode = await files.mode(grub.config);
      undo.add(grub.config, async () => {
        const now = await files.read(grub.config);
        if (now === undefined || !now.equals(grubCfg))
          await effects.writeFile(grub.config, grubCfg, grubMode ?? 0o644, null);
      });
      await regenerateGrubConfig(files, effects, grub, true);
      return sha256((await files.read(grub.config)) ?? "");
    },
  };
}

/** systemd-boot's or GRUB's BLS menu: rootsnap's entry is a file beside the default entry. */
async function blsStep(
  files: BootFiles,
  effects: Effects,
  menu: SystemdBoot | GrubBls,
): Promise<MenuStep> {
  const plan = await planBlsMenu(files, menu);
  const wanted = plan.wanted;
  if (wanted === undefined) {
    const dirs = isSystemdBoot(menu) ? entryDirectories(menu) : [menu.entries];
    throw new RootsnapError(
      ExitCode.unavailable,
      `${isSystemdBoot(menu) ? "systemd-boot" : "GRUB"} has no entry to copy (no *.conf in ${dirs.join(" or ")})`,
      "kernel-install add $(uname -r) /lib/modules/$(uname -r)/vmlinuz writes one",
    );
  }
  const { stale } = plan;
  return {
    loader: loaderName(menu),
    config: dirname(wanted.path),
    inPlace: plan.inPlace,
    savedBefore: () => false,
    keep: () => Promise.resolve(),
    dryRun: async () => {
      await effects.writeFile(wanted.path, wanted.text, 0o644);
      for (const entry of stale) await effects.remove(entry.path);
    },
    apply: async (undo) => {
      await undo.write(wanted.path, wanted.text, 0o644);
      for (const entry of stale) await undo.remove(entry.path);
      return sha256(wanted.text);
    },
  };
}

export async function setupBoot(
  files: BootFiles,
  effects: Effects,
  menu: BootMenu,
  program: readonly string[],
  lifecycle: Lifecycle = NO_LIFECYCLE,
  /** Told, when a step fails, whether what was done could be taken back. */
  warn: (message: string) => void = () => undefined,
): Promise<InstallResult> {
  const warnings: string[] = [];
  for (const name of ARTICLE_UNITS) {
    if (await files.exists(`${UNIT_DIR}/${name}`)) {
      warnings.push(
        `${UNIT_DIR}/${name} (a hand-made boot snapshot unit) exists: rootsnap replaces it; disable and remove it with systemctl disable ${name} && rm ${UNIT_DIR}/${name}`,
      );
    }
  }
  const desired = desiredFiles(program, lifecycle, menu);
  const changes: FileChange[] = [];
  for (const file of desired) {
    const before = await textOf(files, file.path);
    const mode = await files.mode(file.path);
    if (before !== file.text || (mode !== undefined && mode !== file.mode)) {
      changes.push({ path: file.path, before, after: file.text, mode: file.mode });
    }
  }
  const state = await readState(files);
  const step = readsBlsEntries(menu)
    ? await blsStep(files, effects, menu)
    : await grubStep(files, effects, menu);
  if (changes.length === 0 && step.inPlace && state !== undefined) {
    return { changes, commands: [], dryRun: effects.dryRun, unchanged: true, warnings };
  }
  // Everything that can be checked is, before the first write.
  await checkDirectories(files, desired, lifecycle);
  const units = desired.filter((file) => file.path.startsWith(`${UNIT_DIR}/`));
  await verifyUnits(effects, files, units);
  const wantsMissing = await missingWantsDirectories(files, units);
  const pluginDirs = await pluginDirectory(files, desired);
  const createdDirectories = [
    ...(state?.createdDirectories ?? []),
    ...wantsMissing,
    ...[...lifecycle.missingDirectories, ...pluginDirs].filter(
      (dir) => !state?.createdDirectories.includes(dir),
    ),
  ];
  if (!(await files.isDirectory(STATE_DIR))) createdDirectories.push(STATE_DIR);
  for (const change of changes) effects.record(installArgv(change.path, change.mode));
  if (effects.dryRun) {
    const { enabled, startNow } = unitRoles(units);
    await effects.run(["systemctl", "daemon-reload"]);
    await effects.run(["systemctl", "enable", ...enabled.map((unit) => basename(unit.path))]);
    if (startNow.length > 0) await effects.run(["systemctl", "restart", ...startNow]);
    await step.dryRun();
    return { changes, commands: effects.changes, dryRun: true, unchanged: false, warnings };
  }
  const savedBefore = step.savedBefore(state);
  const loader = step.loader === "grub" ? {} : { loader: step.loader };
  const record = (writtenSha256: string | null): string =>
    `${JSON.stringify({ grubConfig: step.config, ...loader, writtenSha256, savedBefore, createdDirectories, program } satisfies SetupState, null, 2)}\n`;
  const undo = new UndoLog(effects);
  try {
    await undo.makeDirectory(STATE_DIR, true);
    await step.keep(undo, state, savedBefore);
    // The record comes first: an interrupted setup is undone by uninstall.
    await undo.write(STATE_PATH, record(null), 0o644, true);
    for (const dir of [...lifecycle.missingDirectories, ...pluginDirs]) {
      await undo.makeDirectory(dir);
    }
    await installUnits(files, effects, undo, changes, units, wantsMissing);
    const written = await step.apply(undo);
    await effects.writeFile(STATE_PATH, record(written), 0o644, null);
  } catch (error) {
    const failed = await undo.undo();
    warn(
      failed.length === 0
        ? "setup failed and undid what it had changed: the system is as it was before"
        : `setup failed, and could not undo all it had changed (${failed.join("; ")}): run rootsnap setup again to finish it, or rootsnap uninstall to remove what is left`,
    );
    throw error;
  }
  return { changes, commands: effects.changes, dryRun: false, unchanged: false, warnings };
}

export async function uninstallBoot(
  files: BootFiles,
  effects: Effects,
  menu: BootMenu | undefined,
): Promise<InstallResult> {
  const state = await readState(files);
  const present = [
    ...unitFiles([]).map((unit) => `${UNIT_DIR}/${unit.name}`),
    GRUB_SCRIPT_PATH,
    KERNEL_INSTALL_PLUGIN,
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
  const grub = menu === undefined || readsBlsEntries(menu) ? undefined : menu;
  const entries =
    menu !== undefined && readsBlsEntries(menu) ? await rootsnapEntries(files, menu) : [];
  for (const entry of entries) changes.push({ ...entry, after: undefined, mode: 0 });
  const grubCfg = grub === undefined ? undefined : await files.read(grub.config);
  const entryPresent = hasRootsnapEntry(grubCfg?.toString("utf8") ?? "");
  if (changes.length === 0 && state === undefined && !entryPresent) {
    return { changes, commands: [], dryRun: effects.dryRun, unchanged: true, warnings: [] };
  }
  const installedUnits = changes
    .filter(
      (change) =>
        change.path.startsWith(`${UNIT_DIR}/`) && (change.before ?? "").includes("[Install]"),
    )
    .map((change) => basename(change.path));
  if (installedUnits.length > 0) {
    await effects.run(["systemctl", "disable", "--now", ...installedUnits]);
  }
  const unitNames = changes
    .filter((change) => change.path.startsWith(`${UNIT_DIR}/`))
    .map((change) => basename(change.path));
  if (unitNames.length > 0) await resetFailed(effects, unitNames);
  for (const change of changes) await effects.remove(change.path);
  await effects.run(["systemctl", "daemon-reload"]);
  for (const dir of state?.createdDirectories ?? []) {
    if (dir === STATE_DIR) continue;
    await effects.removeEmptyDirectory(dir);
  }
  if (menu !== undefined) await cancelOneShot(effects, menu, files);
  if (grub !== undefined) {
    const saved = state?.savedBefore === true ? await files.read(SAVED_GRUB_CFG) : undefined;
    if (saved !== undefined && grubCfg !== undefined && state?.writtenSha256 === sha256(grubCfg)) {
      // Nothing regenerated grub.cfg since setup: the saved copy is the exact original.
      const mode = (await files.mode(grub.config)) ?? 0o444;
      await effects.writeFile(grub.config, saved, mode, ["cp", SAVED_GRUB_CFG, grub.config]);
    } else if (entryPresent) {
      await regenerateGrubConfig(files, effects, grub, false);
    }
  }
  for (const path of [SAVED_GRUB_CFG, STATE_PATH]) {
    if (await files.exists(path)) await effects.remove(path);
  }
  if (state?.createdDirectories.includes(STATE_DIR) === true) {
    await effects.removeEmptyDirectory(STATE_DIR, null);
  }
  return {
    changes,
    commands: effects.changes,
    dryRun: effects.dryRun,
    unchanged: false,
    warnings: [],
  };
}

/** rootsnap's BLS entries, to be removed. */
async function rootsnapEntries(
  files: BootFiles,
  menu: SystemdBoot | GrubBls,
): Promise<{ path: string; before: string }[]> {
  const placed = isSystemdBoot(menu)
    ? await readEntries(files, menu)
    : await readGrubBlsEntries(files, menu);
  return placed
    .filter((p) => isRootsnapEntry(p.entry))
    .map((p) => ({ path: entryPath(p), before: `${p.entry.lines.join("\n")}\n` }));
}

/** Whether GRUB's next_entry names rootsnap's entry (its id, or a BLS entry of rootsnap's). */
export function isRootsnapOneShot(grub: Grub, next: string | undefined): boolean {
  if (next === undefined) return false;
  return isGrubBls(grub) ? `${next}.conf`.endsWith(BLS_SUFFIX) : next === ENTRY_ID;
}

/**
 * rootsnap's one-shot entry, when the next boot is to start it, is cancelled (grubenv's
 * next_entry, or systemd-boot's LoaderEntryOneShot); true when it was.
 */
export async function cancelOneShot(
  effects: Effects,
  menu: BootMenu,
  files: BootFiles,
): Promise<boolean> {
  if (isSystemdBoot(menu)) {
    const oneShot = await loaderVariable(files, "LoaderEntryOneShot");
    if (oneShot === undefined || !oneShot.endsWith(BLS_SUFFIX)) return false;
    await effects.run([menu.bootctl, "set-oneshot", ""]);
    return true;
  }
  const grub = menu;
  if (!(await files.exists(grub.env))) return false;
  const env = await effects.read([grub.editenv, grub.env, "list"]);
  if (!isRootsnapOneShot(grub, nextEntryOf(env))) return false;
  await effects.run([grub.editenv, grub.env, "unset", "next_entry"]);
  return true;
}
