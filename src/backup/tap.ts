// The checksum (and, for a stream, the size) of an archive while it is written, with no
// archive byte passing through rootsnap: the pipeline's last stage is `tee`, which writes
// the archive to its destination and a copy into a FIFO that `sha256sum` reads (and one
// that `wc -c` reads when the destination cannot be measured afterwards).
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OperationError } from "../errors.ts";
import { run, start, type Runner } from "../lvm/runner.ts";

export interface Tap {
  /** The pipeline's last stage: copies its stdin to its stdout and into the FIFOs. */
  readonly teeArgv: readonly string[];
  /** The checksum (and byte count when counted) once the tee has ended. */
  result(): Promise<{ sha256: string; bytes: number | undefined }>;
  /** Ends the readers (a tee that never started would leave them waiting for a writer). */
  kill(): void;
  /** Removes the FIFOs' directory. */
  close(): Promise<void>;
}

interface Reader {
  readonly child: ChildProcess;
  readonly output: Promise<string>;
}

function read(argv: readonly string[]): Reader {
  const child = start(argv, { stdout: "pipe", output: "pipe" });
  const output = new Promise<string>((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout?.setEncoding("utf8").on("data", (text: string) => (out += text));
    child.stderr?.setEncoding("utf8").on("data", (text: string) => (err += text));
    child.on("error", (error) => {
      reject(new OperationError(`${argv[0] ?? "?"} could not be started: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      if (code === 0) resolve(out);
      else
        reject(
          new OperationError(
            `${argv.join(" ")} ${code === null ? `was killed by ${signal ?? "a signal"}` : `exited ${code}`}${err.trim() ? `: ${err.trim()}` : ""}`,
          ),
        );
    });
  });
  output.catch(() => undefined);
  return { child, output };
}

/**
 * FIFOs in a private directory and their readers. `count` adds a byte count, for a
 * destination (a pipe) whose size cannot be read once the archive is complete.
 */
export async function openTap(count: boolean, runner: Runner = run): Promise<Tap> {
  const dir = await mkdtemp(join(tmpdir(), "rootsnap-tap-"));
  const hashFifo = join(dir, "sha256");
  const countFifo = join(dir, "count");
  const fifos = count ? [hashFifo, countFifo] : [hashFifo];
  try {
    await runner(["mkfifo", "-m", "600", "--", ...fifos]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const readers = [read(["sha256sum", "--", hashFifo])];
  if (count) readers.push(read(["wc", "-c", "--", countFifo]));
  return {
    teeArgv: ["tee", "--", ...fifos],
    async result() {
      const [hashed, counted] = await Promise.all(readers.map((reader) => reader.output));
      const sha256 = /^[0-9a-f]{64}\b/.exec(hashed ?? "")?.[0];
      if (sha256 === undefined) throw new OperationError(`sha256sum printed no checksum`);
      return {
        sha256,
        bytes: counted === undefined ? undefined : Number(counted.trim().split(/\s+/)[0]),
      };
    },
    kill() {
      for (const { child } of readers) {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      }
    },
    async close() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
