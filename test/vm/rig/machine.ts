// One disposable virtual machine: a throwaway overlay on a cached base image, booted by
// QEMU, driven through its guest agent, powered off or cut off through QMP.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../../src/system/runner.ts";
import { ensureImage } from "./image.ts";
import { JsonSocket } from "./jsonsocket.ts";
import { stepLog } from "./log.ts";
import { getLayout, type Layout } from "./layouts.ts";
import { GuestAgent, GuestCommandError, type GuestResult } from "./qga.ts";
import { Qmp } from "./qmp.ts";
import { kernelOopsed, ovmfFiles, startQemu, type QemuProcess } from "./qemu.ts";

export interface MachineOptions {
  /** Milliseconds a boot may take until the guest agent answers. */
  bootTimeoutMs?: number;
  /** Extra blank disks (GiB each), seen in the guest as /dev/vdb, /dev/vdc, ... */
  extraDisksGiB?: number[];
  /** Base image to use instead of the layout's (tests of the rig itself). */
  baseImage?: string;
  /** vCPUs of the guest (default: defaultVcpus()). */
  vcpus?: number;
}

export interface ShOptions {
  timeoutMs?: number;
  /** Bytes for the command's stdin. */
  input?: string | Buffer;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** p, or "timeout" after ms; the timer never outlives the race (it would hold the process). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => {
      resolve("timeout");
    }, ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** A guest kernel that oopsed before the agent answered (see kernelOopsed). */
class KernelCrash extends Error {}

/** How many times a boot is tried again after a guest kernel oops. */
const OOPS_RETRIES = 2;

const log = stepLog("vm");

export class Machine {
  private qemu: QemuProcess | undefined;
  private agent: GuestAgent | undefined;
  private readonly logs: string[] = [];
  private disposed = false;

  private constructor(
    readonly layout: Layout,
    readonly dir: string,
    private readonly options: MachineOptions,
  ) {}

  /** Creates the overlay for a layout (building its base image if needed) and boots it. */
  static async create(layoutName: string, options: MachineOptions = {}): Promise<Machine> {
    const layout = getLayout(layoutName);
    const base = options.baseImage ?? (await ensureImage(layout.name));
    const dir = mkdtempSync(join(process.env.ROOTSNAP_VM_RUNS ?? tmpdir(), "rsvm-"));
    const m = new Machine(layout, dir, options);
    try {
      await run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", m.disk]);
      // The machine's own EFI variables, kept across its reboots: boot entries, BootNext.
      if (m.uefi) copyFileSync(ovmfFiles().vars, m.efiVars);
      for (const [i, size] of (options.extraDisksGiB ?? []).entries()) {
        await run(["qemu-img", "create", "-q", "-f", "qcow2", m.extraDisk(i), `${size}G`]);
      }
      await m.boot();
    } catch (e) {
      await m.dispose();
      throw e;
    }
    return m;
  }

  private get disk(): string {
    return join(this.dir, "disk.qcow2");
  }

  get uefi(): boolean {
    return this.layout.firmware === "uefi";
  }

  private get efiVars(): string {
    return join(this.dir, "efivars.fd");
  }

  /** OVMF's code, read-only, and this machine's variable store, for a UEFI layout. */
  private firmwareArgs(): string[] {
    if (!this.uefi) return [];
    return [
      "-drive",
      `if=pflash,format=raw,unit=0,readonly=on,file=${ovmfFiles().code}`,
      "-drive",
      `if=pflash,format=raw,unit=1,file=${this.efiVars}`,
    ];
  }

  private extraDisk(i: number): string {
    return join(this.dir, `extra${i}.qcow2`);
  }

  /** Serial console logs, one per boot, oldest first. */
  get serialLogs(): readonly string[] {
    return this.logs;
  }

  get running(): boolean {
    return this.qemu !== undefined;
  }

