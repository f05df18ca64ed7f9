// Making a set: plan the whole set, check every VG's space, then make it all or nothing;
// then the copy of /boot a set that holds / needs, and the kind's retention policy.
import { loadConfig, type Config } from "../config/config.ts";
import { mountAt, mountPointsOf, type Mount } from "../config/mounts.ts";
import { ConfigError, DataError } from "../system/errors.ts";
import type { LogicalVolume } from "../lvm/model.ts";
import type { Lvm } from "../lvm/lvm.ts";
import { keepBootCopy } from "../boot/bootcopy.ts";
import { detectBootLoader, encodeRecord } from "../boot/loader.ts";
import { executeCreate } from "../sets/apply.ts";
import { defaultSetName, validateSetName } from "../sets/names.ts";
import {
  planCreate,
  type PlanInputs,
  type PlannedSnapshot,
  type VolumeRequest,
} from "../sets/plan.ts";
import type { SizePolicy } from "../sets/size.ts";
import type { SetIdentity, SetKind, SetOwner } from "../sets/tags.ts";
import type { Commands, Context } from "../system/context.ts";
import { lvmOf } from "../lvm/lvm.ts";
import { readMounts } from "../config/mounts.ts";
import { pruneWith } from "./prune.ts";

export interface CreateOptions {
  readonly name: string | undefined;
  readonly kind: SetKind;
  /** "vg/lv" of each origin; empty means the configured volumes, or the root LV. */
  readonly volumes: readonly string[];
  /** Overrides every configured policy. */
  readonly size: SizePolicy | undefined;
  /** What the set is taken for (a package manager's command line). */
  readonly label?: string;
  /** The run a temporary set belongs to (backup with no NAME). */
  readonly temporary?: SetOwner;
}

export interface CreateResult {
  readonly set: SetIdentity;
  readonly snapshots: readonly PlannedSnapshot[];
  readonly commands: Commands;
  readonly dryRun: boolean;
}

/** The LV mounted at /, found by device number so /dev/dm-N and symlinks match too. */
export function rootVolume(lvs: readonly LogicalVolume[], mounts: readonly Mount[]): string {
  const root = mountAt(mounts, "/");
  const lv =
    root === undefined ? undefined : lvs.find((candidate) => candidate.device === root.device);
  if (lv === undefined) {
    throw new ConfigError(
      `/ is not on an LVM logical volume (${root?.source ?? "no mount found"})`,
      "name the volumes with --volume VG/LV or in /etc/rootsnap/rootsnap.toml",
    );
  }
  return lv.fullName;
}

function requestsFor(options: CreateOptions, config: Config, root: () => string): VolumeRequest[] {
  const policyOf = (volume: string): SizePolicy =>
    options.size ?? config.volumes.find((entry) => entry.lv === volume)?.size ?? config.defaultSize;
  if (options.volumes.length > 0) {
    return options.volumes.map((volume) => ({ volume, size: policyOf(volume) }));
  }
  if (config.volumes.length > 0) {
    return config.volumes.map((entry) => ({ volume: entry.lv, size: policyOf(entry.lv) }));
  }
  const volume = root();
  return [{ volume, size: policyOf(volume) }];
}

