// How full a set's snapshots are, read once a second during a backup: from the kernel's
// snapshot status for thick snapshots (a dmsetup call costs a fraction of an lvs run),
// from lvs for thin ones, whose pool is what fills.
import type { Lvm } from "../lvm/lvm.ts";
import { collectSets, findSet, type SetVolume } from "../sets/model.ts";
import type { Fill } from "./engine.ts";

/** `dmsetup status` of a snapshot: "0 LEN snapshot USED/TOTAL META", or "Invalid". */
export function parseSnapshotStatus(text: string): { percent: number | null; invalid: boolean } {
  const fields = text.trim().split(/\s+/);
  const state = fields[3] ?? "";
  if (fields[2] !== "snapshot") return { percent: null, invalid: false };
  if (state === "Invalid" || state === "Overflow") return { percent: 100, invalid: true };
  const match = /^(\d+)\/(\d+)$/.exec(state);
  if (match === null) return { percent: null, invalid: false };
  const total = Number(match[2]);
  return { percent: total > 0 ? (100 * Number(match[1])) / total : null, invalid: false };
}

function fromReport(volume: SetVolume): Fill {
  const lv = volume.snapshotLv;
  return {
    volume: volume.thin && lv.pool !== null ? `${lv.vg}/${lv.pool}` : volume.snapshot,
    snapshot: volume.snapshot,
    percent: volume.usedPercent,
    invalid: volume.state === "invalid",
  };
}

/** A reader of the set's fill levels; the set's volumes are read from LVM once. */
export async function fillReader(lvm: Lvm, name: string): Promise<() => Promise<Fill[]>> {
  const set = findSet(collectSets(await lvm.logicalVolumes()), name);
  const volumes = set?.volumes ?? [];
  const thick = volumes.filter((volume) => !volume.thin && volume.snapshotLv.dmPath !== "");
  const thin = volumes.some((volume) => volume.thin);
  return async () => {
    const fills: Fill[] = [];
    for (const volume of thick) {
      const dmName = volume.snapshotLv.dmPath.replace(/^\/dev\/mapper\//, "");
      const status = parseSnapshotStatus(await lvm.read(["dmsetup", "status", "--", dmName]));
      fills.push({ volume: volume.snapshot, snapshot: volume.snapshot, ...status });
    }
    if (thin) {
      const now = findSet(collectSets(await lvm.logicalVolumes()), name);
      fills.push(...(now?.volumes ?? []).filter((volume) => volume.thin).map(fromReport));
    }
    return fills;
  };
}
