// Every verb's --json document: its type, snake_case throughout, and the renderer that
// fills it field by field from the verb's result (never by spreading a result, which
// would publish whatever field a result gains). The status document is in render.ts.
import type { Check } from "../commands/doctor.ts";
import type { BackupResult } from "../commands/backup.ts";
import type { BootEntryResult } from "../commands/boot-entry.ts";
import type { BootFinishResult } from "../commands/boot-finish.ts";
import type { HookResult } from "../commands/hook.ts";
import type { ListResult } from "../commands/list.ts";
import type { MountResult } from "../commands/mount.ts";
import type { NextBootResult } from "../commands/next-boot.ts";
import type { RemoveResult } from "../commands/remove.ts";
import type { RepairResult } from "../commands/repair.ts";
import type { RestoreResult } from "../commands/restore.ts";
import type { MergeOutcome, RevertResult } from "../commands/revert.ts";
import type { ShowResult } from "../commands/show.ts";
import type { StatusResult } from "../commands/status.ts";
import type { UmountResult } from "../commands/umount.ts";
import type { WatchEvent, WatchResult } from "../commands/watch.ts";
import type { Manifest, ManifestVolume } from "../backup/manifest.ts";
import type { Compression } from "../backup/tar.ts";
import type { VerifyResult } from "../backup/verify.ts";
import type { FileChange, InstallResult } from "../boot/install.ts";
import type { PackageManager } from "../boot/lifecycle-units.ts";
import type { CreateResult } from "../lifecycle/make.ts";
import type { PruneResult } from "../lifecycle/prune.ts";
import type { MergeState } from "../lifecycle/state.ts";
import type { SetVolume } from "../sets/model.ts";
import type { SetKind } from "../sets/tags.ts";
import type { Commands } from "../system/context.ts";
import { decodeRecord, type BootLoaderRecord } from "../boot/loader.ts";
import { commandLines, isoTime, jsonDocument, localIsoTime, setJson } from "./render.ts";

type Capital =
  | "A"
  | "B"
  | "C"
  | "D"
  | "E"
  | "F"
  | "G"
  | "H"
  | "I"
  | "J"
  | "K"
  | "L"
  | "M"
  | "N"
  | "O"
  | "P"
  | "Q"
  | "R"
  | "S"
  | "T"
  | "U"
  | "V"
  | "W"
  | "X"
  | "Y"
  | "Z";

/**
 * T where every key, all the way down, is snake_case: a key with a capital letter
 * (`elapsedMs`) turns into `never`, so a body that has one is no SnakeCase of itself.
 */
export type SnakeCase<T> = T extends readonly (infer E)[]
  ? readonly SnakeCase<E>[]
  : T extends Date
    ? never
    : T extends object
      ? {
          readonly [K in keyof T]: K extends `${string}${Capital}${string}`
            ? never
            : SnakeCase<T[K]>;
        }
      : T;

/** Shell-quoted command lines, as a dry run prints them. */
type CommandLines = readonly string[];

export interface VolumeDocument {
  readonly origin: string | null;
  readonly snapshot: string;
  readonly used_percent: number | null;
  readonly used_of: SetVolume["usedOf"];
  readonly state: SetVolume["state"];
  readonly merge_failed: boolean;
  readonly thin: boolean;
  readonly size_bytes: number;
  readonly origin_size_bytes: number | null;
  readonly lv_attr: string;
}

export interface SetDocument {
  readonly name: string;
  readonly kind: SetKind;
  /** ISO 8601 without milliseconds. */
  readonly created: string;
  readonly label: string | null;
  readonly missing: number;
  readonly unavailable: number;
  readonly absent_vgs: readonly string[];
  readonly temporary: boolean;
  readonly volumes: readonly VolumeDocument[];
}

export interface ListDocument {
  readonly sets: readonly SetDocument[];
}

export interface BootLoaderDocument {
  readonly firmware: "bios" | "uefi";
  readonly version: string;
  readonly target: string;
  readonly devices: readonly string[];
  readonly efi_directory: string | null;
  readonly bootloader_id: string | null;
  readonly removable: boolean;
  readonly shim: boolean;
  readonly packaged: boolean;
}

