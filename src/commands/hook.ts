// rootsnap hook apt|pacman|dnf: run by the package manager before it changes anything.
// Takes one pre-update set per package-manager run, labelled with its command line; any
// failure warns and lets the update go on unless [hooks] on-failure = "refuse".
import { RUN_DIR } from "../system/paths.ts";
import { hookFailurePolicy, loadConfig } from "../config/config.ts";
import { oneLine, RootsnapError } from "../system/errors.ts";
import type { PackageManager } from "../boot/lifecycle-units.ts";
import { LABEL_MAX } from "../sets/tags.ts";
import { makeSet } from "../lifecycle/make.ts";
import type { Context } from "../system/context.ts";

export const MARKER_DIR = RUN_DIR;

export interface HookResult {
  readonly manager: PackageManager;
  /** The set taken, or null when none was. */
  readonly set: string | null;
  readonly label: string;
  readonly skipped: string | null;
}

interface Proc {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly start: string;
}

const NAMES: Record<PackageManager, RegExp> = {
  apt: /^(apt|apt-get|aptitude|unattended-upgr|synaptic|packagekitd)$/,
  pacman: /^(pacman|yay|paru|pamac)$/,
  dnf: /^(dnf|dnf5|yum|packagekitd)$/,
};

async function proc(context: Context, pid: number | "self"): Promise<Proc | undefined> {
  const stat = await context.fs.readText(`/proc/${pid}/stat`);
  // comm sits in parentheses and may itself hold spaces and parentheses.
  const m = stat === undefined ? null : /^(\d+) \((.*)\) \S (\d+)((?: \S+){17}) (\d+)/s.exec(stat);
  if (m === null) return undefined;
  return { pid: Number(m[1]), comm: m[2] ?? "", ppid: Number(m[3]), start: m[5] ?? "" };
}

/** The package manager process that runs this hook: the nearest matching ancestor. */
async function managerProcess(
  context: Context,
  manager: PackageManager,
): Promise<Proc | undefined> {
  let p = await proc(context, "self");
  for (let depth = 0; p !== undefined && p.ppid > 1 && depth < 16; depth += 1) {
    p = await proc(context, p.ppid);
    if (p !== undefined && NAMES[manager].test(p.comm)) return p;
  }
  return undefined;
}

/** Control characters written as escapes (\n, \u001b), and at most LABEL_MAX characters. */
export function printableLabel(text: string): string {
  const escapes: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
  const escaped = text.replace(
    /[\p{Cc}\u2028\u2029]/gu,
    (c) => escapes[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  if (escaped.length <= LABEL_MAX) return escaped;
  // Not between the two halves of a surrogate pair.
  return `${escaped.slice(0, LABEL_MAX - 3).replace(/[\uD800-\uDBFF]$/, "")}...`;
}

async function commandLine(
  context: Context,
  p: Proc | undefined,
  manager: PackageManager,
): Promise<string> {
  const raw = p === undefined ? undefined : await context.fs.readText(`/proc/${p.pid}/cmdline`);
  const [program, ...args] = (raw ?? "").split("\0").filter(Boolean);
  if (program === undefined) return manager;
  return printableLabel([program.replace(/^.*\//, ""), ...args].join(" "));
}

/** Runs fn holding rootsnap's lock; throws when another rootsnap holds it. */
export type WithLock = <T>(fn: () => Promise<T>) => Promise<T>;

export interface HookSteps {
  readonly withLock: WithLock;
  /** Throws when this run may not use lvm (not root). */
  readonly checkRoot: () => void;
}

/** Why no set was taken, as one line: the error and its hint. */
function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return oneLine(String(error));
  const hint = error instanceof RootsnapError && error.hint !== undefined ? ` (${error.hint})` : "";
  return oneLine(`${error.message}${hint}`);
}

/** Never fails the package manager unless on-failure = "refuse": then it fails as create would. */
export async function hook(
  context: Context,
  manager: PackageManager,
  steps: HookSteps,
): Promise<HookResult> {
  let label: string = manager;
  let onFailure: "warn" | "refuse" | undefined;
  const none = (skipped: string): HookResult => ({ manager, set: null, label, skipped });
  try {
    steps.checkRoot();
    const config = await loadConfig(context.fs, context.configPath, context.configNamed);
    onFailure = config.hooks.onFailure;
    const owner = await managerProcess(context, manager);
    label = await commandLine(context, owner, manager);
    if (!config.hooks.packageManager) return none("[hooks] package-manager is false");
    const files = context.bootFiles;
    const marker =
      owner === undefined ? undefined : `${MARKER_DIR}/${manager}-${owner.pid}-${owner.start}`;
    if (marker !== undefined && files !== undefined) {
      if (await files.exists(marker)) return none("a set was already taken for this run");
      await context.effects.makeDirectory(MARKER_DIR);
      await context.effects.writeFile(marker, "", 0o600, null);
    }
    const result = await steps.withLock(() =>
      makeSet(context, {
        name: undefined,
        kind: "pre-update",
        volumes: [],
        size: undefined,
        label,
      }),
    );
    context.output.note(`rootsnap: took set ${result.set.name} before: ${label}`);
    return { manager, set: result.set.name, label, skipped: null };
  } catch (error) {
    // A configuration that does not load says nothing reliable: its own fallback decides.
    onFailure ??= await hookFailurePolicy(context.fs, context.configPath);
    if (onFailure === "refuse") throw error;
    const reason = reasonOf(error);
    context.output.warn(`no pre-update set was taken: ${reason}; the update goes on`);
    return none(reason);
  }
}
