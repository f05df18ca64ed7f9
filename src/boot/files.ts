// Writing the boot configuration: every file replaced atomically (temp file, fsync,
// rename, fsync of the directory), so a power cut leaves the old file or the new one.
import {
  chmod,
  lstat,
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rm,
  rmdir,
  stat,
} from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** The file operations boot integration needs, behind an interface so tests can fake them. */
export interface BootFiles {
  /** The file's bytes, or undefined when it does not exist. */
  read(path: string): Promise<Buffer | undefined>;
  exists(path: string): Promise<boolean>;
  /** Names in a directory, or [] when it does not exist. */
  list(path: string): Promise<string[]>;
  isDirectory(path: string): Promise<boolean>;
  /** Permission bits, or undefined when the file does not exist. */
  mode(path: string): Promise<number | undefined>;
  /** Last modification time in milliseconds, or undefined when the file does not exist. */
  modifiedMs(path: string): Promise<number | undefined>;
  writeAtomic(path: string, data: string | Buffer, mode: number): Promise<void>;
  remove(path: string): Promise<void>;
  /** Removes the directory when it is empty; true when it did. */
  removeEmptyDirectory(path: string): Promise<boolean>;
  makeDirectory(path: string): Promise<void>;
  /** Moves a file within one file system, replacing the target in one step. */
  move(from: string, to: string): Promise<void>;
}

async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

export const nodeBootFiles: BootFiles = {
  async read(path) {
    try {
      return await readFile(path);
    } catch (error) {
      if (errno(error) === "ENOENT") return undefined;
      throw error;
    }
  },
  async exists(path) {
    try {
      await lstat(path);
      return true;
    } catch {
      return false;
    }
  },
  async list(path) {
    try {
      return (await readdir(path)).sort();
    } catch (error) {
      if (errno(error) === "ENOENT" || errno(error) === "ENOTDIR") return [];
      throw error;
    }
  },
  async isDirectory(path) {
    try {
      return (await lstat(path)).isDirectory();
    } catch {
      return false;
    }
  },
  async mode(path) {
    try {
      return (await lstat(path)).mode & 0o7777;
    } catch {
      return undefined;
    }
  },
  async modifiedMs(path) {
    try {
      return (await stat(path)).mtimeMs;
    } catch {
      return undefined;
    }
  },
  async writeAtomic(path, data, mode) {
    const temp = join(dirname(path), `.${basename(path)}.rootsnap-${process.pid}`);
    const handle = await open(temp, "w", mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      // The umask may have narrowed the mode given to open.
      await chmod(temp, mode);
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    await fsyncDirectory(dirname(path));
  },
  async remove(path) {
    await rm(path, { force: true });
    await fsyncDirectory(dirname(path)).catch(() => undefined);
  },
  async removeEmptyDirectory(path) {
    try {
      await rmdir(path);
      return true;
    } catch {
      return false;
    }
  },
  async makeDirectory(path) {
    await mkdir(path, { recursive: true, mode: 0o755 });
  },
  async move(from, to) {
    await rename(from, to);
    await fsyncDirectory(dirname(to));
  },
};
