// Reads an archive file once for two uses: its checksum, and a program reading it on stdin.
import { createHash } from "node:crypto";
import { once } from "node:events";
import { createReadStream } from "node:fs";

export interface Fed {
  readonly bytes: number;
  readonly sha256: string;
  /** The reader stopped taking data before the end (it failed or was stopped). */
  readonly cutShort: boolean;
}

export async function feedFile(
  path: string,
  input: NodeJS.WritableStream,
  onBytes: (bytes: number) => void,
): Promise<Fed> {
  const hash = createHash("sha256");
  let bytes = 0;
  let cutShort = false;
  const broken = new Promise<void>((resolve) => {
    input.once("error", () => {
      cutShort = true;
      resolve();
    });
  });
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
    onBytes(bytes);
    // A reader that gave up gets no more, but the checksum still covers the whole file.
    if (!cutShort && !input.write(chunk))
      await Promise.race([once(input as NodeJS.EventEmitter, "drain"), broken]);
  }
  if (!cutShort) input.end();
  return { bytes, sha256: hash.digest("hex"), cutShort };
}