function bootLoaderJson(record: BootLoaderRecord | undefined): BootLoaderDocument | null {
  if (record === undefined) return null;
  return {
    firmware: record.firmware,
    version: record.version,
    target: record.target,
    devices: record.devices ?? [],
    efi_directory: record.efiDirectory ?? null,
    bootloader_id: record.bootloaderId ?? null,
    removable: record.removable ?? false,
    shim: record.shim ?? false,
    packaged: record.packaged ?? false,
  };
}

export interface ShowDocument {
  readonly set: SetDocument & {
    /** `created` in the local time of the machine, with its offset. */
    readonly created_local: string;
    /** The boot loader the set was made with; null for a set that records none. */
    readonly boot_loader: BootLoaderDocument | null;
  };
  /** What `rootsnap prune` would do with the set now, and the rule why. */
  readonly retention: {
    readonly keep: boolean;
    readonly reason: string;
  };
}

export interface CreateDocument {
  readonly dry_run: boolean;
  readonly set: {
    readonly name: string;
    readonly kind: SetKind;
    readonly created: string;
    readonly volumes: readonly {
      readonly origin: string;
      readonly snapshot: string;
      readonly thin: boolean;
      readonly size_bytes: number | null;
      readonly size_policy: string | null;
    }[];
  };
  readonly commands: CommandLines;
}

export interface RemoveDocument {
  readonly dry_run: boolean;
  readonly name: string;
  readonly removed: readonly string[];
  readonly commands: CommandLines;
}

export interface RevertDocument {
  readonly dry_run: boolean;
  readonly name: string;
  readonly volumes: readonly {
    readonly origin: string;
    readonly snapshot: string;
    readonly outcome: MergeOutcome;
  }[];
  readonly commands: CommandLines;
}

export interface MergeDocument {
  readonly origin: string;
  readonly snapshot: string;
  readonly state: MergeState;
}

export interface RepairDocument {
  readonly dry_run: boolean;
  readonly merges: readonly MergeDocument[];
  /** Copy-on-write volumes an interrupted merge left, removed (or, dry, to be removed). */
  readonly leftovers: readonly string[];
  /** GRUB core images installed again now that a revert's merge has run. */
  readonly boot_loader_installed: readonly string[];
  readonly warnings: readonly string[];
  readonly commands: CommandLines;
}

export interface StatusDocument {
  readonly sets: readonly SetDocument[];
  readonly volume_groups: readonly {
    readonly name: string;
    readonly size_bytes: number;
    readonly free_bytes: number;
  }[];
  /** Merges waiting for the origin's next activation, or running in the kernel now. */
  readonly merges: readonly MergeDocument[];
  /** Copy-on-write volumes an interrupted merge left: rootsnap repair removes them. */
  readonly leftovers: readonly string[];
  /** Origins whose GRUB core image is installed again once their merge has run. */
  readonly boot_loader_pending: readonly {
    readonly origin: string;
    readonly boot_loader: string;
  }[];
  readonly repair_due: boolean;
  readonly boot_failure: string | null;
  readonly setup_interrupted: string | null;
  readonly invalid: readonly string[];
  readonly warnings: readonly string[];
}

/** mount, umount and prune list a dry run's commands as argv arrays. */
type Argvs = Commands;

export interface MountDocument {
  readonly mount: {
    readonly set: string;
    readonly dir: string;
    readonly volumes: readonly {
      readonly snapshot: string;
      readonly origin: string;
      readonly mount_point: string;
      readonly place: string;
      readonly fs_type: string;
      readonly options: string;
    }[];
  };
  readonly commands?: Argvs;
}

export interface UmountDocument {
  readonly umount: {
    readonly set: string;
    readonly unmounted: readonly string[];
    readonly deactivated: readonly string[];
  };
  readonly commands?: Argvs;
}

export interface ManifestVolumeDocument {
  readonly origin: string;
  readonly snapshot: string;
  readonly mount_point: string;
  readonly fs_type: string;
  readonly used_bytes: number;
}

