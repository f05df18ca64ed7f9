// Which device is mounted where, from /proc/self/mountinfo (proc(5)).
import type { FileSystem } from "../system/fs.ts";

export interface Mount {
  /** "major:minor" of the mounted device. */
  readonly device: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly source: string;
}

export const MOUNTINFO_PATH = "/proc/self/mountinfo";

/** mountinfo escapes space, tab, newline and backslash as octal: "\040". */
function unescapeOctal(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(" ");
    const separator = fields.indexOf("-");
    const device = fields[2];
    const mountPoint = fields[4];
    if (separator < 6 || device === undefined || mountPoint === undefined) continue;
    mounts.push({
      device,
      mountPoint: unescapeOctal(mountPoint),
      fsType: fields[separator + 1] ?? "",
      source: unescapeOctal(fields[separator + 2] ?? ""),
    });
  }
  return mounts;
}

/** The mount at `mountPoint`; the last one wins, as it hides those beneath it. */
export function mountAt(mounts: readonly Mount[], mountPoint: string): Mount | undefined {
  return mounts.filter((mount) => mount.mountPoint === mountPoint).pop();
}

/** Where the device `device` ("major:minor") is mounted, the shortest path first. */
export function mountPointsOf(mounts: readonly Mount[], device: string): string[] {
  return mounts
    .filter((mount) => mount.device === device)
    .map((mount) => mount.mountPoint)
    .sort((a, b) => a.length - b.length);
}

export async function readMounts(context: { readonly fs: FileSystem }): Promise<Mount[]> {
  return parseMountinfo((await context.fs.readText(MOUNTINFO_PATH)) ?? "");
}
