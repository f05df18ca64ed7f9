// A set's identity lives in LVM tags on its snapshot LVs, so it survives anything but
// the LVs themselves. Tag characters allowed by LVM: A-Z a-z 0-9 _ + . - / = ! : & #.

export const SET_KINDS = ["boot", "manual", "pre-update", "scheduled"] as const;
export type SetKind = (typeof SET_KINDS)[number];

export const MARKER_TAG = "rootsnap";
const SET_PREFIX = "rootsnap.set=";
const KIND_PREFIX = "rootsnap.kind=";
const CREATED_PREFIX = "rootsnap.created=";

export interface SetIdentity {
  readonly name: string;
  readonly kind: SetKind;
  readonly created: Date;
}

export function isSetKind(text: string): text is SetKind {
  return (SET_KINDS as readonly string[]).includes(text);
}

export function setTags(identity: SetIdentity): string[] {
  return [
    MARKER_TAG,
    `${SET_PREFIX}${identity.name}`,
    `${KIND_PREFIX}${identity.kind}`,
    `${CREATED_PREFIX}${Math.floor(identity.created.getTime() / 1000)}`,
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
  return { name, kind: isSetKind(kindText) ? kindText : "manual", created };
}
