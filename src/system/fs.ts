// The file-system reads rootsnap needs, behind an interface so tests can hand in files.
import { readdir, readFile, statfs } from "node:fs/promises";

export interface FileSystemUsage {
  /** Bytes in use by files, as df counts them (total minus free). */
  readonly usedBytes: number;
}

export interface FileSystem {
  /** The file's text, or undefined when it does not exist. */
  readText(path: string): Promise<string | undefined>;
  usage(mountPoint: string): Promise<FileSystemUsage>;
  /** The names in a directory, or [] when it does not exist. */
  list(path: string): Promise<string[]>;
}

export const nodeFileSystem: FileSystem = {
  async readText(path) {
    try {
      return await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  },
  async usage(mountPoint) {
    const stats = await statfs(mountPoint);
    return { usedBytes: (stats.blocks - stats.bfree) * stats.bsize };
  },
  async list(path) {
    try {
      return await readdir(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
  },
};
