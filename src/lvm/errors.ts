// A failed lvm2 command, reported the way an admin can act on it: what ran, how it
// ended, and what lvm said.
import { ExitCode, RootsnapError } from "../system/errors.ts";
import { CommandError, formatArgv } from "../system/runner.ts";

/** Meanings of lvm2's exit codes (tools/errors.h). */
const LVM_EXIT_MEANINGS: Record<number, string> = {
  1: "processing failed",
  2: "processing failed",
  3: "invalid command line",
  4: "processing failed",
  5: "command failed",
};

/** The last lines of lvm's complaint, in one line; lvm puts errors on stderr or in its JSON log. */
function complaint(error: CommandError): string {
  const lines = [...error.stderr.split("\n"), ...jsonLogErrors(error.stdout)]
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("WARNING: Running as a non-root"));
  return lines.slice(-2).join(" / ");
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

export class LvmError extends RootsnapError {
  readonly argv: readonly string[];
  readonly code: number | null;
  readonly stderr: string;

  constructor(error: CommandError) {
    const meaning = error.code === null ? "" : ` (${LVM_EXIT_MEANINGS[error.code] ?? "failed"})`;
    const how = error.notFound
      ? "could not be started: program not found"
      : error.timedOut
        ? "timed out"
        : error.code === null
          ? `was killed by ${error.signal ?? "a signal"}`
          : `failed with exit code ${error.code}${meaning}`;
    const said = complaint(error);
    super(
      error.notFound ? ExitCode.unavailable : ExitCode.failed,
      `Command ${how}: ${formatArgv(error.argv)}${said ? `: ${said}` : ""}`,
      error.notFound ? "install lvm2 (apt-get install lvm2)" : undefined,
      { cause: error },
    );
    this.name = "LvmError";
    this.argv = error.argv;
    this.code = error.code;
    this.stderr = error.stderr;
  }
}
