// Decodes the 10-character lv_attr string (lvs(8), "lv_attr bits").

export interface LvAttr {
  readonly raw: string;
  /** Character 0: volume type (s snapshot, S merging snapshot, o origin, O merging origin, V thin, t pool). */
  readonly volumeType: string;
  readonly isSnapshot: boolean;
  readonly isMergingSnapshot: boolean;
  readonly isOrigin: boolean;
  readonly isMergingOrigin: boolean;
  readonly isThinVolume: boolean;
  readonly isThinPool: boolean;
  readonly writable: boolean;
  /** Character 4: a active, I invalid snapshot, m merge failed, s suspended, - inactive. */
  readonly state: string;
  readonly active: boolean;
  readonly invalidSnapshot: boolean;
  readonly mergeFailed: boolean;
  readonly suspended: boolean;
  readonly open: boolean;
  readonly targetType: string;
  readonly skipActivation: boolean;
}

export function decodeLvAttr(raw: string): LvAttr {
  const at = (index: number): string => raw.charAt(index) || "-";
  const type = at(0);
  const state = at(4);
  return {
    raw,
    volumeType: type,
    isSnapshot: type === "s" || type === "S",
    isMergingSnapshot: type === "S",
    isOrigin: type === "o" || type === "O",
    isMergingOrigin: type === "O",
    isThinVolume: type === "V",
    isThinPool: type === "t",
    writable: at(1) === "w",
    state,
    // "I"/"S" invalid (suspended), "m"/"M" merge failed: the device still exists, so active.
    active: state === "a" || state === "I" || state === "m",
    invalidSnapshot: state === "I" || state === "S",
    mergeFailed: state === "m" || state === "M",
    suspended: state === "s" || state === "S" || state === "M" || state === "C",
    open: at(5) === "o",
    targetType: at(6),
    skipActivation: at(9) === "k",
  };
}
