// How a program that failed is described, once for every caller: what ran, how it ended,
// and the last lines it wrote to stderr. Callers add only a hint that fits the program.
import { existsSync } from "node:fs";

/** How a program ended when it did not succeed. */
export interface ProgramEnd {
  readonly argv: readonly string[];
  readonly code: number | null;
  readonly signal: string | null;
  /** It could not be started (ENOENT: not installed). */
  readonly notFound: boolean;
  /** It ran past its time limit, this many milliseconds, and was ended. */
  readonly timedOutAfterMs?: number;
  /** rootsnap's own AbortSignal ended it (a Ctrl-C, a stop). */
  readonly cancelled?: boolean;
}

function fileExists(path: string): boolean {
  return existsSync(path);
}

/** Lines of stderr a failure quotes. */
const QUOTED_LINES = 2;

/** Quotes one word for display the way a POSIX shell would read it back. */
export function shellQuote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_./=:,+@%^-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function formatArgv(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}

/** 100 ms: "0.1", 120000 ms: "120". */
function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

/** "failed with exit code 3", "was killed by SIGTERM", "timed out after 5 s", ... */
export function howItEnded(
  end: ProgramEnd,
  meaning?: (code: number) => string | undefined,
): string {
  if (end.notFound) return "not found";
  if (end.cancelled === true) return "was cancelled";
  if (end.timedOutAfterMs !== undefined) return `timed out after ${seconds(end.timedOutAfterMs)} s`;
  if (end.code === null) return `was killed by ${end.signal ?? "a signal"}`;
  const why = meaning?.(end.code);
  return `failed with exit code ${end.code}${why === undefined ? "" : ` (${why})`}`;
}

/** The last non-empty lines of a program's complaint, joined on one line. */
export function lastLines(lines: readonly string[], count = QUOTED_LINES): string {
  return lines
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .slice(-count)
    .join(" / ");
}

/**
 * One description of a failed program: `ARGV HOW[: LAST STDERR LINES]`, e.g.
 * `sh -c 'exit 3' failed with exit code 3: no such file`.
 */
export function describeFailure(
  end: ProgramEnd,
  said: readonly string[] = [],
  meaning?: (code: number) => string | undefined,
): string {
  // A program that is not there: its name says it all; -v shows the command line before.
  if (end.notFound) return `${end.argv[0] ?? "a program"} not found`;
  const complaint = lastLines(said);
  return `${formatArgv(end.argv)} ${howItEnded(end, meaning)}${complaint ? `: ${complaint}` : ""}`;
}

type Manager = "apt-get" | "dnf" | "pacman";

/** The package of each program rootsnap runs, where a distribution names it otherwise. */
const PACKAGES: readonly [RegExp, string, Partial<Record<Manager, string>>][] = [
  [/^(lv|vg|pv)[a-z]+$|^lvm$/, "lvm2", {}],
  [/^dmsetup$/, "dmsetup", { dnf: "device-mapper", pacman: "device-mapper" }],
  [/^(thin|cache)_[a-z_]+$/, "thin-provisioning-tools", { dnf: "device-mapper-persistent-data" }],
  [/^tar$/, "tar", {}],
  [/^zstd$/, "zstd", {}],
  [/^grub-[a-z-]+$/, "grub2-common", { pacman: "grub" }],
  [/^grub2-[a-z-]+$/, "grub2-tools", {}],
  [/^update-initramfs$/, "initramfs-tools", {}],
  [/^(dracut|lsinitrd)$/, "dracut", {}],
  [/^systemd-[a-z-]+$|^systemctl$|^journalctl$/, "systemd", {}],
  [/^(mount|umount|flock|findmnt|lsblk)$/, "util-linux", { "apt-get": "mount" }],
  [/^(sha256sum|sync|tee|wc|rm|mkdir|uname)$/, "coreutils", {}],
  [/^(xfs_[a-z]+)$/, "xfsprogs", {}],
  [/^(e2fsck|tune2fs|resize2fs)$/, "e2fsprogs", {}],
];

const INSTALL: Record<Manager, string> = {
  "apt-get": "apt-get install",
  dnf: "dnf install",
  pacman: "pacman -S",
};

/** The package manager of this system, from where each one lives. */
function managerHere(exists: (path: string) => boolean): Manager | undefined {
  for (const manager of ["apt-get", "dnf", "pacman"] as const)
    if (exists(`/usr/bin/${manager}`)) return manager;
  return undefined;
}

/**
 * What to install when a program is missing: `apt-get install lvm2`, with the package
 * manager of this system and the package's name there.
 */
export function installHint(
  program: string | undefined,
  exists: (path: string) => boolean = fileExists,
): string {
  const name = (program ?? "").split("/").pop() ?? "";
  const known = PACKAGES.find(([pattern]) => pattern.test(name));
  if (known === undefined) return `install the package that provides ${name || "it"}`;
  const [, pkg, names] = known;
  const manager = managerHere(exists);
  if (manager === undefined) return `install ${pkg}`;
  return `${INSTALL[manager]} ${names[manager] ?? pkg}`;
}
