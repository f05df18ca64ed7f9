// The manifest beside a file archive: what was archived from where, and the archive's
// checksum, so a later --verify can tell a damaged archive from a good one.
import { readFile } from "node:fs/promises";
import { DataError } from "../system/errors.ts";
import type { Compression } from "./tar.ts";

export const MANIFEST_VERSION = 1;

export interface ManifestVolume {
  readonly origin: string;
  readonly snapshot: string;
  readonly mount_point: string;
  readonly fs_type: string;
  readonly used_bytes: number;
}

export interface Manifest {
  readonly version: number;
  readonly archive: string;
  readonly set: string;
  /** The set was made for this backup and removed after it. */
  readonly temporary: boolean;
  /** When the set was taken: the moment the archive shows. */
  readonly created: string;
  readonly finished: string;
  readonly volumes: readonly ManifestVolume[];
  readonly compression: Compression;
  readonly excludes: readonly string[];
  /** Archive members (files, directories, links, devices). */
  readonly files: number;
  /** Size of the archive file. */
  readonly bytes: number;
  readonly sha256: string;
}

export function manifestPath(archive: string): string {
  return `${archive}.manifest.json`;
}

export function manifestText(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

export function parseManifest(text: string, path: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DataError(`${path} is not JSON: ${(error as Error).message}`);
  }
  const m = value as Partial<Manifest> | null;
  if (
    m === null ||
    typeof m !== "object" ||
    typeof m.sha256 !== "string" ||
    !/^[0-9a-f]{64}$/.test(m.sha256) ||
    typeof m.files !== "number" ||
    typeof m.bytes !== "number"
  ) {
    throw new DataError(`${path} is not a rootsnap manifest (sha256, files, bytes)`);
  }
  return m as Manifest;
}

/** The manifest beside `archive`, or undefined when there is none. */
export async function readManifest(archive: string): Promise<Manifest | undefined> {
  const path = manifestPath(archive);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  return parseManifest(text, path);
}
