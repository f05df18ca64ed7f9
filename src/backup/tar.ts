// The GNU tar command lines for a full-fidelity system archive and its restore.
import { open } from "node:fs/promises";
import type { Runner } from "../system/runner.ts";

/**
 * Trees that the running system fills at boot or that hold nothing worth keeping; the
 * directories themselves stay, so a restored system has its mount points.
 */
export const DEFAULT_EXCLUDES: readonly string[] = [
  "./proc/*",
  "./sys/*",
  "./dev/*",
  "./run/*",
  "./tmp/*",
  "./mnt/*",
  "./media/*",
  "./var/cache/apt/archives/*.deb",
  "lost+found",
];

export type Compression = "zstd" | "none";

export function isCompression(text: string): text is Compression {
  return text === "zstd" || text === "none";
}

/** Options that keep everything a system needs: owners, modes, ACLs, xattrs, capabilities. */
function fidelity(selinux: boolean): string[] {
  return [
    "--xattrs",
    "--xattrs-include=*",
    "--acls",
    ...(selinux ? ["--selinux"] : []),
    "--numeric-owner",
  ];
}

export interface CreateArgs {
  readonly root: string;
  readonly members: readonly string[];
  readonly excludes: readonly string[];
  readonly selinux: boolean;
  /** Where the listing goes, one line per member; without it, stderr. */
  readonly indexFile?: string;
}

/** tar writing the archive to stdout and its member list (-v) to the index file. */
export function tarCreateArgv(args: CreateArgs): string[] {
  return [
    "tar",
    "--create",
    "--file=-",
    "--verbose",
    ...(args.indexFile === undefined ? [] : [`--index-file=${args.indexFile}`]),
    `--directory=${args.root}`,
    ...fidelity(args.selinux),
    "--one-file-system",
    "--sparse",
    ...args.excludes.map((pattern) => `--exclude=${pattern}`),
    "--",
    ...args.members,
  ];
}

export function zstdCompressArgv(): string[] {
  return ["zstd", "-T0", "-q", "-c"];
}

/** tar extracting `file` ("-": stdin) into `dir` with everything the archive kept. */
export function tarExtractArgv(dir: string, selinux: boolean, file = "-"): string[] {
  return [
    "tar",
    "--extract",
    `--file=${file}`,
    `--directory=${dir}`,
    ...fidelity(selinux),
    "--preserve-permissions",
    "--same-owner",
  ];
}

export function tarListArgv(): string[] {
  return ["tar", "--list", "--file=-"];
}

export function zstdDecompressArgv(file?: string): string[] {
  return ["zstd", "-d", "-q", "-c", ...(file === undefined ? [] : ["--", file])];
}

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** Whether the file starts with a zstd frame. */
export async function isZstdFile(path: string): Promise<boolean> {
  const handle = await open(path, "r");
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return bytesRead === 4 && head.equals(ZSTD_MAGIC);
  } finally {
    await handle.close();
  }
}

/** Whether this tar was built with SELinux support (Debian's is). */
export async function tarHasSelinux(runner: Runner): Promise<boolean> {
  try {
    return (await runner(["tar", "--help"])).stdout.includes("--selinux");
  } catch {
    return false;
  }
}

/** Patterns that exclude swap files listed in /proc/swaps from the archive. */
export function swapFileExcludes(procSwaps: string): string[] {
  return procSwaps
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[1] === "file" && fields[0]?.startsWith("/"))
    .map((fields) => `.${(fields[0] ?? "").replace(/\\040/g, " ")}`);
}
