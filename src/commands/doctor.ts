// rootsnap doctor: whether setup and revert will work on this system, one check a line.
import { nodeBootFiles, type BootFiles } from "../system/files.ts";
import { hasRootsnapEntry } from "../boot/grub.ts";
import { interruptedSetup, readsBlsEntries, readState, type BootMenu } from "../boot/install.ts";
import { planBlsMenu } from "../boot/grubbls.ts";
import {
  currentImage,
  dracutActivatesWithoutPolling,
  LISTER,
  mkinitcpioConfig,
  mkinitcpioHooks,
  rebuildAdvice,
} from "../boot/images.ts";
import { BOOT_PLAN_PATH, readBootFailure, unplannedReason } from "../boot/plan.ts";
import { BOOT_UNIT } from "../boot/units.ts";
import { initramfsPolling } from "../boot/initramfs.ts";
import { detectStack, LOADER_NAMES, stackSummary, type BootStack } from "../boot/stack.ts";
import { mountAt, type Mount } from "../config/mounts.ts";
import { RootsnapError } from "../system/errors.ts";
import { installHint } from "../system/failure.ts";
import { loadConfig } from "../config/config.ts";
import type { LogicalVolume } from "../lvm/model.ts";
import { makeSet, rootVolume } from "../lifecycle/make.ts";
import { bootUnitInstalled } from "../lifecycle/boot-plan.ts";
import type { Context } from "../system/context.ts";
import { lvmOf } from "../lvm/lvm.ts";
import { readMounts } from "../config/mounts.ts";

export type CheckStatus = "ok" | "warn" | "fail";