  /** Starts QEMU on the overlay and waits for the guest agent; measures the boot. */
  async boot(): Promise<number> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.bootOnce();
      } catch (e) {
        if (!(e instanceof KernelCrash) || attempt >= OOPS_RETRIES) throw e;
        log(`${this.layout.name}: ${e.message.split("\n")[0] ?? ""}; booting again`);
      }
    }
  }

  private async bootOnce(): Promise<number> {
    if (this.qemu) throw new Error("machine is already running");
    const n = this.logs.length + 1;
    const serial = join(this.dir, `boot-${n}.log`);
    this.logs.push(serial);
    const qga = join(this.dir, "qga.sock");
    const qmp = join(this.dir, "qmp.sock");
    rmSync(qga, { force: true });
    rmSync(qmp, { force: true });
    const drives = [
      this.disk,
      ...(this.options.extraDisksGiB ?? []).map((_, i) => this.extraDisk(i)),
    ];
    const started = Date.now();
    this.qemu = startQemu(
      [
        ...this.firmwareArgs(),
        ...drives.flatMap((f) => ["-drive", `file=${f},format=qcow2,if=virtio,cache=unsafe`]),
        "-serial",
        `file:${serial}`,
        "-chardev",
        `socket,path=${qga},server=on,wait=off,id=qga0`,
        "-device",
        "virtio-serial-pci",
        "-device",
        "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
        "-qmp",
        `unix:${qmp},server=on,wait=off`,
      ],
      this.options.vcpus,
    );
    const q = this.qemu;
    void q.exited.then(() => {
      if (this.qemu === q) this.forgetProcess();
    });
    await this.waitForAgent(this.options.bootTimeoutMs ?? 300_000);
    const secs = (Date.now() - started) / 1000;
    log(`${this.layout.name}: boot ${n} answered after ${secs.toFixed(1)} s`);
    return secs;
  }

  private forgetProcess(): void {
    this.agent?.close();
    this.agent = undefined;
    this.qemu = undefined;
  }

  /** What the current boot has written to the serial console so far. */
  private console(): string {
    const serial = this.logs.at(-1);
    return serial && existsSync(serial) ? readFileSync(serial, "utf8") : "";
  }

  /**
   * Waits until the current boot's console shows `pattern` (e.g. to cut the power at a
   * given point of a boot started without waiting); the console so far, or an error.
   */
  async waitForConsole(pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.console();
      if (pattern.test(text)) return text;
      if (Date.now() >= deadline) {
        throw new Error(`the console never showed ${String(pattern)}\n${this.consoleTail()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private async waitForAgent(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const sock = join(this.dir, "qga.sock");
    let lastError = "";
    while (Date.now() < deadline) {
      if (!this.qemu) {
        throw new Error(`QEMU ended during boot\n${this.consoleTail()}`);
      }
      const text = this.console();
      if (kernelOopsed(text)) {
        await this.kill();
        throw new KernelCrash(`the guest kernel oopsed during boot\n${this.consoleTail()}`);
      }
      if (existsSync(sock)) {
        try {
          const agent = new GuestAgent(await JsonSocket.open(sock, 5000));
          try {
            await agent.sync(Math.min(5000, Math.max(1000, deadline - Date.now())));
            this.agent = agent;
            return;
          } catch (e) {
            agent.close();
            throw e;
          }
        } catch (e) {
          lastError = (e as Error).message;
        }
      }
      await sleep(1000);
    }
    await this.kill();
    throw new Error(
      `the guest agent of ${this.layout.name} did not answer within ${timeoutMs / 1000} s ` +
        `(${lastError || "no socket"})\n${this.kernelTail()}\n${this.consoleTail()}`,
    );
  }

  private requireAgent(): GuestAgent {
    if (!this.agent) throw new Error(`${this.layout.name} is not running`);
    return this.agent;
  }

  /** Runs a shell command in the guest; returns its exit code and output, never throws on exit code. */
  async shResult(command: string, options: ShOptions = {}): Promise<GuestResult> {
    const input = options.input === undefined ? undefined : Buffer.from(options.input);
    return this.requireAgent().sh(command, options.timeoutMs ?? 120_000, input);
  }

  /** Runs a shell command in the guest and returns its stdout; throws unless it exits 0. */
  async sh(command: string, options: ShOptions = {}): Promise<string> {
    const r = await this.shResult(command, options);
    if (r.code !== 0) throw new GuestCommandError(command, r);
    return r.stdout;
  }

  /** Starts a command in the background in the guest (e.g. `systemctl reboot`). */
  async spawn(command: string): Promise<void> {
    await this.requireAgent().spawn(["/bin/sh", "-c", command]);
  }

  async writeFile(guestPath: string, data: string | Buffer, mode?: number): Promise<void> {
    await this.requireAgent().writeFile(guestPath, Buffer.from(data));
    if (mode !== undefined) await this.sh(`chmod ${mode.toString(8)} '${guestPath}'`);
  }

  async copyIn(hostPath: string, guestPath: string, mode?: number): Promise<void> {
    await this.writeFile(guestPath, readFileSync(hostPath), mode);
  }

  async readFile(guestPath: string): Promise<Buffer> {
    return this.requireAgent().readFile(guestPath);
  }

  /** Waits until QEMU has ended (the guest powered off or rebooted itself). */
  async waitForPowerOff(timeoutMs = 120_000): Promise<void> {
    const q = this.qemu;
    if (!q) return;
    if ((await within(q.exited, timeoutMs)) === "timeout") {
      await this.kill();
      throw new Error(
        `${this.layout.name} did not power off within ${timeoutMs / 1000} s\n${this.consoleTail()}`,
      );
    }
    this.forgetProcess();
  }

  /** A clean reboot from inside the guest; QEMU runs with -no-reboot, so it is restarted. */
  async reboot(): Promise<number> {
    await this.spawn("systemctl reboot");
    await this.waitForPowerOff();
    return this.boot();
  }

  async shutdown(): Promise<void> {
    await this.spawn("systemctl poweroff");
    await this.waitForPowerOff();
  }

  /** Cuts the power at once: what the guest had not written to disk is lost. */
  async powerCut(): Promise<void> {
    await this.qmpEnd("quit");
  }

  /** Presses the reset button (QEMU runs with -no-reboot, so it ends) and boots again. */
  async reset(): Promise<number> {
    await this.qmpEnd("system_reset");
    return this.boot();
  }

  private async qmpEnd(command: "quit" | "system_reset"): Promise<void> {
    const q = this.qemu;
    if (!q) return;
    try {
      const qmp = await Qmp.open(join(this.dir, "qmp.sock"));
      await qmp.command(command).catch(() => undefined);
      qmp.close();
    } catch {
      q.child.kill("SIGKILL");
    }
    if ((await within(q.exited, 10_000)) === "timeout") q.child.kill("SIGKILL");
    await q.exited;
    this.forgetProcess();
  }

  private async kill(): Promise<void> {
    const q = this.qemu;
    if (!q) return;
    q.child.kill("SIGKILL");
    await q.exited;
    this.forgetProcess();
  }

  /** The last lines of one boot's serial log (default: the newest boot). */
  consoleTail(lines = 60, log = this.logs.at(-1)): string {
    if (!log || !existsSync(log)) return "(no console output)";
    // systemd's spinner ("Job x running (1min 2s / 1min 30s)") redraws a line a second;
    // only its last state is kept, so the tail shows what happened before it too.
    const all = readFileSync(log, "utf8").split("\n");
    const spinner = (line: string): boolean => / running \(\d+(min )?\d*s? \/ /.test(line);
    const kept = all.filter((line, i) => !spinner(line) || !spinner(all[i + 1] ?? ""));
    const text = kept.slice(-lines).join("\n");
    return `--- last ${lines} lines of ${log} ---\n${text}`;
  }

  /** The newest boot's last kernel messages (a hung task, an I/O error), apart from systemd's. */
  kernelTail(lines = 25): string {
    const log = this.logs.at(-1);
    if (!log || !existsSync(log)) return "";
    const kernel = readFileSync(log, "utf8")
      .split("\n")
      .filter((line) => /^\s*\[\s*\d+\.\d+\] /.test(line));
    return `--- last ${lines} kernel messages of ${log} ---\n${kernel.slice(-lines).join("\n")}`;
  }

  /** Every boot's console, the newest at length: what a failed test prints. */
  allConsoles(): string {
    return this.logs
      .map((log, i) => this.consoleTail(i === this.logs.length - 1 ? 80 : 25, log))
      .join("\n");
  }

  /** Ends QEMU and removes the overlay (kept when ROOTSNAP_VM_KEEP=1). */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.kill();
    if (process.env.ROOTSNAP_VM_KEEP !== "1") rmSync(this.dir, { recursive: true, force: true });
  }
}
