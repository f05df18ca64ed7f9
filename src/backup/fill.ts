// How full a set's snapshots are, read every 1 to 5 s during a backup: from the kernel's
// device-mapper status (one small `dmsetup status` per reading, a fraction of what an lvs
// run costs): a thick snapshot's own copy-on-write area, or a thin snapshot's pool.
import type { Lvm } from "../lvm/lvm.ts";
import { dmName } from "../lvm/model.ts";
import type { SnapshotSet, SetVolume } from "../sets/model.ts";
import type { Fill } from "./engine.ts";

export interface DmFill {
  readonly percent: number | null;
  readonly invalid: boolean;
}

const UNKNOWN: DmFill = { percent: null, invalid: false };

function ratio(text: string | undefined): number | null {
  const match = /^(\d+)\/(\d+)$/.exec(text ?? "");
  if (match === null) return null;
  const total = Number(match[2]);
  return total > 0 ? (100 * Number(match[1])) / total : null;
}

/**
 * `dmsetup status` of a snapshot: "0 LEN snapshot USED/TOTAL METADATA" (sectors), read as
 * lvs reads it for snap_percent (nothing used but the metadata is 0 %); "Invalid" once it
 * overflowed ("Overflow" while merging).
 */
export function parseSnapshotStatus(text: string): DmFill {
  const fields = text.trim().split(/\s+/);
  if (fields[2] !== "snapshot") return UNKNOWN;
  const state = fields[3] ?? "";
  if (state === "Invalid" || state === "Overflow") return { percent: 100, invalid: true };
  const onlyMetadata = state.split("/")[0] === fields[4];
  return { percent: onlyMetadata ? 0 : ratio(state), invalid: false };
}

/**
 * `dmsetup status` of a thin pool: "0 LEN thin-pool TRANSACTION USED/TOTAL(metadata)
 * USED/TOTAL(data) MODE ..." (blocks); the data fill is lvs's data_percent of the pool.
 * A pool in "Fail" mode (the kernel prints nothing else) has failed its writes.
 */
export function parseThinPoolStatus(text: string): DmFill {
  const fields = text.trim().split(/\s+/);
  if (fields[2] !== "thin-pool") return UNKNOWN;
  if (fields[3] === "Fail") return { percent: 100, invalid: true };
  const percent = ratio(fields[5]);
  return { percent: fields.includes("out_of_data_space") ? 100 : percent, invalid: false };
}

interface Watched {
  readonly fill: Omit<Fill, "percent" | "invalid">;
  readonly device: string;
  readonly parse: (text: string) => DmFill;
}

function watched(volume: SetVolume): Watched | undefined {
  const lv = volume.snapshotLv;
  if (!volume.thin) {
    const fill = { volume: volume.snapshot, snapshot: volume.snapshot };
    return { fill, device: dmName(lv.vg, lv.name), parse: parseSnapshotStatus };
  }
  if (lv.pool === null) return undefined;
  const fill = { volume: `${lv.vg}/${lv.pool}`, snapshot: volume.snapshot };
  return { fill, device: dmName(lv.vg, lv.pool, "tpool"), parse: parseThinPoolStatus };
}

/**
 * A reader of the set's fill levels, from the set as already read (no lvs of its own):
 * each snapshot, and each thin pool once however many of the set's snapshots it holds.
 */
export function fillReader(lvm: Lvm, set: SnapshotSet): () => Promise<Fill[]> {
  const devices = new Map<string, Watched>();
  for (const volume of set.volumes) {
    const watch = watched(volume);
    if (watch !== undefined && !devices.has(watch.device)) devices.set(watch.device, watch);
  }
  return async () => {
    const fills: Fill[] = [];
    for (const { fill, device, parse } of devices.values()) {
      // --noflush: a thin pool's status would otherwise commit its metadata on every reading.
      const status = await lvm.read(["dmsetup", "status", "--noflush", "--", device]);
      fills.push({ ...fill, ...parse(status) });
    }
    return fills;
  };
}
