// The program setup makes units, hooks and the boot plan run as root (Node and rootsnap's
// script): setup refuses one that another user could replace (either file, or any directory
// on its way from /, symbolic links followed), or whose path a unit or hook file cannot carry.
import { lstat, readlink } from "node:fs/promises";
import { join } from "node:path";
import { ExitCode, RootsnapError } from "../system/errors.ts";
import type { PackageManager } from "./lifecycle-units.ts";
import { shellQuote } from "../system/runner.ts";
import { DEFAULT_EXECUTABLE, DEFAULT_NODE, LOCAL_EXECUTABLE } from "../system/paths.ts";

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
 * the file itself checked), or undefined when only root can change what runs. A script Node
 * reads (`executable` false) need not be executable.
 */
export async function locationProblem(
  program: string,
  inspector: PathInspector = nodePathInspector,
  executable = true,
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
    const why =
      unsafe(entry) ??
      (last && executable && !(entry.mode & 0o100) ? "is not executable" : undefined);
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

/** How to put it right; `runner` says the word is the Node that runs rootsnap's script. */
function hint(word: string, runner: boolean, problem: LocationProblem | undefined): string {
  const path = shellQuote(problem?.path ?? word);
  if (problem?.path === word && /^is (owned|writable|not executable)/.test(problem.why))
    return `make it root's alone: chown root ${path} && chmod 0755 ${path}`;
  if ((word === DEFAULT_EXECUTABLE || word === DEFAULT_NODE) && problem !== undefined)
    return `make it root's alone: chown root ${path} && chmod go-w ${path}`;
  if (runner)
    return `run setup with a Node only root can change (apt-get install nodejs): ${DEFAULT_NODE} ${DEFAULT_EXECUTABLE} setup`;
  return `install it root-owned: install -m 0755 ${shellQuote(word)} ${LOCAL_EXECUTABLE}, then run ${LOCAL_EXECUTABLE} setup`;
}

/**
 * Refuses (exit 77) a program the units, hooks and boot plan must not run as root: `program`
 * is their argv prefix, the Node and rootsnap's script (or one executable file).
 */
export async function requireTrustedProgram(
  program: readonly string[],
  managers: readonly PackageManager[],
  inspector: PathInspector = nodePathInspector,
): Promise<void> {
  if (program.length === 0)
    throw new RootsnapError(
      ExitCode.notRoot,
      "rootsnap does not know the program that runs it",
      `run setup by path: ${DEFAULT_NODE} ${DEFAULT_EXECUTABLE} setup`,
    );
  for (const [index, word] of program.entries()) {
    const runner = index === 0 && program.length > 1;
    const refuse = (what: string, problem?: LocationProblem): RootsnapError =>
      new RootsnapError(
        ExitCode.notRoot,
        `rootsnap will not make root run ${runner ? `its Node ${word}` : word}: ${what}`,
        hint(word, runner, problem),
      );
    const inexpressible = inexpressiblePath(word, managers);
    if (inexpressible !== undefined) throw refuse(`its path ${inexpressible}`);
    // Only the first word is exec'd; Node reads the script.
    const problem = await locationProblem(word, inspector, index === 0);
    if (problem === undefined) continue;
    const where = problem.path === word ? "it" : problem.path;
    const risk = /^is (owned|writable)/.test(problem.why)
      ? ", so another user could change what runs"
      : "";
    throw refuse(`${where} ${problem.why}${risk}`, problem);
  }
}