export interface Check {
  readonly name: string;
  readonly status: CheckStatus;
  readonly detail: string;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function tryRead(context: Context, argv: readonly string[]): Promise<string | undefined> {
  try {
    return (await context.runner(argv)).stdout;
  } catch {
    return undefined;
  }
}

interface Tool {
  readonly argv: readonly string[];
  /** What rootsnap cannot do without it; undefined: nothing works. */
  readonly needed?: string;
  /** The version from its --version output. */
  readonly version?: RegExp;
}

/** The programs rootsnap runs, asked for their versions: whether each one is there. */
const TOOLS: readonly Tool[] = [
  { argv: ["lvm", "version"], version: /LVM version:\s*(\S+)/ },
  { argv: ["dmsetup", "--version"], version: /Library version:\s*(\S+)/ },
  { argv: ["flock", "--version"] },
  { argv: ["systemctl", "--version"], version: /^systemd (\d+)/m, needed: "boot integration" },
  { argv: ["tar", "--version"], version: /^tar \(GNU tar\) (\S+)/m, needed: "backup and restore" },
  { argv: ["zstd", "--version"], version: /v(\d+\.\d+\.\d+)/, needed: "compressed backups" },
];

const THIN_TOOL: Tool = {
  argv: ["thin_check", "-V"],
  version: /^(\d+\.\d+\.\d+)/m,
  needed: "thin pools at boot",
};

/** Each program rootsnap needs, found or not; a missing one is named with what to install. */
async function toolsCheck(context: Context, thin: boolean): Promise<Check> {
  const tools = thin ? [...TOOLS, THIN_TOOL] : TOOLS;
  const found = await Promise.all(
    tools.map(async (tool) => ({ tool, out: await tryRead(context, tool.argv) })),
  );
  const missing = found.filter(({ out }) => out === undefined).map(({ tool }) => tool);
  if (missing.length === 0) {
    const versions = found.map(({ tool, out }) => {
      const version = tool.version?.exec(out ?? "")?.[1];
      return version === undefined ? (tool.argv[0] ?? "") : `${tool.argv[0] ?? ""} ${version}`;
    });
    return { name: "tools", status: "ok", detail: versions.join(", ") };
  }
  const named = missing.map((tool) => {
    const name = tool.argv[0] ?? "";
    const what = tool.needed === undefined ? "" : ` (needed for ${tool.needed})`;
    return `${name} not found${what}: ${installHint(name)}`;
  });
  const essential = missing.some((tool) => tool.needed === undefined || tool.argv[0] === "tar");
  return { name: "tools", status: essential ? "fail" : "warn", detail: named.join("; ") };
}

/** Whether the configuration file loads, and what it makes of a set. */
async function configCheck(context: Context): Promise<Check> {
  try {
    const config = await loadConfig(context.fs, context.configPath, context.configNamed);
    if (config.path === undefined)
      return {
        name: "configuration",
        status: "ok",
        detail: `no ${context.configPath}: the defaults (a set holds the LV at /)`,
      };
    const volumes = config.volumes.map((volume) => volume.lv);
    return {
      name: "configuration",
      status: "ok",
      detail: `${config.path}: ${volumes.length === 0 ? "a set holds the LV at /" : `a set holds ${volumes.join(", ")}`}`,
    };
  } catch (error) {
    if (!(error instanceof RootsnapError)) throw error;
    const hint = error.hint === undefined ? "" : ` (${error.hint})`;
    return { name: "configuration", status: "fail", detail: `${error.message}${hint}` };
  }
}

/** A shutdown slower than this is worth a look (the seed article saw minutes). */
const SLOW_SHUTDOWN_SECONDS = 30;

/** How long the previous boot took to shut down, from the journal: first stop to last line. */
export function shutdownSeconds(journalJson: string): number | undefined {
  let first: number | undefined;
  let last: number | undefined;
  for (const line of journalJson.split("\n")) {
    if (line.trim() === "") continue;
    let entry: { MESSAGE?: unknown; __REALTIME_TIMESTAMP?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    const at = Number(entry.__REALTIME_TIMESTAMP) / 1e6;
    if (!Number.isFinite(at)) continue;
    last = at;
    const message = typeof entry.MESSAGE === "string" ? entry.MESSAGE : "";
    if (
      first === undefined &&
      /^(Stopping |Stopped target|Reached target .*(Shutdown|Power-Off|Reboot))/.test(message)
    ) {
      first = at;
    }
  }
  return first === undefined || last === undefined ? undefined : last - first;
}

async function shutdownCheck(context: Context): Promise<Check> {
  const journal = await tryRead(context, [
    "journalctl",
    "-b",
    "-1",
    "-o",
    "json",
    "--output-fields=MESSAGE",
    "--no-pager",
    "-q",
  ]);
  const seconds = journal === undefined ? undefined : shutdownSeconds(journal);
  if (seconds === undefined) {
    return {
      name: "shutdown",
      status: "ok",
      detail:
        "no record of the previous shutdown (the journal keeps only this boot): nothing measured",
    };
  }
  const took = `the previous shutdown took ${seconds.toFixed(0)} s`;
  return seconds > SLOW_SHUTDOWN_SECONDS
    ? {
        name: "shutdown",
        status: "warn",
        detail: `${took}: look at journalctl -b -1 for the unit that held it up`,
      }
    : { name: "shutdown", status: "ok", detail: `${took}; no drop-in needed` };
}

async function initramfsCheck(
  context: Context,
  files: BootFiles,
  root: LogicalVolume | undefined,
  stack: BootStack,
): Promise<Check> {
  const release = (await tryRead(context, ["uname", "-r"]))?.trim() ?? "";
  const builtin = (await context.fs.readText(`/lib/modules/${release}/modules.builtin`)) ?? "";
  const generator = stack.initramfs === "unknown" ? "initramfs-tools" : stack.initramfs;
  const lister = LISTER[generator];
  const image =
    (await currentImage(files, release, stack.systemdBoot)) ?? `/boot/initrd.img-${release}`;
  const listing = await tryRead(context, [lister, image]);
  if (listing === undefined) {
    return { name: "initramfs", status: "warn", detail: `could not list ${image} (${lister})` };
  }
  const missing: string[] = [];
  if (!/dm-snapshot\.ko/.test(listing) && !/dm-snapshot\.ko/.test(builtin))
    missing.push("dm-snapshot");
  if (root !== undefined && root.pool !== null && !/thin_check/.test(listing))
    missing.push("thin_check");
  return missing.length === 0
    ? { name: "initramfs", status: "ok", detail: `${image} has what snapshots and merges need` }
    : {
        name: "initramfs",
        status: "fail",
        detail: `${image} lacks ${missing.join(", ")}: ${rebuildAdvice(generator, release)}`,
      };
}

/** mkinitcpio builds LVM into the image only with the lvm2 (or sd-lvm2) hook. */
async function mkinitcpioCheck(files: BootFiles): Promise<Check> {
  const hooks = mkinitcpioHooks(await mkinitcpioConfig(files));
  const lvm = hooks.find((hook) => hook === "lvm2" || hook === "sd-lvm2");
  return lvm !== undefined
    ? { name: "mkinitcpio", status: "ok", detail: `HOOKS has ${lvm}` }
    : {
        name: "mkinitcpio",
        status: "fail",
        detail: `HOOKS (${hooks.join(" ") || "none"}) has neither lvm2 nor sd-lvm2: / on LVM cannot be found at boot; add lvm2 (sd-lvm2 with the systemd hook) before filesystems in /etc/mkinitcpio.conf and run mkinitcpio -P`,
      };
}

/** Whether a merge that starts at boot is finished by a poller that outlives the initramfs. */
async function mergePollingCheck(files: BootFiles, stack: BootStack): Promise<Check> {
  const name = "merges at boot";
  if (stack.initramfs === "dracut") {
    const quiet = await dracutActivatesWithoutPolling(files);
    return quiet === false
      ? {
          name,
          status: "warn",
          detail:
            "dracut's lvm module activates without --sysinit: lvm's merge poller may outlive the initramfs",
        }
      : {
          name,
          status: "ok",
          detail:
            "dracut activates LVs with --sysinit, which polls no merges; lvm finishes them in the running system",
        };
  }
  if (stack.initramfs === "mkinitcpio") {
    return {
      name,
      status: "warn",
      detail:
        "mkinitcpio's lvm2 hook runs lvm's udev rules, whose poller may outlive the initramfs: after a revert, rootsnap repair finishes a merge left waiting",
    };
  }
  const state = await initramfsPolling(files);
  if (!state.startsPoller) {
    return {
      name,
      status: "ok",
      detail: "the initramfs polls no merges; lvm finishes them in the running system",
    };
  }
  if (state.hookInstalled && state.stale.length === 0) {
    return {
      name,
      status: "ok",
      detail: "rootsnap's initramfs hook leaves lvm's merge poller out of the initramfs",
    };
  }
  return {
    name,
    status: "warn",
    detail: `the initramfs${state.stale.length > 0 ? ` (${state.stale.join(", ")})` : ""} lets lvm's merge poller run past the switch to the real root, which can leave a volume suspended; rootsnap revert rebuilds each such image (update-initramfs -u -k VERSION) when a merge waits for the next boot`,
  };
}

async function spaceCheck(context: Context): Promise<Check> {
  try {
    await makeSet(
      {
        ...context,
        dryRun: true,
        effects: context.effects.dry(),
        output: { note: () => undefined, warn: () => undefined },
      },
      {
        name: "doctor-check",
        kind: "boot",
        volumes: [],
        size: undefined,
      },
    );
    return {
      name: "space",
      status: "ok",
      detail: "the volume groups have room for the configured set",
    };
  } catch (error) {
    return { name: "space", status: "fail", detail: messageOf(error) };
  }
}

async function autoextendCheck(context: Context): Promise<Check> {
  const text =
    (await tryRead(context, [
      "lvmconfig",
      "--type",
      "full",
      "activation/snapshot_autoextend_threshold",
      "activation/snapshot_autoextend_percent",
    ])) ?? "";
  const threshold = Number(/snapshot_autoextend_threshold=(\d+)/.exec(text)?.[1] ?? "100");
  return threshold >= 100
    ? {
        name: "autoextend",
        status: "warn",
        detail:
          "lvm.conf activation/snapshot_autoextend_threshold is 100 (off): a full snapshot is invalidated; set it to e.g. 70 with snapshot_autoextend_percent 20",
      }
    : { name: "autoextend", status: "ok", detail: `snapshots grow from ${threshold}% full` };
}

/** fstab lines naming a snapshotted file system by UUID or LABEL, which its snapshot shares. */
export function ambiguousFstab(
  fstab: string,
  mounts: readonly Mount[],
  origins: ReadonlySet<string>,
): string[] {
  const found: string[] = [];
  for (const line of fstab.split("\n")) {
    const [source, target] = line.trim().split(/\s+/);
    if (source === undefined || target === undefined || source.startsWith("#")) continue;
    if (!/^(UUID|LABEL|PARTUUID)=/.test(source)) continue;
    const mount = mountAt(mounts, target);
    if (mount !== undefined && origins.has(mount.device)) found.push(`${source} ${target}`);
  }
  return found;
}

/** The boot plan the boot-time unit runs, so that Node is not started at boot. */
function planCheck(text: string | undefined): Check {
  if (text === undefined) {
    return {
      name: "boot plan",
      status: "warn",
      detail: `${BOOT_PLAN_PATH} is missing: a snapshot boot runs rootsnap create, which is slower; rootsnap next-boot makes it`,
    };
  }
  const unplanned = unplannedReason(text);
  return unplanned === undefined
    ? {
        name: "boot plan",
        status: "ok",
        detail: `${BOOT_PLAN_PATH} holds the boot-time set's commands; regenerated at every boot`,
      }
    : {
        name: "boot plan",
        status: "warn",
        detail: `the boot-time set could not be planned ahead (${unplanned}): a snapshot boot runs rootsnap create`,
      };
}

function firmwareLine(stack: BootStack): string {
  if (stack.firmware === "bios") return "BIOS";
  const secure =
    stack.secureBoot === undefined
      ? "secure boot state unknown"
      : `secure boot ${stack.secureBoot ? "on" : "off"}`;
  const esp =
    stack.esp === undefined
      ? "no ESP mounted at /boot/efi, /efi or /boot"
      : `ESP ${stack.esp.source} at ${stack.esp.mountPoint} (${stack.esp.loaders.map((id) => `EFI/${id}`).join(", ") || "no boot loader"}${stack.esp.shim ? ", shim and signed GRUB" : ""})`;
  return `UEFI, ${secure}; ${esp}`;
}

/** The stack in one line a part: firmware, loader, grubenv, initramfs, encryption, verdict. */
export function stackChecks(stack: BootStack): Check[] {
  const checks: Check[] = [
    {
      name: "firmware",
      status: stack.firmware === "uefi" && stack.esp === undefined ? "warn" : "ok",
      detail: firmwareLine(stack),
    },
    {
      name: "boot loader",
      status: stack.unsupported === undefined || stack.loaderProblem === undefined ? "ok" : "fail",
      detail:
        stack.loaderConfig === undefined
          ? `${LOADER_NAMES[stack.loader]}: ${stack.loaderProblem ?? "no configuration found"}`
          : `${LOADER_NAMES[stack.loader]}, reading ${stack.loaderConfig}`,
    },
  ];
  if (stack.grubEnv !== undefined) {
    checks.push({
      name: "grubenv",
      status: "ok",
      detail: stack.grubEnv.writable
        ? `${stack.grubEnv.path} is ${stack.grubEnv.why}: GRUB clears a one-shot entry itself`
        : `${stack.grubEnv.path} is ${stack.grubEnv.why}: GRUB cannot write it, so rootsnap-finish.service clears a one-shot entry`,
    });
  }
  if (stack.systemdBoot !== undefined) {
    checks.push({
      name: "one-shot",
      status: "ok",
      detail:
        "next-boot sets the EFI variable LoaderEntryOneShot (bootctl set-oneshot), which systemd-boot clears itself",
    });
  }
  checks.push(
    {
      name: "initramfs generator",
      status: stack.initramfs === "unknown" ? "warn" : "ok",
      detail:
        stack.initramfs === "unknown"
          ? "none found (update-initramfs, dracut, mkinitcpio)"
          : stack.initramfs,
    },
    {
      name: "encryption",
      status: "ok",
      detail:
        stack.encryption.length === 0
          ? "/ is on no encrypted device"
          : `/ is on LUKS (${stack.encryption.join(", ")}), unlocked before the VG is activated: sets are taken after it`,
    },
    stack.unsupported === undefined
      ? {
          name: "stack",
          status: "ok",
          detail: `${stackSummary(stack)}: supported`,
        }
      : {
          name: "stack",
          status: "fail",
          detail: `boot integration does not support ${stack.unsupported} yet; create, revert and backup work without it`,
        },
  );
  return checks;
}

async function setupChecks(context: Context, files: BootFiles, stack: BootStack): Promise<Check[]> {
  const checks: Check[] = [];
  const menu: BootMenu | undefined = stack.systemdBoot ?? stack.grub;
  if (menu === undefined) return checks;
  let installed = await bootUnitInstalled(files);
  let where: string;
  if (readsBlsEntries(menu)) {
    const plan = await planBlsMenu(files, menu);
    installed &&= plan.present.some((entry) => entry.path === plan.wanted?.path);
    where = `${plan.wanted?.path ?? "the entries"} is rootsnap's copy of ${plan.source?.entry.id ?? "the default entry"}`;
  } else {
    installed &&= hasRootsnapEntry((await files.read(menu.config))?.toString("utf8") ?? "");
    where = `${menu.config} has the rootsnap entry`;
  }
  const cutOff = interruptedSetup(await readState(files));
  checks.push(
    cutOff !== null
      ? { name: "setup", status: "fail", detail: cutOff }
      : installed
        ? { name: "setup", status: "ok", detail: `units installed and ${where}` }
        : {
            name: "setup",
            status: "warn",
            detail: "boot integration is not installed: rootsnap setup",
          },
  );
  if (installed) {
    const show =
      (await tryRead(context, [
        "systemctl",
        "show",
        "-p",
        "Result,ExecMainStatus,ConditionResult",
        BOOT_UNIT,
      ])) ?? "";
    const recorded = await readBootFailure(context.fs);
    if (recorded !== null || (/ConditionResult=yes/.test(show) && !/Result=success/.test(show))) {
      checks.push({
        name: "boot-time set",
        status: "warn",
        detail: `this boot's set was not made (${recorded ?? show.replace(/\n/g, " ").trim()}): journalctl -b -u ${BOOT_UNIT}`,
      });
    }
    checks.push(planCheck((await files.read(BOOT_PLAN_PATH))?.toString("utf8")));
  }
  return checks;
}

export async function doctor(
  context: Context,
  files: BootFiles = context.bootFiles ?? nodeBootFiles,
): Promise<Check[]> {
  const lvm = lvmOf(context);
  const mounts = await readMounts(context);
  const checks: Check[] = [];
  // Without lvm every check still runs: the tools check says what to install.
  const lvs = await lvm.logicalVolumes().catch((error: unknown) => {
    if (!(error instanceof RootsnapError)) throw error;
    return error;
  });
  checks.push(await toolsCheck(context, Array.isArray(lvs) && lvs.some((lv) => lv.pool)));
  checks.push(await configCheck(context));
  let root: LogicalVolume | undefined;
  try {
    if (!Array.isArray(lvs)) throw lvs;
    const name = rootVolume(lvs, mounts);
    root = lvs.find((lv) => lv.fullName === name);
    checks.push({
      name: "root on LVM",
      status: "ok",
      detail: `/ is ${name}${root?.pool ? " (thin)" : ""}`,
    });
  } catch (error) {
    if (!(error instanceof RootsnapError)) throw error;
    checks.push({ name: "root on LVM", status: "fail", detail: error.message });
  }
  const stack = await detectStack(files, context.fs, mounts);
  checks.push(await initramfsCheck(context, files, root, stack));
  if (stack.initramfs === "mkinitcpio") checks.push(await mkinitcpioCheck(files));
  checks.push(await mergePollingCheck(files, stack));
  checks.push(await spaceCheck(context));
  checks.push(await autoextendCheck(context));
  const boot = mountAt(mounts, "/boot");
  const rootMount = mountAt(mounts, "/");
  checks.push({
    name: "/boot",
    status: "ok",
    detail:
      boot === undefined || boot.device === rootMount?.device
        ? "/boot is inside /: sets include it"
        : `/boot is a separate file system (${boot.source}): each set keeps a copy of it, which revert restores`,
  });
  const origins = new Set(root?.device ? [root.device] : []);
  const ambiguous = ambiguousFstab(
    (await context.fs.readText("/etc/fstab")) ?? "",
    mounts,
    origins,
  );
  checks.push(
    ambiguous.length === 0
      ? {
          name: "fstab",
          status: "ok",
          detail: "no snapshotted file system is mounted by UUID or LABEL",
        }
      : {
          name: "fstab",
          status: "warn",
          detail: `${ambiguous.join("; ")}: a snapshot has the same UUID and LABEL; use /dev/mapper/VG-LV`,
        },
  );
  checks.push(...stackChecks(stack));
  checks.push(...(await setupChecks(context, files, stack)));
  checks.push(await shutdownCheck(context));
  return checks;
}