/** The manifest as written beside the archive. */
export interface ManifestDocument {
  readonly version: number;
  readonly archive: string;
  readonly set: string;
  readonly temporary: boolean;
  readonly created: string;
  readonly finished: string;
  readonly volumes: readonly ManifestVolumeDocument[];
  readonly compression: Compression;
  readonly excludes: readonly string[];
  readonly files: number;
  readonly bytes: number;
  readonly sha256: string;
}

export interface BackupDocument {
  readonly backup: ManifestDocument;
}

export interface VerifyDocument {
  readonly verify: {
    readonly path: string;
    readonly bytes: number;
    readonly sha256: string;
    readonly files: number;
    readonly manifest: ManifestDocument | null;
    readonly ok: true;
  };
}

export interface RestoreDocument {
  readonly restore: {
    readonly archive: string;
    readonly dir: string;
    readonly bytes: number;
    readonly elapsed_ms: number;
  };
}

/** setup and uninstall. */
export interface InstallDocument {
  readonly dry_run: boolean;
  readonly changed: boolean;
  readonly files: readonly { readonly path: string; readonly action: FileAction }[];
  readonly warnings: readonly string[];
  readonly commands: CommandLines;
}

export type FileAction = "create" | "remove" | "update";

export interface NextBootDocument {
  readonly dry_run: boolean;
  readonly next_boot: string | null;
  readonly changed: boolean;
  readonly commands: CommandLines;
}

export interface BootEntryDocument {
  readonly dry_run: boolean;
  /** rootsnap's systemd-boot entry id, or null when none is made. */
  readonly entry: string | null;
  readonly written: string | null;
  readonly removed: readonly string[];
  readonly skipped: string | null;
  readonly commands: CommandLines;
}

export interface DoctorDocument {
  readonly checks: readonly {
    readonly name: string;
    readonly status: Check["status"];
    readonly detail: string;
  }[];
}

export interface BootFinishDocument {
  readonly dry_run: boolean;
  readonly merges_finished: readonly string[];
  readonly leftovers_removed: readonly string[];
  readonly one_shot_cleared: boolean;
  readonly boot_loader_installed: readonly string[];
  readonly boot_copies: readonly string[];
  readonly pruned: readonly string[];
  readonly sets_pruned: readonly string[];
  readonly boot_failure: string | null;
  readonly warnings: readonly string[];
  readonly commands: CommandLines;
}

export interface PruneDocument {
  readonly prune: {
    readonly sets: readonly {
      readonly name: string;
      readonly kind: SetKind;
      readonly created: string;
      readonly keep: boolean;
      readonly reason: string;
    }[];
    /** The snapshots removed; absent in a dry run. */
    readonly removed?: readonly string[];
    /** Only in a dry run: the snapshots a prune would remove. */
    readonly would_remove?: readonly string[];
  };
  readonly commands?: Argvs;
}

export interface WatchDocument {
  readonly watch: {
    readonly events: readonly {
      readonly level: WatchEvent["level"];
      readonly set: string;
      readonly snapshot: string;
      readonly used_percent: number | null;
      readonly action: WatchEvent["action"];
      readonly message: string;
    }[];
    /** The metrics file written, or null when none is configured (or a dry run). */
    readonly metrics: string | null;
    /** The [watchdog] threshold, percent full, at which the pass acted. */
    readonly threshold_percent: number;
  };
}

/** What --json puts on stdout when a run fails, besides the error on stderr. */
export interface ErrorDocument {
  readonly error: {
    /** The exit code of the run. */
    readonly exit: number;
    readonly message: string;
    /** What to do about it, or null. */
    readonly hint: string | null;
  };
}

/** `rootsnap --version --json`. */
export interface VersionDocument {
  readonly rootsnap: string;
}

export interface HookDocument {
  readonly hook: {
    readonly manager: PackageManager;
    readonly set: string | null;
    readonly label: string;
    readonly skipped: string | null;
  };
}

export function listJson(result: ListResult): string {
  return jsonDocument<ListDocument>({ sets: result.sets.map(setJson) });
}

export function showJson(result: ShowResult): string {
  return jsonDocument<ShowDocument>({
    set: {
      ...setJson(result.set),
      created_local: localIsoTime(result.set.created),
      boot_loader: bootLoaderJson(decodeRecord(result.set.bootLoader)),
    },
    retention: { keep: result.retention.keep, reason: result.retention.reason },
  });
}

