// How a program that failed is described, once for every caller: what ran, how it ended,
// and the last lines it wrote to stderr. Callers add only a hint that fits the program.

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
  if (end.notFound) return "could not be started: program not found";
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
  const complaint = lastLines(said);
  return `${formatArgv(end.argv)} ${howItEnded(end, meaning)}${complaint ? `: ${complaint}` : ""}`;
}

/** What to install when a program is missing. */
export function installHint(program: string | undefined): string {
  return `install the package that provides ${program ?? "it"}`;
}