/** Used bytes of each origin whose policy is N%USED, from its mounted file system. */
async function measureUsed(
  context: Context,
  requests: readonly VolumeRequest[],
  lvs: readonly LogicalVolume[],
  mounts: readonly Mount[],
): Promise<Map<string, number>> {
  const used = new Map<string, number>();
  for (const request of requests) {
    if (request.size.kind !== "percent" || request.size.of !== "USED") continue;
    const lv = lvs.find(
      (candidate) => candidate.fullName === request.volume.replace(/^\/dev\//, ""),
    );
    const mountPoint = lv?.device == null ? undefined : mountPointsOf(mounts, lv.device)[0];
    if (lv === undefined || mountPoint === undefined) {
      throw new DataError(
        `${request.size.text} needs ${request.volume} mounted, to measure its used space`,
        "use a fixed size or N%ORIGIN for it",
      );
    }
    used.set(lv.fullName, (await context.fs.usage(mountPoint)).usedBytes);
  }
  return used;
}

/** The paths an LV is known by: /dev/VG/LV, /dev/mapper/VG-LV, /dev/dm-MINOR. */
function namesOf(lv: LogicalVolume): string[] {
  const minor = lv.device?.split(":")[1];
  return [lv.path, lv.dmPath, ...(minor === undefined ? [] : [`/dev/dm-${minor}`])].filter(
    (name) => name !== "",
  );
}

/**
 * Swap is never a member of a set: its contents mean nothing after a reboot, and merging
 * a snapshot back into swap in use would corrupt the pages of running programs.
 */
async function refuseSwap(
  context: Context,
  requests: readonly VolumeRequest[],
  lvs: readonly LogicalVolume[],
): Promise<void> {
  const swaps = ((await context.fs.readText("/proc/swaps")) ?? "")
    .split("\n")
    .slice(1)
    .map((line) => line.split(/\s+/)[0] ?? "");
  const fstab = ((await context.fs.readText("/etc/fstab")) ?? "")
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[2] === "swap" && !(fields[0] ?? "#").startsWith("#"))
    .map((fields) => fields[0] ?? "");
  const known = new Set([...swaps, ...fstab].filter((name) => name !== ""));
  for (const request of requests) {
    const lv = lvs.find(
      (candidate) => candidate.fullName === request.volume.replace(/^\/dev\//, ""),
    );
    if (lv === undefined || !namesOf(lv).some((name) => known.has(name))) continue;
    throw new DataError(
      `${lv.fullName} is swap space, which a set never holds`,
      "leave it out of --volume and of [[volumes]] in rootsnap.toml",
    );
  }
}

/** The kind's retention policy runs after each create; its failure never undoes the set. */
async function pruneAfter(context: Context, lvm: Lvm, kind: SetKind, name: string): Promise<void> {
  try {
    await pruneWith(context, lvm, { kinds: [kind], ask: false, protect: [name] });
  } catch (error) {
    context.output.warn(
      `set ${name} was made, but pruning old ${kind} sets failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/**
 * What planning the set `options` describe needs, read from lvm and the system now; create
 * plans with it, and so does the boot plan (src/lifecycle/boot-plan.ts).
 */
export async function planInputs(
  context: Context,
  lvm: Lvm,
  options: CreateOptions,
): Promise<Omit<PlanInputs, "set">> {
  const config = await loadConfig(context.fs, context.configPath, context.configNamed);
  const [lvs, vgs, mounts] = await Promise.all([
    lvm.logicalVolumes(),
    lvm.volumeGroups(),
    readMounts(context),
  ]);
  const requests = requestsFor(options, config, () => rootVolume(lvs, mounts));
  await refuseSwap(context, requests, lvs);
  const usedBytes = await measureUsed(context, requests, lvs, mounts);
  return { requests, lvs, vgs, usedBytes };
}

/** The boot loader installed now, as a set records it; undefined without a GRUB to name. */
export async function bootLoaderNow(context: Context): Promise<string | undefined> {
  if (context.bootFiles === undefined) return undefined;
  const record = await detectBootLoader(
    context.bootFiles,
    context.runner,
    await readMounts(context),
  );
  return record === undefined ? undefined : encodeRecord(record);
}

export async function makeSet(context: Context, options: CreateOptions): Promise<CreateResult> {
  const created = context.clock();
  const name = validateSetName(options.name ?? defaultSetName(options.kind, created));
  const lvm = lvmOf(context);
  const bootLoader = options.temporary === undefined ? await bootLoaderNow(context) : undefined;
  const set = {
    name,
    kind: options.kind,
    created,
    ...(options.label ? { label: options.label } : {}),
    ...(options.temporary ? { temporary: options.temporary } : {}),
    ...(bootLoader === undefined ? {} : { bootLoader }),
  };
  const plan = planCreate({ set, ...(await planInputs(context, lvm, options)) });
  await executeCreate(lvm, plan);
  const origins = plan.snapshots.map((snapshot) => snapshot.origin.device);
  await keepBootCopy(context, name, origins);
  if (!lvm.dryRun) await pruneAfter(context, lvm, options.kind, name);
  return { set, snapshots: plan.snapshots, commands: lvm.effects.changes, dryRun: lvm.dryRun };
}