export function createJson(result: CreateResult): string {
  return jsonDocument<CreateDocument>({
    dry_run: result.dryRun,
    set: {
      name: result.set.name,
      kind: result.set.kind,
      created: isoTime(result.set.created),
      volumes: result.snapshots.map((snapshot) => ({
        origin: snapshot.origin.fullName,
        snapshot: snapshot.snapshot,
        thin: snapshot.thin,
        size_bytes: snapshot.bytes,
        size_policy: snapshot.thin ? null : snapshot.size.text,
      })),
    },
    commands: commandLines(result.commands),
  });
}

export function removeJson(result: RemoveResult): string {
  return jsonDocument<RemoveDocument>({
    dry_run: result.dryRun,
    name: result.set.name,
    removed: result.removed,
    commands: commandLines(result.commands),
  });
}

export function revertJson(result: RevertResult): string {
  return jsonDocument<RevertDocument>({
    dry_run: result.dryRun,
    name: result.set.name,
    volumes: result.volumes.map((volume) => ({
      origin: volume.origin,
      snapshot: volume.snapshot,
      outcome: volume.outcome,
    })),
    commands: commandLines(result.commands),
  });
}

export function statusJson(result: StatusResult): string {
  return jsonDocument<StatusDocument>({
    sets: result.sets.map(setJson),
    volume_groups: result.volumeGroups.map((vg) => ({
      name: vg.name,
      size_bytes: vg.sizeBytes,
      free_bytes: vg.freeBytes,
    })),
    merges: result.merges.map((merge) => ({
      origin: merge.origin,
      snapshot: merge.snapshot,
      state: merge.state,
    })),
    leftovers: result.leftovers,
    boot_loader_pending: result.bootLoaderPending.map((pending) => ({
      origin: pending.origin,
      boot_loader: pending.bootLoader,
    })),
    repair_due: result.repairDue,
    boot_failure: result.bootFailure,
    setup_interrupted: result.setupInterrupted,
    invalid: result.sets.flatMap((set) =>
      set.volumes.filter((volume) => volume.state === "invalid").map((volume) => volume.snapshot),
    ),
    warnings: result.warnings,
  });
}

export function repairJson(result: RepairResult): string {
  return jsonDocument<RepairDocument>({
    dry_run: result.dryRun,
    merges: result.merges.map((merge) => ({
      origin: merge.origin,
      snapshot: merge.snapshot,
      state: merge.state,
    })),
    leftovers: result.leftovers,
    boot_loader_installed: result.bootLoader,
    warnings: result.warnings,
    commands: commandLines(result.commands),
  });
}

export function mountJson(result: MountResult): string {
  return jsonDocument<MountDocument>({
    mount: {
      set: result.set.name,
      dir: result.dir,
      volumes: result.entries.map((entry) => ({
        snapshot: entry.snapshot,
        origin: entry.origin,
        mount_point: entry.target,
        place: entry.place,
        fs_type: entry.fsType,
        options: entry.options.join(","),
      })),
    },
    ...(result.dryRun ? { commands: result.commands } : {}),
  });
}

export function umountJson(result: UmountResult): string {
  return jsonDocument<UmountDocument>({
    umount: { set: result.set.name, unmounted: result.unmounted, deactivated: result.deactivated },
    ...(result.dryRun ? { commands: result.commands } : {}),
  });
}

function manifestVolumeDocument(volume: ManifestVolume): ManifestVolumeDocument {
  return {
    origin: volume.origin,
    snapshot: volume.snapshot,
    mount_point: volume.mount_point,
    fs_type: volume.fs_type,
    used_bytes: volume.used_bytes,
  };
}

function manifestDocument(manifest: Manifest): ManifestDocument {
  return {
    version: manifest.version,
    archive: manifest.archive,
    set: manifest.set,
    temporary: manifest.temporary,
    created: manifest.created,
    finished: manifest.finished,
    // A manifest read from a file is only checked for its checksum, entries and size.
    volumes: (manifest.volumes ?? []).map(manifestVolumeDocument),
    compression: manifest.compression,
    excludes: manifest.excludes,
    files: manifest.files,
    bytes: manifest.bytes,
    sha256: manifest.sha256,
  };
}

