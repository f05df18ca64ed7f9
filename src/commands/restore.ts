// rootsnap restore ARCHIVE --to DIR: a backup extracted with every owner, mode, ACL,
// xattr and capability it holds, into a new file system mounted at DIR.
import { readdir, realpath, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { failedStage, stageMessage } from "../backup/engine.ts";
import { bytesRead, dieWithRootsnap, startPipeline } from "../backup/pipeline.ts";
import type { ProgressListener } from "../backup/progress.ts";
import { isZstdFile, tarExtractArgv, tarHasSelinux, zstdDecompressArgv } from "../backup/tar.ts";
import { requireFile } from "../backup/verify.ts";
import { CancelledError, DataError, OperationError, UsageError } from "../system/errors.ts";
import type { Context } from "../system/context.ts";

/** Device and inode of a directory, as stat gives them. */
export type Identify = (path: string) => Promise<{ readonly dev: number; readonly ino: number }>;

export interface RestoreOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressListener;
  /** stat, unless a test hands in its own. */
  readonly identify?: Identify;
}

export interface RestoreResult {
  readonly archive: string;
  readonly dir: string;
  readonly bytes: number;
  readonly elapsedMs: number;
}

/** Whether dir is the running system's / under any name: a link, or a bind mount of it. */
async function isRoot(dir: string, identify: Identify): Promise<boolean> {
  if ((await realpath(dir)) === "/") return true;
  const [self, root] = await Promise.all([identify(dir), identify("/")]);
  return self.dev === root.dev && self.ino === root.ino;
}

async function target(context: Context, to: string, identify: Identify): Promise<string> {
  const dir = resolve(to);
  const found = await stat(dir).catch(() => undefined);
  if (found === undefined || !found.isDirectory()) {
    throw new DataError(
      `the restore target ${dir} does not exist or is not a directory`,
      "make and mount the new file system there first",
    );
  }
  if (await isRoot(dir, identify)) {
    throw new DataError(
      `refusing to restore over the running system's /${dir === "/" ? "" : ` (${dir} is / itself, mounted or linked there)`}`,
      "restore into a new file system mounted elsewhere, e.g. from a rescue system: mount /dev/VG/LV /mnt && rootsnap restore ARCHIVE --to /mnt",
    );
  }
  const entries = (await readdir(dir)).filter((name) => name !== "lost+found");
  if (entries.length > 0) {
    const question = `${dir} is not empty; files in the archive replace files of the same name there. Restore into it?`;
    if (!(await context.confirm(question))) throw new CancelledError(`restore into ${dir}`);
  }
  return dir;
}

export async function restore(
  context: Context,
  archive: string,
  to: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  if (context.dryRun) throw new UsageError("restore has no --dry-run");
  const path = resolve(archive);
  const total = await requireFile(path, "archive");
  const dir = await target(context, to, options.identify ?? ((path) => stat(path)));
  const selinux = await tarHasSelinux(context.runner);
  const stages = (await isZstdFile(path))
    ? [zstdDecompressArgv(path), tarExtractArgv(dir, selinux)]
    : [tarExtractArgv(dir, selinux, path)];
  const pipeline = startPipeline(stages, {
    prefix: await dieWithRootsnap(context.runner),
    start: context.effects.start,
  });
  pipeline.output?.resume();
  const started = context.clock().getTime();
  let done = 0;
  const reader = pipeline.children[0]?.pid;
  const timer = setInterval(() => {
    void bytesRead(reader).then((read) => {
      done = Math.max(done, read);
      const elapsedMs = context.clock().getTime() - started;
      options.onProgress?.({ verb: "restore", done, total, elapsedMs, fillPercent: null });
    });
  }, 1000);
  const onAbort = (): void => {
    pipeline.kill();
  };
  options.signal?.addEventListener("abort", onAbort);
  try {
    const ends = await pipeline.ended;
    if (options.signal?.aborted === true) {
      throw new OperationError(
        `restore into ${dir} interrupted`,
        "the target holds a partial restore: make the file system anew and restore again",
      );
    }
    const failed = failedStage(ends);
    if (failed !== undefined) {
      throw new OperationError(
        `restoring ${path} failed: ${stageMessage(failed)}`,
        "the target holds a partial restore: check the archive with rootsnap backup --verify ARCHIVE",
      );
    }
    return { archive: path, dir, bytes: total, elapsedMs: context.clock().getTime() - started };
  } finally {
    clearInterval(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}
