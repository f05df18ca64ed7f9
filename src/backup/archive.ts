// Where an archive goes: a file readable by root only from its first byte (a temporary
// name made with O_EXCL, renamed when complete), or a pipe on stdout.
import { createHash, type Hash } from "node:crypto";
import { once } from "node:events";
import { open, readdir, rename, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { NoSpaceError, OperationError } from "../errors.ts";

const PRIVATE = 0o600;

export interface ArchiveSink {
  /** Copies the stream, counting and hashing it; resolves when it has ended. */
  drain(source: Readable): Promise<void>;
  readonly bytes: number;
  readonly sha256: string;
  /** Makes a file archive durable and gives it its name. */
  finish(): Promise<void>;
  /** Removes a file archive that did not complete. */
  discard(): Promise<void>;
}

function partialName(path: string, pid: number): string {
  return join(dirname(path), `.${basename(path)}.partial-${pid}`);
}

/** Partial archives of runs that were killed (their pid is gone), for the same name. */
export async function removeStalePartials(
  path: string,
  isAlive: (pid: number) => boolean,
): Promise<void> {
  const prefix = `.${basename(path)}.partial-`;
  for (const name of await readdir(dirname(path)).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid))
      await unlink(join(dirname(path), name)).catch(() => undefined);
  }
}

function writeFailure(path: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new NoSpaceError(
      `no space left on the file system of ${dirname(path)}`,
      "free space there or write the archive to a larger disk",
    );
  }
  const why = error instanceof Error ? error.message : String(error);
  return new OperationError(`writing ${path} failed: ${why}`, undefined, { cause: error });
}

abstract class HashingSink {
  protected hash: Hash = createHash("sha256");
  bytes = 0;
  private digest: string | undefined;

  get sha256(): string {
    this.digest ??= this.hash.digest("hex");
    return this.digest;
  }

  async drain(source: Readable): Promise<void> {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      this.hash.update(chunk);
      this.bytes += chunk.length;
      await this.write(chunk);
    }
  }

  protected abstract write(chunk: Buffer): Promise<void>;
}

class FileSink extends HashingSink implements ArchiveSink {
  private closed = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly path: string,
    private readonly partial: string,
  ) {
    super();
  }

  protected async write(chunk: Buffer): Promise<void> {
    try {
      let offset = 0;
      while (offset < chunk.length) {
        offset += (await this.handle.write(chunk, offset, chunk.length - offset)).bytesWritten;
      }
    } catch (error) {
      throw writeFailure(this.path, error);
    }
  }

  async finish(): Promise<void> {
    try {
      await this.handle.sync();
      await this.close();
      await rename(this.partial, this.path);
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
  const partial = partialName(path, pid);
  // "wx": O_EXCL, so nobody's file or link is opened; mode 0600 before the first byte.
  const handle = await open(partial, "wx", PRIVATE).catch((error: unknown) => {
    throw writeFailure(path, error);
  });
  await handle.chmod(PRIVATE);
  return new FileSink(handle, path, partial);
}

class StreamSink extends HashingSink implements ArchiveSink {
  private readonly failed: Promise<never>;

  constructor(private readonly out: NodeJS.WritableStream) {
    super();
    // Listening from the start: an EPIPE with no listener would end the process.
    this.failed = new Promise((_, reject) => {
      out.once("error", (error: Error) => {
        reject(
          new OperationError(
            `the reader of the archive went away: ${error.message}`,
            "check the command the archive was piped to",
          ),
        );
      });
    });
    this.failed.catch(() => undefined);
  }

  protected async write(chunk: Buffer): Promise<void> {
    if (this.out.write(chunk)) return;
    await Promise.race([once(this.out as NodeJS.EventEmitter, "drain"), this.failed]);
  }

  finish(): Promise<void> {
    return Promise.resolve();
  }

  discard(): Promise<void> {
    return Promise.resolve();
  }
}

export function streamSink(out: NodeJS.WritableStream): ArchiveSink {
  return new StreamSink(out);
}

/** Writes a small private file the same way: O_EXCL temporary name, 0600, then rename. */
export async function writePrivateFile(path: string, text: string, pid: number): Promise<void> {
  const partial = partialName(path, pid);
  await unlink(partial).catch(() => undefined);
  const handle = await open(partial, "wx", PRIVATE);
  try {
    await handle.chmod(PRIVATE);
    await handle.writeFile(text);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(partial).catch(() => undefined);
    throw writeFailure(path, error);
  }
  await handle.close();
  await rename(partial, path);
}
