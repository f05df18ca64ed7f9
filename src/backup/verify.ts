// backup --verify: the archive's checksum against its manifest, and a full read by tar.
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { Starter } from "../system/effects.ts";
import { DataError } from "../system/errors.ts";
import { failedStage, stageMessage } from "./engine.ts";
import { feedFile } from "./feed.ts";
import { readManifest, type Manifest } from "./manifest.ts";
import { startPipeline } from "./pipeline.ts";
import type { ProgressListener } from "./progress.ts";
import { isZstdFile, tarListArgv, zstdDecompressArgv } from "./tar.ts";

export interface VerifyResult {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly files: number;
  /** null when there is no manifest to compare with. */
  readonly manifest: Manifest | null;
}

export async function requireFile(path: string, what: string): Promise<number> {
  const found = await stat(path).catch(() => undefined);
  if (found === undefined || !found.isFile()) {
    throw new DataError(`${what} ${path} does not exist or is not a file`, "check the path");
  }
  return found.size;
}

async function countLines(output: NodeJS.ReadableStream): Promise<number> {
  let lines = 0;
  for await (const chunk of output as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines += 1;
  }
  return lines;
}

export async function verifyArchive(
  archive: string,
  /** start: the run's Effects.start, so that -v shows the stages. */
  options: { clock: () => number; onProgress?: ProgressListener; start?: Starter },
): Promise<VerifyResult> {
  const path = resolve(archive);
  const total = await requireFile(path, "archive");
  const manifest = (await readManifest(path)) ?? null;
  const stages = (await isZstdFile(path)) ? [zstdDecompressArgv(), tarListArgv()] : [tarListArgv()];
  const pipeline = startPipeline(stages, { stdin: "pipe", start: options.start });
  const { input, output } = pipeline;
  if (input === null || output === null) throw new Error("verify: the pipeline has no ends");
  const started = options.clock();
  let last = started;
  const [fed, files, ends] = await Promise.all([
    feedFile(path, input, (done) => {
      const now = options.clock();
      if (now - last < 1000) return;
      last = now;
      const elapsedMs = now - started;
      options.onProgress?.({ verb: "verify", done, total, elapsedMs, fillPercent: null });
    }),
    countLines(output),
    pipeline.ended,
  ]);
  const failed = failedStage(ends) ?? ends.find((end) => end.code !== 0);
  if (failed !== undefined || fed.cutShort) {
    const why = failed === undefined ? "the reader stopped early" : stageMessage(failed);
    throw new DataError(`${path} cannot be read to its end: ${why}`, "the archive is damaged");
  }
  if (manifest !== null && manifest.sha256 !== fed.sha256) {
    throw new DataError(
      `${path} does not match its manifest: sha256 ${fed.sha256}, the manifest says ${manifest.sha256}`,
      "the archive changed after it was written: do not restore from it",
    );
  }
  if (manifest !== null && manifest.files !== files) {
    throw new DataError(
      `${path} holds ${files} entries, its manifest says ${manifest.files}`,
      "the archive is damaged: do not restore from it",
    );
  }
  return { path, bytes: fed.bytes, sha256: fed.sha256, files, manifest };
}
