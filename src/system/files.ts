// Writing the boot configuration: every file replaced atomically (./atomic.ts), so a
// power cut leaves the old file or the new one.
import { lstat, mkdir, readFile, readdir, rm, rmdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  createNewFile,
  errnoOf as errno,
  moveDurably,
  restrictMode,
  syncDirectory,
  writeFileAtomic,
} from "./atomic.ts";

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
  /** mkdir -p with each new directory 0700; the directories it made, outermost first. */
  makeMountPoint(path: string): Promise<string[]>;
  /**
   * Makes the directory 0700 (its parents 0755) and narrows the files in it to 0600, so
   * what an older run left readable is private again.
   */
  makePrivateDirectory(path: string): Promise<void>;
  /** A new empty 0600 file `dir/PREFIXrandom` for a program to write into; its path. */
  createPrivateFile(dir: string, prefix: string): Promise<string>;
  /** Moves a file within one file system, replacing the target in one step. */
  move(from: string, to: string): Promise<void>;
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
    await writeFileAtomic(path, data, mode);
  },
  async remove(path) {
    await rm(path, { force: true });
    await syncDirectory(dirname(path)).catch(() => undefined);
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
  async makeMountPoint(path) {
    const missing: string[] = [];
    for (let p = path; !(await nodeBootFiles.exists(p)); p = dirname(p)) missing.unshift(p);
    const made: string[] = [];
    for (const dir of missing) {
      await mkdir(dir, { mode: 0o700 });
      made.push(dir);
    }
    return made;
  },
  async makePrivateDirectory(path) {
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    // Whoever may write the parent could swap the private directory for one of their own.
    const parent = await lstat(dirname(path));
    if (parent.isDirectory() && (parent.mode & 0o022) !== 0)
      await restrictMode(dirname(path), parent.mode & 0o7755);
    await mkdir(path, { mode: 0o700 }).catch((error: unknown) => {
      if (errno(error) !== "EEXIST") throw error;
    });
    await restrictMode(path, 0o700);
    for (const name of await readdir(path)) {
      const entry = await lstat(join(path, name));
      if (entry.isFile() && (entry.mode & 0o077) !== 0) {
        await restrictMode(join(path, name), entry.mode & 0o700);
      }
    }
  },
  async createPrivateFile(dir, prefix) {
    const { path, handle } = await createNewFile(dir, prefix, 0o600);
    await handle.close();
    return path;
  },
  async move(from, to) {
    await moveDurably(from, to);
  },
};
