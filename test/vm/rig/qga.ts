// Client for qemu-guest-agent: run commands in the guest, copy files in and out.
import { JsonSocket, replyError } from "./jsonsocket.ts";

export interface GuestResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class GuestCommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: GuestResult,
  ) {
    const tail = (text: string): string => text.trim().split("\n").slice(-5).join("\n  ");
    const out = tail(result.stdout);
    const err = tail(result.stderr);
    super(
      `guest command failed with exit code ${result.code}: ${command}` +
        (out ? `\n  stdout: ${out}` : "") +
        (err ? `\n  stderr: ${err}` : ""),
    );
    this.name = "GuestCommandError";
  }
}

const GUEST_ENV = [
  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  "LC_ALL=C",
  "HOME=/root",
  "TERM=dumb",
];
const CHUNK = 512 * 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class GuestAgent {
  private chain: Promise<unknown> = Promise.resolve();
  private syncId = Math.floor(Math.random() * 1e9);
  private needSync = true;

  constructor(private readonly sock: JsonSocket) {}

  close(): void {
    this.sock.close();
  }

  /** Waits until the agent answers a guest-sync, discarding stale replies. */
  async sync(timeoutMs: number): Promise<void> {
    const id = ++this.syncId;
    this.sock.send({ execute: "guest-sync", arguments: { id } });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("guest agent did not answer guest-sync");
      const msg = await this.sock.next(left);
      if (msg instanceof Error) throw msg;
      if ((msg as { return?: unknown }).return === id) {
        this.needSync = false;
        return;
      }
    }
  }

  /** One command, answered in order; serialized so replies cannot cross. */
  call<T>(execute: string, args?: object, timeoutMs = 30_000): Promise<T> {
    const p = this.chain.then(async () => {
      if (this.needSync) await this.sync(timeoutMs);
      this.sock.send(args === undefined ? { execute } : { execute, arguments: args });
      const msg = await this.sock.next(timeoutMs);
      const err = replyError(msg);
      if (err !== undefined) {
        if (msg instanceof Error) this.needSync = true;
        throw new Error(`guest agent ${execute}: ${err}`);
      }
      return (msg as { return: T }).return;
    });
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Starts a command and returns its guest pid without waiting for it. */
  async spawn(argv: readonly string[], input?: Buffer): Promise<number> {
    const [path, ...arg] = argv;
    const r = await this.call<{ pid: number }>("guest-exec", {
      path,
      arg,
      env: GUEST_ENV,
      "capture-output": true,
      ...(input ? { "input-data": input.toString("base64") } : {}),
    });
    return r.pid;
  }

  /** Runs `sh -c command` in the guest, bounded by timeoutMs there and here. */
  async sh(command: string, timeoutMs: number, input?: Buffer): Promise<GuestResult> {
    const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
    const pid = await this.spawn(
      ["/usr/bin/timeout", "-k", "5", `${secs}s`, "/bin/sh", "-c", command],
      input,
    );
    const started = Date.now();
    const deadline = started + timeoutMs + 20_000;
    let delay = 50;
    for (;;) {
      const st = await this.call<{
        exited: boolean;
        exitcode?: number;
        signal?: number;
        "out-data"?: string;
        "err-data"?: string;
      }>("guest-exec-status", { pid });
      if (st.exited) {
        const result = {
          code: st.exitcode ?? 128 + (st.signal ?? 0),
          stdout: Buffer.from(st["out-data"] ?? "", "base64").toString("utf8"),
          stderr: Buffer.from(st["err-data"] ?? "", "base64").toString("utf8"),
        };
        const late = Date.now() - started >= secs * 1000;
        if (result.code === 124 || (result.code === 137 && late)) {
          throw new Error(`guest command timed out after ${secs} s: ${command}`);
        }
        return result;
      }
      if (Date.now() > deadline) {
        throw new Error(`guest command did not finish within ${secs} s: ${command}`);
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 500);
    }
  }

  async writeFile(path: string, data: Buffer): Promise<void> {
    const handle = await this.call<number>("guest-file-open", { path, mode: "w" });
    try {
      for (let off = 0; off < data.length || off === 0; off += CHUNK) {
        const part = data.subarray(off, off + CHUNK);
        await this.call("guest-file-write", { handle, "buf-b64": part.toString("base64") });
        if (data.length === 0) break;
      }
      await this.call("guest-file-flush", { handle });
    } finally {
      await this.call("guest-file-close", { handle });
    }
  }

  async readFile(path: string): Promise<Buffer> {
    const handle = await this.call<number>("guest-file-open", { path, mode: "r" });
    const parts: Buffer[] = [];
    try {
      for (;;) {
        const r = await this.call<{ "buf-b64": string; eof: boolean }>("guest-file-read", {
          handle,
          count: CHUNK,
        });
        parts.push(Buffer.from(r["buf-b64"], "base64"));
        if (r.eof) break;
      }
    } finally {
      await this.call("guest-file-close", { handle });
    }
    return Buffer.concat(parts);
  }
}
