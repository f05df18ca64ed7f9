// Size policies for a snapshot's copy-on-write area: fixed (10G), N%ORIGIN, N%FREE of
// the VG, N%USED of the origin's file system (the best guess of how much will change).

export type SizePolicy =
  | { readonly kind: "fixed"; readonly bytes: number; readonly text: string }
  | {
      readonly kind: "percent";
      readonly percent: number;
      readonly of: "ORIGIN" | "FREE" | "USED";
      readonly text: string;
    };

export const SIZE_SYNTAX = "a size like 10G or 512M, or N%ORIGIN, N%FREE or N%USED";

const UNIT_POWERS: Record<string, number> = { "": 0, k: 1, m: 2, g: 3, t: 4, p: 5, e: 6 };

/** The policy `text` describes, or undefined when it describes none. */
export function parseSizePolicy(text: string): SizePolicy | undefined {
  const trimmed = text.trim();
  const fixed = /^(\d+(?:\.\d+)?)([kmgtpe])(?:i?b)?$/i.exec(trimmed);
  if (fixed !== null) {
    const power = UNIT_POWERS[(fixed[2] ?? "").toLowerCase()] ?? 0;
    const bytes = Math.ceil(Number(fixed[1]) * 1024 ** power);
    return bytes > 0 ? { kind: "fixed", bytes, text: trimmed } : undefined;
  }
  const percent = /^(\d+(?:\.\d+)?)%(ORIGIN|FREE|USED)$/i.exec(trimmed);
  if (percent === null) return undefined;
  const value = Number(percent[1]);
  const of = (percent[2] ?? "").toUpperCase() as "ORIGIN" | "FREE" | "USED";
  if (value <= 0 || (of === "FREE" && value > 100)) return undefined;
  return { kind: "percent", percent: value, of, text: trimmed };
}

export interface SizeInputs {
  readonly originBytes: number;
  readonly vgFreeBytes: number;
  readonly extentBytes: number;
  /** Used bytes of the origin's file system; needed only by N%USED. */
  readonly usedBytes?: number;
}

/** Bytes the policy asks for, before rounding to extents. */
export function requestedBytes(policy: SizePolicy, inputs: SizeInputs): number {
  if (policy.kind === "fixed") return policy.bytes;
  const base =
    policy.of === "ORIGIN"
      ? inputs.originBytes
      : policy.of === "FREE"
        ? inputs.vgFreeBytes
        : (inputs.usedBytes ?? 0);
  return (base * policy.percent) / 100;
}

const SNAPSHOT_CHUNK_BYTES = 4096;
const EXCEPTION_BYTES = 16;

/** lvm shrinks a COW area to what can hold every origin chunk plus its metadata. */
export function largestUsefulCowBytes(originBytes: number): number {
  const chunks = Math.ceil(originBytes / SNAPSHOT_CHUNK_BYTES);
  const perMetadataChunk = SNAPSHOT_CHUNK_BYTES / EXCEPTION_BYTES;
  const metadataChunks = Math.ceil(chunks / perMetadataChunk);
  return (1 + metadataChunks + chunks) * SNAPSHOT_CHUNK_BYTES;
}

/** Whole extents for the COW area: at least one, at most what lvm would keep. */
export function cowExtents(policy: SizePolicy, inputs: SizeInputs): number {
  const bytes = Math.min(requestedBytes(policy, inputs), largestUsefulCowBytes(inputs.originBytes));
  return Math.max(1, Math.ceil(bytes / inputs.extentBytes));
}
