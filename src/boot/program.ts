// The rootsnap program setup makes units, hooks and the boot plan run as root: setup refuses
// one that another user could replace (the file, or any directory on its way from /, symbolic
// links followed), or whose path a unit or hook file cannot carry.
import { lstat, readlink } from "node:fs/promises";
import { join } from "node:path";
import { ExitCode, RootsnapError } from "../system/errors.ts";
import type { PackageManager } from "./lifecycle-units.ts";
import { shellQuote } from "../system/runner.ts";
import { DEFAULT_EXECUTABLE } from "./units.ts";

export interface PathEntry {
  readonly kind: "file" | "directory" | "symlink" | "other";
  readonly uid: number;
  /** Permission bits. */
  readonly mode: number;
}

/** lstat and readlink, behind an interface so tests can stand in for the file system. */
export interface PathInspector {
  /** The entry itself (a link is not followed), or undefined when there is none. */
  entry(path: string): Promise<PathEntry | undefined>;
  readlink(path: string): Promise<string>;
}

export const nodePathInspector: PathInspector = {
  async entry(path) {
    try {
      const stats = await lstat(path);
      const kind = stats.isFile()
        ? "file"
        : stats.isDirectory()
          ? "directory"
          : stats.isSymbolicLink()
            ? "symlink"
            : "other";
      return { kind, uid: stats.uid, mode: stats.mode & 0o7777 };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  },
  readlink: (path) => readlink(path),
};

/** What is wrong with one place on the program's way, as "PATH is ...". */
export interface LocationProblem {
  readonly path: string;
  readonly why: string;
}

function unsafe(entry: PathEntry): string | undefined {
  if (entry.uid !== 0) return `is owned by uid ${entry.uid}, not root`;
  const writable = [entry.mode & 0o020 ? "group" : "", entry.mode & 0o002 ? "others" : ""];
  const by = writable.filter(Boolean).join(" and ");
  return by === "" ? undefined : `is writable by ${by}`;
}

/** Linux's limit on links followed in one path resolution. */
const MAX_LINKS = 40;

/**
 * The problem nearest the program on its way from / (each link resolved, each directory and
 * the file itself checked), or undefined when only root can change what runs.
 */
export async function locationProblem(
  program: string,
  inspector: PathInspector = nodePathInspector,
): Promise<LocationProblem | undefined> {
  if (!program.startsWith("/")) return { path: program, why: "is not an absolute path" };
  const root = await inspector.entry("/");
  const rootWhy = root === undefined ? "does not exist" : unsafe(root);
  let problem: LocationProblem | undefined =
    rootWhy === undefined ? undefined : { path: "/", why: rootWhy };
  let pending = program.split("/").filter(Boolean);
  // Always a path with no links in it, so ".." is its lexical parent.
  let current = "/";
  let links = 0;
  const seen = new Set<string>(["/"]);
  while (pending.length > 0) {
    const [name = "", ...rest] = pending;
    pending = rest;
    if (name === ".") continue;
    if (name === "..") {
      current = join(current, "..");
      continue;
    }
    const path = join(current, name);
    const entry = await inspector.entry(path);
    if (entry === undefined) return { path, why: "does not exist" };
    if (entry.kind === "symlink") {
      // The link's own directory was checked on the way here: only root can change the link.
      links += 1;
      if (links > MAX_LINKS) return { path: program, why: "has too many symbolic links" };
      const target = await inspector.readlink(path);
      if (target.startsWith("/")) current = "/";
      pending = [...target.split("/").filter(Boolean), ...pending];
      continue;
    }
    const last = pending.length === 0;
    if (!last && entry.kind !== "directory") return { path, why: "is not a directory" };
    if (last && entry.kind !== "file") return { path, why: "is not a regular file" };
    const why = unsafe(entry) ?? (last && !(entry.mode & 0o100) ? "is not executable" : undefined);
    // A place passed twice (a link back through it) counts where it was first met.
    if (why !== undefined && !seen.has(path)) problem = { path, why };
    seen.add(path);
    current = path;
  }
  return problem;
}

/**
 * Why the program's path cannot be written into every file setup makes, or undefined.
 * systemd refuses an executable with quotes, backslashes or control characters ("Executable
 * name contains special characters"); dnf5 splits its actions lines at colons.
 */
export function inexpressiblePath(
  program: string,
  managers: readonly PackageManager[],
): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(program)) return "has a control character (a newline, a tab, ...)";
  const quote = /["'\\]/.exec(program)?.[0];
  if (quote !== undefined)
    return `has a ${quote === "\\" ? "backslash" : "quote"}, which systemd refuses in a unit's program`;
  if (managers.includes("dnf") && program.includes(":"))
    return "has a colon, which dnf5's actions file cannot carry";
  return undefined;
}

function hint(program: string, problem: LocationProblem | undefined): string {
  const path = shellQuote(problem?.path ?? program);
  if (problem?.path === program && /^is (owned|writable|not executable)/.test(problem.why))
    return `make it root's alone: chown root ${path} && chmod 0755 ${path}`;
  if (program === DEFAULT_EXECUTABLE && problem !== undefined)
    return `make it root's alone: chown root ${path} && chmod go-w ${path}`;
  return `install it root-owned: install -m 0755 ${shellQuote(program)} ${DEFAULT_EXECUTABLE}, then run ${DEFAULT_EXECUTABLE} setup`;
}

/** Refuses (exit 77) a program the units, hooks and boot plan must not run as root. */
export async function requireTrustedProgram(
  program: string,
  managers: readonly PackageManager[],
  inspector: PathInspector = nodePathInspector,
): Promise<void> {
  const refuse = (what: string, problem?: LocationProblem): RootsnapError =>
    new RootsnapError(
      ExitCode.notRoot,
      `rootsnap will not make root run ${program}: ${what}`,
      hint(program, problem),
    );
  const inexpressible = inexpressiblePath(program, managers);
  if (inexpressible !== undefined) throw refuse(`its path ${inexpressible}`);
  const problem = await locationProblem(program, inspector);
  if (problem === undefined) return;
  const where = problem.path === program ? "it" : problem.path;
  const risk = /^is (owned|writable)/.test(problem.why)
    ? ", so another user could change what runs"
    : "";
  throw refuse(`${where} ${problem.why}${risk}`, problem);
}
