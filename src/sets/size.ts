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

/** Below this a snapshot holds almost nothing; lvm would round it up to a whole extent anyway. */
export const SMALLEST_FIXED_BYTES = 1024 ** 2;
/** lvm goes to 8 EiB, but bytes are counted exactly (a safe integer) only up to 8 PiB. */
export const LARGEST_FIXED_BYTES = 2 ** 53;

/** The policy `text` describes, or why it describes none (empty: not the syntax at all). */
export function readSizePolicy(text: string): SizePolicy | { readonly problem: string } {
  const trimmed = text.trim();
  if (/^-\d/.test(trimmed)) return { problem: "sizes are positive" };
  const fixed = /^(\d+(?:\.\d+)?)([kmgtpe])(?:i?b)?$/i.exec(trimmed);
  if (fixed !== null) {
    const power = UNIT_POWERS[(fixed[2] ?? "").toLowerCase()] ?? 0;
    const bytes = Math.ceil(Number(fixed[1]) * 1024 ** power);
    if (!(bytes >= SMALLEST_FIXED_BYTES)) return { problem: "a fixed size is at least 1M" };
    if (bytes > LARGEST_FIXED_BYTES) return { problem: "a fixed size is at most 8P" };
    return { kind: "fixed", bytes, text: trimmed };
  }
  const percent = /^(\d+(?:\.\d+)?)%(ORIGIN|FREE|USED)$/i.exec(trimmed);
  if (percent === null) return { problem: "" };
  const value = Number(percent[1]);
  const of = (percent[2] ?? "").toUpperCase() as "ORIGIN" | "FREE" | "USED";
  if (!(value > 0)) return { problem: `N%${of} is more than 0` };
  // A snapshot never needs more than its origin, nor gets more than the VG has free; N%USED
  // over 100 leaves room for growth and is capped at what the origin can fill.
  if (of !== "USED" && value > 100) return { problem: `N%${of} is at most 100` };
  if (!Number.isFinite(value)) return { problem: `N%${of} is too large` };
  return { kind: "percent", percent: value, of, text: trimmed };
}

/** The message for a text that is no policy: `what` names it, e.g. `--size "-5G"`. */
export function notASizePolicy(what: string, problem: string): string {
  return `${what} is not a size policy${problem === "" ? "" : `: ${problem}`}`;
}

/** The policy `text` describes, or undefined when it describes none. */
export function parseSizePolicy(text: string): SizePolicy | undefined {
  const policy = readSizePolicy(text);
  return "problem" in policy ? undefined : policy;
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
