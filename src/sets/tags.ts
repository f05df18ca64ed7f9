// A set's identity lives in LVM tags on its snapshot LVs, so it survives anything but
// the LVs themselves. Tag characters allowed by LVM: A-Z a-z 0-9 _ + . - / = ! : & #.

export const SET_KINDS = ["boot", "manual", "pre-update", "scheduled"] as const;
export type SetKind = (typeof SET_KINDS)[number];

export const MARKER_TAG = "rootsnap";
const SET_PREFIX = "rootsnap.set=";
const KIND_PREFIX = "rootsnap.kind=";
const CREATED_PREFIX = "rootsnap.created=";
const LABEL_PREFIX = "rootsnap.label=";
const MEMBERS_PREFIX = "rootsnap.members=";
const MEMBER_PREFIX = "rootsnap.member=";
/** lvm(8) VALID NAMES, for a VG and an LV. */
const VOLUME_NAME = /^[A-Za-z0-9+_.-]+\/[A-Za-z0-9+_.-]+$/;
/** Characters of a label, and so of its tag's value. */
export const LABEL_MAX = 200;
const TEMPORARY_PREFIX = "rootsnap.temporary=";
const BOOT_LOADER_PREFIX = "rootsnap.bootloader=";
/** On an origin whose merge brings back another GRUB: install its core image once merged. */
export const REINSTALL_PREFIX = "rootsnap.reinstall-bootloader=";
/** Characters of an encoded boot-loader record (base64url), all allowed in tags. */
const ENCODED = /^[A-Za-z0-9_-]{1,900}$/;

export interface SetIdentity {
  readonly name: string;
  readonly kind: SetKind;
  readonly created: Date;
  /** What the set was taken for, e.g. the package manager's command line. */
  readonly label?: string;
  /** How many snapshots the set was made with; fewer on LVM means a cut-off create. */
  readonly members?: number;
  /**
   * "vg/lv" of every origin the set was made of (older sets lack it): a member
   * in a VG lvm does not report now is out of reach, not missing.
   */
  readonly memberVolumes?: readonly string[];
  /** The run a temporary set (backup with no NAME) belongs to, to be removed once it is gone. */
  readonly temporary?: SetOwner;
  /** The boot loader the set was made with, encoded by src/boot/loader.ts. */
  readonly bootLoader?: string;
}

/** A process, told apart from a later one with its pid: its start time and its boot. */
export interface SetOwner {
  readonly pid: number;
  /** Clock ticks from boot to its start (/proc/PID/stat field 22); "" when unknown. */
  readonly started: string;
  /** /proc/sys/kernel/random/boot_id of its boot; "" when unknown. */
  readonly boot: string;
}

function ownerTag(owner: SetOwner): string {
  return `${TEMPORARY_PREFIX}${owner.pid}:${owner.started}:${owner.boot}`;
}

function readOwner(text: string | undefined): SetOwner | undefined {
  const m = /^([1-9]\d{0,9}):(\d*):([0-9a-f-]*)$/.exec(text ?? "");
  return m === null ? undefined : { pid: Number(m[1]), started: m[2] ?? "", boot: m[3] ?? "" };
}

export function isSetKind(text: string): text is SetKind {
  return (SET_KINDS as readonly string[]).includes(text);
}

/** LVM tags allow few characters: a space becomes "+", anything else outside them "_". */
export function labelTag(label: string): string {
  return label
    .trim()
    .replace(/\s+/g, "+")
    .replace(/[^A-Za-z0-9_+.\-/=!:&#]/g, "_")
    .slice(0, LABEL_MAX);
}

export function setTags(identity: SetIdentity): string[] {
  return [
    MARKER_TAG,
    `${SET_PREFIX}${identity.name}`,
    `${KIND_PREFIX}${identity.kind}`,
    `${CREATED_PREFIX}${Math.floor(identity.created.getTime() / 1000)}`,
    ...(identity.label ? [`${LABEL_PREFIX}${labelTag(identity.label)}`] : []),
    ...(identity.members === undefined ? [] : [`${MEMBERS_PREFIX}${identity.members}`]),
    ...(identity.memberVolumes ?? []).map((volume) => `${MEMBER_PREFIX}${volume}`),
    ...(identity.temporary === undefined ? [] : [ownerTag(identity.temporary)]),
    ...(identity.bootLoader !== undefined && ENCODED.test(identity.bootLoader)
      ? [`${BOOT_LOADER_PREFIX}${identity.bootLoader}`]
      : []),
  ];
}

function valueOf(tags: readonly string[], prefix: string): string | undefined {
  return tags.find((tag) => tag.startsWith(prefix))?.slice(prefix.length);
}

/** The set an LV belongs to, or undefined when its tags name none. */
export function readSetTags(
  tags: readonly string[],
  fallbackCreated: Date | null,
): SetIdentity | undefined {
  const name = valueOf(tags, SET_PREFIX);
  if (name === undefined || name === "") return undefined;
  const kindText = valueOf(tags, KIND_PREFIX) ?? "manual";
  const createdText = valueOf(tags, CREATED_PREFIX);
  const created =
    createdText !== undefined && /^\d+$/.test(createdText)
      ? new Date(Number(createdText) * 1000)
      : (fallbackCreated ?? new Date(0));
  const label = valueOf(tags, LABEL_PREFIX)?.replace(/\+/g, " ");
  const membersText = valueOf(tags, MEMBERS_PREFIX);
  const members =
    membersText !== undefined && /^[1-9]\d{0,3}$/.test(membersText)
      ? Number(membersText)
      : undefined;
  const memberVolumes = tags
    .filter((tag) => tag.startsWith(MEMBER_PREFIX))
    .map((tag) => tag.slice(MEMBER_PREFIX.length))
    .filter((volume) => VOLUME_NAME.test(volume));
  const temporary = readOwner(valueOf(tags, TEMPORARY_PREFIX));
  const bootLoader = valueOf(tags, BOOT_LOADER_PREFIX);
  return {
    name,
    kind: isSetKind(kindText) ? kindText : "manual",
    created,
    ...(label ? { label } : {}),
    ...(members === undefined ? {} : { members }),
    ...(memberVolumes.length === 0 ? {} : { memberVolumes }),
    ...(temporary === undefined ? {} : { temporary }),
    ...(bootLoader !== undefined && ENCODED.test(bootLoader) ? { bootLoader } : {}),
  };
}

/** The encoded record of a pending boot-loader install on an origin LV, or undefined. */
export function reinstallTagOf(tags: readonly string[]): string | undefined {
  const value = valueOf(tags, REINSTALL_PREFIX);
  return value !== undefined && ENCODED.test(value) ? value : undefined;
}
