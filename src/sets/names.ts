// Set names and the snapshot LV names made from them, within LVM's naming rules
// (lvm(8) "VALID NAMES").
import { UsageError } from "../system/errors.ts";

export const SET_NAME_MAX = 40;
/** LVM refuses longer LV names (NAME_LEN 128 with the terminating NUL). */
export const LV_NAME_MAX = 127;

/** Substrings LVM reserves for its internal volumes. */
const RESERVED_PARTS = [
  "_cdata",
  "_cmeta",
  "_corig",
  "_cpool",
  "_cvol",
  "_imeta",
  "_iorig",
  "_mimage",
  "_mlog",
  "_pmspare",
  "_rimage",
  "_rmeta",
  "_tdata",
  "_tmeta",
  "_vdata",
  "_vorigin",
  "_wcorig",
];

/** Why `name` cannot name a set, or undefined when it can. */
export function setNameProblem(name: string): string | undefined {
  if (name === "") return "a set name cannot be empty";
  if (name.length > SET_NAME_MAX) {
    return `set name is ${name.length} characters long; at most ${SET_NAME_MAX} are allowed`;
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9_.+-]*$/.test(name)) {
    return `set name ${JSON.stringify(name)} may use only letters, digits and _ . + - (not first)`;
  }
  const reserved = RESERVED_PARTS.find((part) => name.includes(part));
  if (reserved !== undefined) return `set name may not contain "${reserved}" (reserved by LVM)`;
  return undefined;
}

export function validateSetName(name: string): string {
  const problem = setNameProblem(name);
  if (problem !== undefined)
    throw new UsageError(problem, "example: rootsnap create before-upgrade");
  return name;
}

/** The LV name of a set's snapshot of `origin`. */
export function snapshotLvName(origin: string, setName: string): string {
  return `${origin}-${setName}`;
}

function twoDigits(value: number): string {
  return String(value).padStart(2, "0");
}

/**
 * defaultSetName as a `date -u +FORMAT` format, for the boot plan's script, which names
 * its set at boot; a unit test holds the two to the same output.
 */
export function defaultSetNameFormat(kind: string): string {
  return `${kind}-%Y%m%d-%H%M%S`;
}

/** A name for a set created without one: its kind and UTC time, e.g. manual-20240131-235959. */
export function defaultSetName(kind: string, at: Date): string {
  const date = `${at.getUTCFullYear()}${twoDigits(at.getUTCMonth() + 1)}${twoDigits(at.getUTCDate())}`;
  const time = `${twoDigits(at.getUTCHours())}${twoDigits(at.getUTCMinutes())}${twoDigits(at.getUTCSeconds())}`;
  return `${kind}-${date}-${time}`;
}
