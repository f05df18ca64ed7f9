// rootsnap backup [NAME] --to FILE|-: a tar archive of a set mounted read-only; with no
// NAME, of a temporary set that is removed again whatever happens.
import { stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import {
  noSpaceAt,
  openFileSink,
  removeStalePartials,
  streamSink,
  writePrivateFile,
  type ArchiveSink,
} from "../backup/archive.ts";
import {
  cancelReason,
  failedStage,
  judgeFill,
  runArchive,
  stageMessage,
  type ArchiveOutcome,
  type Fill,
} from "../backup/engine.ts";
import type { StageEnd } from "../backup/pipeline.ts";
import { fillReader } from "../backup/fill.ts";
import { manifestPath, manifestText, type Manifest } from "../backup/manifest.ts";
import {
  defaultMountDir,
  mountTree,
  planMounts,
  refuseMounted,
  treeMembers,
  unmountSet,
  type MountEntry,
} from "../backup/mount.ts";
import type { ProgressListener } from "../backup/progress.ts";
import {
  DEFAULT_EXCLUDES,
  swapFileExcludes,
  tarCreateArgv,
  tarHasSelinux,
  zstdCompressArgv,
  type Compression,
} from "../backup/tar.ts";
import {
  DataError,
  ExitCode,
  NoSpaceError,
  OperationError,
  RootsnapError,
  UsageError,
} from "../system/errors.ts";
import type { Lvm } from "../lvm/lvm.ts";
import { collectSets, type SnapshotSet } from "../sets/model.ts";
import { defaultSetName } from "../sets/names.ts";
import type { SizePolicy } from "../sets/size.ts";
import { makeSet } from "../lifecycle/make.ts";
import type { Context } from "../system/context.ts";
import { lvmOf } from "../lvm/lvm.ts";
import { readMounts } from "../config/mounts.ts";
import { readSet, requireComplete } from "../sets/model.ts";
import { dropSet } from "../sets/apply.ts";
import { currentOwner, removeLeftovers } from "../lifecycle/temporary.ts";

export interface BackupOptions {
  readonly name: string | undefined;
  readonly to: string;
  readonly excludes: readonly string[];
  readonly compress: Compression;
  /** For the temporary set: its volumes and size policy, as create takes them. */
  readonly volumes: readonly string[];
  readonly size: SizePolicy | undefined;
  readonly signal?: AbortSignal;
  /** The descriptor `--to -` writes to (1), and whether that is a terminal. */
  readonly stdout?: number;
  readonly stdoutIsTTY?: boolean;
  readonly onProgress?: ProgressListener;
  readonly pid: number;
  readonly isAlive: (pid: number) => boolean;
}

export interface BackupResult {
  readonly manifest: Manifest;
  /** The archive file, or null when it went to stdout. */
  readonly path: string | null;
  readonly elapsedMs: number;
}

type Destination = { kind: "stream" } | { kind: "file"; path: string; dir: string; device: string };

/** "major:minor" of a st_dev, as mountinfo and lvs print it (glibc's dev_t layout). */
export function deviceName(dev: number): string {
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  return `${major}:${minor}`;
}

async function destination(options: BackupOptions): Promise<Destination> {
  if (options.to === "-") {
    if (options.stdoutIsTTY === true || options.stdout === undefined) {
      throw new UsageError(
        "refusing to write an archive to a terminal",
        "redirect or pipe it: rootsnap backup --to - | ssh HOST 'cat > system.tar.zst'",
      );
    }
    return { kind: "stream" };
  }
  const path = resolve(options.to);
  const dir = dirname(path);
  const found = await stat(dir).catch(() => undefined);
  if (found === undefined || !found.isDirectory()) {
    throw new DataError(
      `the destination directory ${dir} does not exist`,
      `create it (mkdir -p ${dir}) or name another file with --to`,
    );
  }
  const existing = await stat(path).catch(() => undefined);
  if (existing?.isDirectory() === true) {
    throw new UsageError(
      `--to ${options.to} is a directory`,
      `name the archive file, e.g. --to ${path}/system.tar.zst`,
    );
  }
  return { kind: "file", path, dir, device: deviceName(found.dev) };
}

/** A destination on a volume being archived fills that volume's snapshot with the archive. */
function refuseInsideTree(set: SnapshotSet, dest: Destination, mountDir: string): void {
  if (dest.kind !== "file") return;
  const volume = set.volumes.find((v) => v.originLv?.device === dest.device);
  if (volume !== undefined || dest.path.startsWith(`${mountDir}/`)) {
    throw new DataError(
      `the destination ${dest.dir} is inside the backed-up tree (${volume?.origin ?? mountDir}): the archive would fill the snapshot it is made from`,
      "write it to another disk, or stream it with --to - | ssh HOST 'cat > FILE'",
    );
  }
}

async function requirePrograms(context: Context, compress: Compression): Promise<void> {
  const programs = compress === "zstd" ? ["tar", "zstd"] : ["tar"];
  // Both at once: under emulation each start of a program costs a tenth of a second or more.
  const missing = await Promise.all(
    programs.map((program) =>
      context.runner([program, "--version"]).then(
        () => undefined,
        () => program,
      ),
    ),
  );
  const program = missing.find((name) => name !== undefined);
  if (program === undefined) return;
  const hint =
    program === "zstd" ? "apt-get install zstd, or use --compress none" : "apt-get install tar";
  throw new RootsnapError(ExitCode.unavailable, `${program} is not installed`, hint);
}

/** Escapes tar's wildcard characters so a path excludes only itself. */
function literal(path: string): string {
  return path.replace(/[*?[\\]/g, "\\$&");
}

async function excludesFor(
  context: Context,
  options: BackupOptions,
  dest: Destination,
): Promise<string[]> {
  const swaps = swapFileExcludes((await context.fs.readText("/proc/swaps")) ?? "");
  const self = dest.kind === "file" ? [literal(`.${dest.path}`)] : [];
  return [...DEFAULT_EXCLUDES, ...swaps, ...self, ...options.excludes];
}

function roomHint(fill: Fill, name: string, temporary: boolean): string {
  return temporary
    ? `give the temporary snapshot more room: rootsnap backup --size 50%ORIGIN --to ... (or a fixed size such as --size 4G)`
    : `give it more room (lvextend -L +1G ${fill.volume}), or create the set with a larger --size, then run rootsnap backup ${name} again`;
}

interface Run {
  readonly context: Context;
  readonly options: BackupOptions;
  readonly lvm: Lvm;
  readonly set: SnapshotSet;
  readonly temporary: boolean;
  readonly dest: Destination;
}

async function archive(run: Run, entries: readonly MountEntry[], dir: string, sink: ArchiveSink) {
  const { context, options, lvm, set } = run;
  let total = 0;
  for (const entry of entries) total += (await context.fs.usage(entry.target)).usedBytes;
  const tarArgs = {
    root: dir,
    members: treeMembers(entries),
    excludes: await excludesFor(context, options, run.dest),
    selinux: await tarHasSelinux(context.runner),
  };
  const readFill = fillReader(lvm, set);
  const outcome = await runArchive({
    tar: (indexFile) => tarCreateArgv({ ...tarArgs, indexFile }),
    ...(options.compress === "zstd" ? { compressor: zstdCompressArgv() } : {}),
    sink,
    total,
    signal: options.signal,
    onProgress: options.onProgress,
    readFill,
    warn: (message) => {
      context.output.warn(message);
    },
    clock: () => context.clock().getTime(),
    programs: context.effects,
  });
  let stop = outcome.stop;
  const failed = failedStage(outcome.ends);
  // A Ctrl-C reaches tar and the checksum's readers too: whatever ended first, it was that.
  if (options.signal?.aborted === true && (stop !== undefined || failed !== undefined))
    stop = { kind: "cancelled", reason: cancelReason(options.signal) };
  if (stop === undefined && failed !== undefined) {
    // A snapshot that became invalid makes tar fail; say that, not tar's symptom.
    const verdict = judgeFill(await readFill().catch(() => []), new Set());
    if (!Array.isArray(verdict) && verdict.kind === "invalid") stop = verdict;
  }
  if (stop?.kind === "cancelled") {
    throw new OperationError(`backup of set ${set.name} interrupted (${stop.reason})`);
  }
  if (stop?.kind === "checksum") {
    const why = stop.error instanceof Error ? stop.error.message : String(stop.error);
    throw new OperationError(`the archive's checksum could not be computed: ${why}`);
  }
  if (stop?.kind === "full") {
    throw new NoSpaceError(
      `${stop.fill.volume} reached ${stop.fill.percent?.toFixed(0)}% full during the backup of set ${set.name}; stopped before the snapshot became invalid`,
      roomHint(stop.fill, set.name, run.temporary),
    );
  }
  if (stop?.kind === "invalid") {
    throw new OperationError(
      `snapshot ${stop.fill.snapshot} filled up and became invalid during the backup of set ${set.name}`,
      roomHint(stop.fill, set.name, run.temporary),
    );
  }
  if (failed !== undefined) throw writeStageFailure(run, failed);
  const tarEnd = outcome.ends[0];
  if (tarEnd?.code === 1) {
    context.output.warn(`tar reported files that changed while read: ${tarEnd.stderr}`);
  }
  return outcome;
}

/** The error of a failed stage; the tee's write errors are the destination's. */
function writeStageFailure(run: Run, failed: StageEnd): Error {
  if (failed.argv[0] === "tee") {
    if (
      run.dest.kind === "file" &&
      /No space left on device|Disk quota exceeded/.test(failed.stderr)
    )
      return noSpaceAt(run.dest.path);
    if (
      run.dest.kind === "stream" &&
      (failed.signal === "SIGPIPE" || /Broken pipe/.test(failed.stderr))
    )
      return new OperationError(
        "the reader of the archive went away",
        "check the command the archive was piped to",
      );
  }
  return new OperationError(`archiving set ${run.set.name} failed: ${stageMessage(failed)}`);
}

function manifestOf(run: Run, entries: readonly MountEntry[], outcome: ArchiveOutcome) {
  const used = new Map<string, number>();
  return {
    entries,
    build: async (): Promise<Manifest> => {
      for (const entry of entries)
        used.set(entry.snapshot, (await run.context.fs.usage(entry.target)).usedBytes);
      return {
        version: 1,
        archive: run.dest.kind === "file" ? run.dest.path : "-",
        set: run.set.name,
        temporary: run.temporary,
        created: run.set.created.toISOString(),
        finished: run.context.clock().toISOString(),
        volumes: entries.map((entry) => ({
          origin: entry.origin,
          snapshot: entry.snapshot,
          mount_point: entry.place,
          fs_type: entry.fsType,
          used_bytes: used.get(entry.snapshot) ?? 0,
        })),
        compression: run.options.compress,
        excludes: [...DEFAULT_EXCLUDES, ...run.options.excludes],
        files: outcome.files,
        bytes: outcome.bytes,
        sha256: outcome.sha256,
      };
    },
  };
}

/** Mounts, archives, and always unmounts; the caller removes a temporary set. */
async function backupSet(run: Run): Promise<{ manifest: Manifest; elapsedMs: number }> {
  const { context, options, lvm, set, dest } = run;
  const dir = defaultMountDir(set.name);
  const mounts = await readMounts(context);
  refuseMounted(set, mounts);
  refuseInsideTree(set, dest, dir);
  const entries = planMounts(set, mounts, dir);
  if (options.signal?.aborted === true) throw new OperationError("backup interrupted");
  await mountTree(lvm, dir, entries);
  let sink: ArchiveSink | undefined;
  let finished = false;
  try {
    if (dest.kind === "file") {
      await removeStalePartials(dest.path, options.isAlive);
      sink = await openFileSink(dest.path, options.pid);
    } else if (options.stdout !== undefined) {
      sink = streamSink(options.stdout);
    } else throw new UsageError("--to - needs a standard output");
    const outcome = await archive(run, entries, dir, sink);
    const manifest = await manifestOf(run, entries, outcome).build();
    // The archive takes its name only once complete; its manifest follows it.
    if (dest.kind === "file") {
      await sink.finish();
      await writePrivateFile(manifestPath(dest.path), manifestText(manifest), options.pid);
    }
    finished = true;
    return { manifest, elapsedMs: outcome.elapsedMs };
  } finally {
    if (!finished) await sink?.discard();
    await cleanUp(context, () => unmountAfter(lvm, context, set), `rootsnap umount ${set.name}`);
  }
}

async function unmountAfter(lvm: Lvm, context: Context, before: SnapshotSet): Promise<void> {
  // A thin snapshot's device exists only since it was activated: read the set again then.
  const known = before.volumes.every(
    (volume) => !volume.snapshotLv.skipActivation && volume.snapshotLv.device !== null,
  );
  const [set, mounts] = await Promise.all([
    known ? before : readSet(lvm, before.name),
    readMounts(context),
  ]);
  await unmountSet(lvm, set, mounts);
}

/** Runs a clean-up step; a failure is told with the command that finishes the job. */
async function cleanUp(context: Context, step: () => Promise<unknown>, fix: string): Promise<void> {
  try {
    await step();
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    context.output.warn(`clean-up failed: ${why}; finish it with: ${fix}`);
  }
}

/** A set tagged with this run, after those of runs that are gone are cleared away. */
async function temporarySet(context: Context, lvm: Lvm, options: BackupOptions): Promise<string> {
  await removeLeftovers(context, lvm, collectSets(await lvm.logicalVolumes()));
  const name = defaultSetName("backup", context.clock());
  const temporary = await currentOwner(context.fs, options.pid);
  const { volumes, size } = options;
  await makeSet(context, { name, kind: "manual", volumes, size, temporary });
  return name;
}

export async function backup(context: Context, options: BackupOptions): Promise<BackupResult> {
  if (context.dryRun) {
    throw new UsageError("backup has no --dry-run", "rootsnap mount NAME shows what it archives");
  }
  if (options.name !== undefined && (options.volumes.length > 0 || options.size !== undefined)) {
    throw new UsageError("--volume and --size shape the temporary set: give them without NAME");
  }
  const dest = await destination(options);
  await requirePrograms(context, options.compress);
  const lvm = lvmOf(context);
  const temporary = options.name === undefined;
  if (options.signal?.aborted === true) throw new OperationError("backup interrupted");
  const name = options.name ?? (await temporarySet(context, lvm, options));
  try {
    const set = await readSet(lvm, name);
    requireComplete(set, "an archive of the rest would not be the whole system");
    const { manifest, elapsedMs } = await backupSet({
      context,
      options,
      lvm,
      set,
      temporary,
      dest,
    });
    return { manifest, path: dest.kind === "file" ? dest.path : null, elapsedMs };
  } finally {
    // Removal of a temporary set is part of the command the user asked for: no question.
    if (temporary)
      await cleanUp(
        context,
        async () => dropSet(lvmOf(context), await readSet(lvmOf(context), name)),
        `rootsnap remove ${name} --yes`,
      );
  }
}
