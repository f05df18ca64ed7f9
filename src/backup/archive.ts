// Where an archive goes: a file readable by root only from its first byte (a new file
// under an unpredictable name, renamed when complete), or rootsnap's stdout. Either way
// the pipeline's last stage writes to the descriptor itself.
import { lstat, readdir, rename, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { createNewFile, syncDirectory, writeFileAtomic } from "../system/atomic.ts";
import { NoSpaceError, OperationError } from "../system/errors.ts";

const PRIVATE = 0o600;

export interface ArchiveSink {
  /** The descriptor the pipeline's last stage writes the archive to. */
  readonly fd: number;
  /** A file's size once written; undefined for a stream, whose bytes are counted on the way. */
  size(): Promise<number | undefined>;
  /** Makes a file archive durable and gives it its name. */
  finish(): Promise<void>;
  /** Removes a file archive that did not complete. */
  discard(): Promise<void>;
}

/** `.NAME.partial-PID-`: the pid tells a later run whether the writer is gone. */
function partialPrefix(path: string, pid: number): string {
  return `.${basename(path)}.partial-${pid}-`;
}

/** Partial archives of runs that were killed (their pid is gone), for the same name. */
export async function removeStalePartials(
  path: string,
  isAlive: (pid: number) => boolean,
): Promise<void> {
  const prefix = `.${basename(path)}.partial-`;
  const dir = dirname(path);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = /^(\d+)-[0-9a-f]+$/.exec(name.slice(prefix.length))?.[1];
    if (!name.startsWith(prefix) || pid === undefined || isAlive(Number(pid))) continue;
    // Only rootsnap's own leftovers: a root-owned regular file, never a link or directory.
    const entry = await lstat(join(dir, name)).catch(() => undefined);
    if (entry?.isFile() === true && entry.uid === 0)
      await unlink(join(dir, name)).catch(() => undefined);
  }
}

/** ENOSPC and EDQUOT as the error that says where to make room; others as they are. */
export function writeFailure(path: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT") return noSpaceAt(path);
  const why = error instanceof Error ? error.message : String(error);
  return new OperationError(`writing ${path} failed: ${why}`, undefined, { cause: error });
}

export function noSpaceAt(path: string): NoSpaceError {
  return new NoSpaceError(
    `no space left on the file system of ${dirname(path)}`,
    "free space there or write the archive to a larger disk",
  );
}

class FileSink implements ArchiveSink {
  private closed = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly path: string,
    private readonly partial: string,
  ) {}

  get fd(): number {
    return this.handle.fd;
  }

  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  async finish(): Promise<void> {
    try {
      await this.handle.sync();
      await this.close();
      await rename(this.partial, this.path);
      await syncDirectory(dirname(this.path));
    } catch (error) {
      throw writeFailure(this.path, error);
    }
  }

  async discard(): Promise<void> {
    await this.close().catch(() => undefined);
    await unlink(this.partial).catch(() => undefined);
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

export async function openFileSink(path: string, pid: number): Promise<ArchiveSink> {
  const { path: partial, handle } = await createNewFile(
    dirname(path),
    partialPrefix(path, pid),
    PRIVATE,
  ).catch((error: unknown) => {
    throw writeFailure(path, error);
  });
  return new FileSink(handle, path, partial);
}

/** The archive on a descriptor rootsnap itself does not write to (its stdout). */
export function streamSink(fd: number): ArchiveSink {
  return {
    fd,
    size: () => Promise.resolve(undefined),
    finish: () => Promise.resolve(),
    discard: () => Promise.resolve(),
  };
}

/** Writes a small private file the same way: a new 0600 file, fsynced, then renamed. */
export async function writePrivateFile(path: string, text: string, pid: number): Promise<void> {
  await writeFileAtomic(path, text, PRIVATE, partialPrefix(path, pid)).catch((error: unknown) => {
    throw writeFailure(path, error);
  });
}