export function backupJson(result: BackupResult): string {
  return jsonDocument<BackupDocument>({ backup: manifestDocument(result.manifest) });
}

export function verifyJson(result: VerifyResult): string {
  return jsonDocument<VerifyDocument>({
    verify: {
      path: result.path,
      bytes: result.bytes,
      sha256: result.sha256,
      files: result.files,
      manifest: result.manifest === null ? null : manifestDocument(result.manifest),
      ok: true,
    },
  });
}

export function restoreJson(result: RestoreResult): string {
  return jsonDocument<RestoreDocument>({
    restore: {
      archive: result.archive,
      dir: result.dir,
      bytes: result.bytes,
      elapsed_ms: result.elapsedMs,
    },
  });
}

function fileAction(change: FileChange): FileAction {
  return change.before === undefined ? "create" : change.after === undefined ? "remove" : "update";
}

export function installJson(result: InstallResult): string {
  return jsonDocument<InstallDocument>({
    dry_run: result.dryRun,
    changed: !result.unchanged,
    files: result.changes.map((change) => ({ path: change.path, action: fileAction(change) })),
    warnings: result.warnings,
    commands: commandLines(result.commands),
  });
}

export function nextBootJson(result: NextBootResult): string {
  return jsonDocument<NextBootDocument>({
    dry_run: result.dryRun,
    next_boot: result.entry,
    changed: result.changed,
    commands: commandLines(result.commands),
  });
}

export function bootEntryJson(result: BootEntryResult): string {
  return jsonDocument<BootEntryDocument>({
    dry_run: result.dryRun,
    entry: result.id ?? null,
    written: result.written ?? null,
    removed: result.removed,
    skipped: result.skipped ?? null,
    commands: commandLines(result.commands),
  });
}

export function doctorJson(checks: readonly Check[]): string {
  return jsonDocument<DoctorDocument>({
    checks: checks.map((check) => ({
      name: check.name,
      status: check.status,
      detail: check.detail,
    })),
  });
}

export function bootFinishJson(result: BootFinishResult): string {
  return jsonDocument<BootFinishDocument>({
    dry_run: result.dryRun,
    merges_finished: result.mergesFinished,
    leftovers_removed: result.leftoversRemoved,
    one_shot_cleared: result.oneShotCleared,
    boot_loader_installed: result.bootLoader,
    boot_copies: result.bootCopies,
    pruned: result.pruned,
    sets_pruned: result.setsPruned,
    boot_failure: result.bootFailure,
    warnings: result.warnings,
    commands: commandLines(result.commands),
  });
}

export function pruneJson(result: PruneResult): string {
  return jsonDocument<PruneDocument>({
    prune: {
      sets: result.decisions.map((d) => ({
        name: d.name,
        kind: d.kind,
        created: isoTime(d.created),
        keep: d.keep,
        reason: d.reason,
      })),
      ...(result.dryRun ? { would_remove: result.removed } : { removed: result.removed }),
    },
    ...(result.dryRun ? { commands: result.commands } : {}),
  });
}

export function watchJson(result: WatchResult): string {
  return jsonDocument<WatchDocument>({
    watch: {
      events: result.events.map((e) => ({
        level: e.level,
        set: e.set,
        snapshot: e.snapshot,
        used_percent: e.usedPercent,
        action: e.action,
        message: e.message,
      })),
      metrics: result.metrics ?? null,
      threshold_percent: result.threshold,
    },
  });
}

export function errorJson(exit: number, message: string, hint: string | undefined): string {
  return jsonDocument<ErrorDocument>({ error: { exit, message, hint: hint ?? null } });
}

export function versionJson(version: string): string {
  return jsonDocument<VersionDocument>({ rootsnap: version });
}

export function hookJson(result: HookResult): string {
  return jsonDocument<HookDocument>({
    hook: {
      manager: result.manager,
      set: result.set,
      label: result.label,
      skipped: result.skipped,
    },
  });
}
