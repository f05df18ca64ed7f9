// The rootsnap executable: the one place that touches process.*, wiring the real world
// into main(). `--version` answers before anything else is loaded.
import { fstatSync, realpathSync } from "node:fs";
import { startChildrenApart } from "../system/apart.ts";
import { DEFAULT_LOCK_PATH } from "../system/paths.ts";

/** Aborted by the first signal: a backup or restore stops its programs and cleans up. */
const interrupted = new AbortController();

/** The first failure to write stdout other than a reader that went away. */
let stdoutFailure: Error | undefined;

/**
 * Writes to the stream, whose reader may go away (`rootsnap list | head -1`): the rest of the
 * output is dropped without a word, and the verb still finishes the step it is in. The
 * stream is made at the first write: setting one up costs start-up time.
 */
function writerTo(open: () => NodeJS.WriteStream, onFailure: (error: Error) => void) {
  let stream: NodeJS.WriteStream | undefined;
  let closed = false;
  const fail = (error: Error): void => {
    if (closed) return;
    closed = true;
    if ((error as NodeJS.ErrnoException).code !== "EPIPE") onFailure(error);
  };
  return (text: string): void => {
    if (closed) return;
    if (stream === undefined) {
      stream = open();
      stream.on("error", fail);
    }
    try {
      stream.write(text);
    } catch (error) {
      // A file on stdout is written synchronously: its ENOSPC is thrown here.
      fail(error as Error);
    }
  };
}

const stdout = writerTo(
  () => process.stdout,
  (error) => {
    stdoutFailure = error;
  },
);
const stderr = writerTo(
  () => process.stderr,
  () => undefined,
);

async function runCli(argv: string[]): Promise<number> {
  const [
    { main },
    { run },
    { nodeFileSystem },
    { isRootsnapRunning },
    { nodeBootFiles },
    { isatty },
    { isJournalStream },
  ] = await Promise.all([
    import("./app.ts"),
    import("../system/runner.ts"),
    import("../system/fs.ts"),
    import("../system/processes.ts"),
    import("../system/files.ts"),
    import("./terminal.ts"),
    import("./journal.ts"),
  ]);
  return main(argv, {
    stdout,
    stderr,
    env: process.env,
    geteuid: () => process.geteuid?.() ?? -1,
    stdinIsTTY: isatty(0),
    ask: async (question) => {
      const { createInterface } = await import("node:readline/promises");
      const prompt = createInterface({ input: process.stdin, output: process.stderr });
      // Ctrl-C at the prompt is a "no".
      prompt.on("SIGINT", () => {
        prompt.close();
      });
      try {
        return await prompt.question(question);
      } catch {
        return "";
      } finally {
        prompt.close();
      }
    },
    runner: run,
    fs: nodeFileSystem,
    clock: () => new Date(),
    lockPath: DEFAULT_LOCK_PATH,
    pid: process.pid,
    isRunning: isRootsnapRunning,
    bootFiles: nodeBootFiles,
    // The same Node and file again; a file that cannot be resolved is refused by setup's check.
    program: () => {
      const script = process.argv[1] ?? "";
      try {
        return [process.execPath, realpathSync(script)];
      } catch {
        return [process.execPath, script];
      }
    },
    signal: interrupted.signal,
    // Not process.stdout: that would make a pipe on fd 1 non-blocking for the programs too.
    stdoutFd: 1,
    stdoutIsTTY: isatty(1),
    stdoutColumns: () => process.stdout.columns,
    stderrIsTTY: isatty(2),
    // fstat only when the variable is set: most runs have none.
    stderrIsJournal: isJournalStream(process.env.JOURNAL_STREAM, () => {
      try {
        return fstatSync(2, { bigint: true });
      } catch {
        return undefined;
      }
    }),
  });
}

/**
 * Stopping between two lvm commands would leave half a set: the first signal makes the verb
 * finish or roll back, and later ones never cut that clean-up short (only SIGKILL can).
 */
function finishOnSignals(): void {
  let received = 0;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      received += 1;
      if (received === 1) {
        stderr(`rootsnap: ${signal} received; finishing the current step first\n`);
        // A second Ctrl-C goes to the terminal's whole process group: not to the clean-up's programs.
        startChildrenApart();
        interrupted.abort(signal);
      } else if (received === 2) {
        stderr(
          `rootsnap: ${signal} received again; cleaning up before exiting (what this run mounted or made, and the lock); further signals are ignored\n`,
        );
      }
    });
  }
}

const argv = process.argv.slice(2);
if (argv.length === 1 && argv[0] === "--version") {
  stdout(`rootsnap ${ROOTSNAP_VERSION}\n`);
} else {
  finishOnSignals();
  // No top-level await: the bundle is also loaded as CommonJS.
  void runCli(argv).then((code) => {
    process.exitCode = code;
  });
}

process.on("exit", (code) => {
  if (stdoutFailure === undefined) return;
  stderr(`rootsnap: error: writing to stdout failed: ${stdoutFailure.message}\n`);
  if (code === 0) process.exitCode = 1;
});
