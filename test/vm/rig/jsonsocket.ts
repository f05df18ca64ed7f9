// A newline-delimited JSON connection over a unix socket, as spoken by QEMU's QMP and
// its guest agent.
import { connect, type Socket } from "node:net";

export class JsonSocket {
  private buffer = "";
  private readonly waiting: ((msg: unknown) => void)[] = [];
  private readonly queued: unknown[] = [];
  private closedError: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf("\n")) >= 0) {
        // The agent may prefix a reply with 0xFF after guest-sync-delimited; drop it.
        const line = this.buffer
          .slice(0, nl)
          .replace(/^[\uFFFD\xFF]+/, "")
          .trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (line === "") continue;
        let msg: unknown;
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        const w = this.waiting.shift();
        if (w) w(msg);
        else this.queued.push(msg);
      }
    });
    const onClose = (): void => {
      this.closedError ??= new Error("connection closed");
      for (const w of this.waiting.splice(0)) w(this.closedError);
    };
    socket.on("close", onClose);
    socket.on("error", (e) => {
      this.closedError = e;
    });
  }

  static open(path: string, timeoutMs: number): Promise<JsonSocket> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect to ${path} timed out`));
      }, timeoutMs);
      s.once("connect", () => {
        clearTimeout(t);
        resolve(new JsonSocket(s));
      });
      s.once("error", (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }

  send(msg: unknown): void {
    this.socket.write(JSON.stringify(msg) + "\n");
  }

  /** The next message, or an Error on timeout or a closed connection. */
  next(timeoutMs: number): Promise<unknown> {
    if (this.queued.length > 0) return Promise.resolve(this.queued.shift());
    if (this.closedError) return Promise.resolve(this.closedError);
    return new Promise((resolve) => {
      const deliver = (msg: unknown): void => {
        clearTimeout(t);
        resolve(msg);
      };
      const t = setTimeout(() => {
        const i = this.waiting.indexOf(deliver);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.push(deliver);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

export function replyError(msg: unknown): string | undefined {
  if (msg instanceof Error) return msg.message;
  if (typeof msg === "object" && msg !== null && "error" in msg) {
    const e = (msg as { error: { class?: string; desc?: string } }).error;
    return `${e.class ?? "Error"}: ${e.desc ?? "unknown"}`;
  }
  return undefined;
}
