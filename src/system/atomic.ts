// Files written safely as root, also in directories other users may write to: a new file
// under an unpredictable name (O_CREAT|O_EXCL|O_NOFOLLOW, so nobody's file or link is
// opened), its mode set on the descriptor before the first byte, fsynced, renamed over the
// target, then the directory fsynced: a power cut leaves the old file or the new one.
import { constants } from "node:fs";
import { open, rename, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const READ_NO_LINK = constants.O_RDONLY | constants.O_NOFOLLOW;

/** Names tried before giving up: a clash of 48 random bits means someone plants names. */
const ATTEMPTS = 16;

export interface NewFile {
  readonly path: string;
  readonly handle: FileHandle;
}

/** The errno name of a failed file operation ("ENOENT", ...), if it has one. */
export function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** A new empty file `dir/PREFIXrandom`, with `mode` exactly (whatever the umask) from the start. */
export async function createNewFile(dir: string, prefix: string, mode: number): Promise<NewFile> {
  // Loaded here: node:crypto costs every start-up, and most runs write no file.
  const { randomBytes } = await import("node:crypto");
  for (let attempt = 1; ; attempt += 1) {
    const path = join(dir, `${prefix}${randomBytes(6).toString("hex")}`);
    let handle: FileHandle;
    try {
      handle = await open(path, CREATE_NEW, mode & 0o777);
    } catch (error) {
      if (errnoOf(error) === "EEXIST" && attempt < ATTEMPTS) continue;
      throw error;
    }
    try {
      // The umask may have narrowed the mode given to open; fchmod, not chmod by name.
      await handle.chmod(mode);
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      throw error;
    }
    return { path, handle };
  }
}

/** fsync of a directory, so a rename or unlink in it survives a power cut. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync of a file another program wrote, without following a link at its name. */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, READ_NO_LINK);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Renames a complete file over `to`: the file's data first on disk, the rename after it. */
export async function moveDurably(from: string, to: string): Promise<void> {
  await syncFile(from);
  await rename(from, to);
  await syncDirectory(dirname(to));
}

/** Sets the permission bits of a file or directory without following a link at its name. */
export async function restrictMode(path: string, mode: number): Promise<void> {
  const handle = await open(path, READ_NO_LINK);
  try {
    const stats = await handle.stat();
    if ((stats.mode & 0o7777) !== mode) await handle.chmod(mode);
  } finally {
    await handle.close();
  }
}

/** Replaces `path` with `data` in one step; the temporary name starts with `prefix`. */
export async function writeFileAtomic(
  path: string,
  data: string | Buffer,
  mode: number,
  prefix = `.${basename(path)}.rootsnap-`,
): Promise<void> {
  const { path: temp, handle } = await createNewFile(dirname(path), prefix, mode);
  let closed = false;
  try {
    await handle.writeFile(data);
    await handle.sync();
    closed = true;
    await handle.close();
    await rename(temp, path);
  } catch (error) {
    if (!closed) await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(path));
}
