// A failed lvm2 command, reported the way an admin can act on it: what ran, how it
// ended, and what lvm said.
import { ExitCode, RootsnapError } from "../system/errors.ts";
import { basename } from "node:path";
import { describeFailure, installHint } from "../system/failure.ts";
import type { CommandError } from "../system/runner.ts";

/** Meanings of lvm2's exit codes (tools/errors.h). */
const LVM_EXIT_MEANINGS: Record<number, string> = {
  1: "processing failed",
  2: "processing failed",
  3: "invalid command line",
  4: "processing failed",
  5: "command failed",
};

/** lvm2's programs: for them, and only them, a missing program means lvm2 is missing. */
const LVM2_PROGRAMS = new Set([
  "lvm",
  "lvs",
  "vgs",
  "pvs",
  "lvcreate",
  "lvremove",
  "lvchange",
  "lvconvert",
  "lvextend",
  "lvresize",
  "lvrename",
  "vgchange",
  "vgcreate",
  "dmsetup",
]);

export function isLvm2Program(program: string | undefined): boolean {
  return LVM2_PROGRAMS.has(basename(program ?? ""));
}

/** What lvm complained: stderr, or the JSON log of its report; its non-root warning left out. */
function complaint(error: CommandError): string[] {
  const json = isLvm2Program(error.argv[0]) ? jsonLogErrors(error.stdout) : [];
  return [...error.stderr.split("\n"), ...json].filter(
    (line) => !line.trim().startsWith("WARNING: Running as a non-root"),
  );
}

/** Error messages from the top-level "log" array that lvm2 2.03.26+ adds to JSON reports. */
export function jsonLogErrors(stdout: string): string[] {
  if (!stdout.includes('"log"')) return [];
  try {
    const parsed = JSON.parse(stdout) as { log?: unknown };
    if (!Array.isArray(parsed.log)) return [];
    return parsed.log
      .filter(
        (entry): entry is Record<string, unknown> => typeof entry === "object" && entry !== null,
      )
      .filter((entry) => entry.log_type === "error" && typeof entry.log_message === "string")
      .map((entry) => String(entry.log_message));
  } catch {
    return [];
  }
}

/** A failed command run by the lvm adapter (lvm2's programs, and the mounts of a set). */
export class LvmError extends RootsnapError {
  readonly argv: readonly string[];
  readonly code: number | null;
  readonly stderr: string;

  constructor(error: CommandError) {
    const lvm2 = isLvm2Program(error.argv[0]);
    const meaning = lvm2 ? (code: number) => LVM_EXIT_MEANINGS[code] ?? "failed" : undefined;
    super(
      error.notFound ? ExitCode.unavailable : ExitCode.failed,
      describeFailure(error, complaint(error), meaning),
      error.notFound ? installHint(error.argv[0]) : undefined,
      { cause: error },
    );
    this.name = "LvmError";
    this.argv = error.argv;
    this.code = error.code;
    this.stderr = error.stderr;
  }
}
