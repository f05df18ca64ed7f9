// Client for QEMU's own control socket (QMP): power cut, reset, quit.
import { JsonSocket, replyError } from "./jsonsocket.ts";

export class Qmp {
  private constructor(private readonly sock: JsonSocket) {}

  static async open(path: string, timeoutMs = 10_000): Promise<Qmp> {
    const sock = await JsonSocket.open(path, timeoutMs);
    const greeting = await sock.next(timeoutMs);
    if (greeting instanceof Error || !(greeting as { QMP?: unknown }).QMP) {
      sock.close();
      throw new Error(`QMP at ${path} sent no greeting`);
    }
    const qmp = new Qmp(sock);
    await qmp.command("qmp_capabilities");
    return qmp;
  }

  async command(execute: string, args?: object, timeoutMs = 10_000): Promise<unknown> {
    this.sock.send(args === undefined ? { execute } : { execute, arguments: args });
    for (;;) {
      const msg = await this.sock.next(timeoutMs);
      if (typeof msg === "object" && msg !== null && "event" in msg) continue;
      const err = replyError(msg);
      if (err !== undefined) throw new Error(`QMP ${execute}: ${err}`);
      return (msg as { return: unknown }).return;
    }
  }

  close(): void {
    this.sock.close();
  }
}
