// The checksum (and, for a stream, the size) of an archive and the number of its members,
// with no archive byte and no member name passing through rootsnap: the pipeline's last
// stage is `tee`, which writes the archive to its destination and a copy into a FIFO that
// `sha256sum` reads (and one that `wc -c` reads when the destination cannot be measured
// afterwards); tar writes its listing (--index-file) into a FIFO that `wc -l` reads.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OperationError } from "../system/errors.ts";
import { run, type Runner } from "../system/runner.ts";

export interface Tap {
  /** The pipeline's last stage: copies its stdin to its stdout and into the FIFOs. */
  readonly teeArgv: readonly string[];
  /** Where tar writes its listing, one line per member (--index-file). */
  readonly listFifo: string;
  /** FIFOs in the same directory that join the pipeline's stages (PipelineOptions.joins). */
  readonly joins: readonly string[];
  /** The checksum, the number of members (and bytes when counted) once the stages have ended. */
  result(): Promise<{ sha256: string; files: number; bytes: number | undefined }>;
  /** Ends the readers (a tee that never started would leave them waiting for a writer). */
  kill(): void;
  /** Removes the FIFOs' directory. */
  close(): Promise<void>;
}

/**
 * FIFOs in a private directory and their readers. `count` adds a byte count, for a
 * destination (a pipe) whose size cannot be read once the archive is complete; `joins`
 * FIFOs more are made for the stages themselves.
 */
export async function openTap(count: boolean, joins = 0, runner: Runner = run): Promise<Tap> {
  const dir = await mkdtemp(join(tmpdir(), "rootsnap-tap-"));
  const hashFifo = join(dir, "sha256");
  const countFifo = join(dir, "count");
  const listFifo = join(dir, "list");
  const fifos = count ? [hashFifo, countFifo] : [hashFifo];
  const joinFifos = Array.from({ length: joins }, (_, index) => join(dir, `stage-${index + 1}`));
  try {
    await runner(["mkfifo", "-m", "600", "--", listFifo, ...fifos, ...joinFifos]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  // The readers last as long as the pipeline writing into their FIFOs: no time limit.
  const ending = new AbortController();
  const read = (argv: readonly string[]): Promise<string> => {
    const output = runner(argv, { timeoutMs: Infinity, signal: ending.signal }).then(
      (result) => result.stdout,
    );
    output.catch(() => undefined);
    return output;
  };
  const readers = [read(["wc", "-l", "--", listFifo]), read(["sha256sum", "--", hashFifo])];
  if (count) readers.push(read(["wc", "-c", "--", countFifo]));
  const firstNumber = (text: string | undefined): number => Number(text?.trim().split(/\s+/)[0]);
  return {
    teeArgv: ["tee", "--", ...fifos],
    listFifo,
    joins: joinFifos,
    async result() {
      const [listed, hashed, counted] = await Promise.all(readers);
      const sha256 = /^[0-9a-f]{64}\b/.exec(hashed ?? "")?.[0];
      if (sha256 === undefined) throw new OperationError(`sha256sum printed no checksum`);
      return {
        sha256,
        files: firstNumber(listed),
        bytes: counted === undefined ? undefined : firstNumber(counted),
      };
    },
    kill() {
      ending.abort();
    },
    async close() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
