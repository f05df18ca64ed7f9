// One disposable virtual machine: a throwaway overlay on a cached base image, booted by
// QEMU, driven through its guest agent, powered off or cut off through QMP.
import { createHash } from "node:crypto";
import {
  copyFileSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { run } from "../../../src/system/runner.ts";
import { cacheDir, ensureImage, pidAlive, withBuildLock } from "./image.ts";
import { JsonSocket } from "./jsonsocket.ts";
import { stepLog } from "./log.ts";
import { getLayout, type Layout } from "./layouts.ts";
import { GuestAgent, GuestCommandError, type GuestResult } from "./qga.ts";
import { Qmp } from "./qmp.ts";
import {
  BASE_ARGS,
  defaultVcpus,
  kernelOopsed,
  ovmfFiles,
  qemuBinary,
  startQemu,
  type QemuProcess,
} from "./qemu.ts";

export interface MachineOptions {
  /** Milliseconds a boot may take until the guest agent answers. */
  bootTimeoutMs?: number;
  /** Extra blank disks (GiB each), seen in the guest as /dev/vdb, /dev/vdc, ... */
  extraDisksGiB?: number[];
  /** Base image to use instead of the layout's (tests of the rig itself). */
  baseImage?: string;
  /** vCPUs of the guest (default: defaultVcpus()). */
  vcpus?: number;
  /**
   * Boot from power-on instead of resuming the layout's saved running state (see
   * warmState): for tests of what happens before the first boot's agent answers.
   */
  cold?: boolean;
}

/** A booted machine of one layout saved whole: its disks, EFI variables and RAM. */
interface WarmState {
  dir: string;
  disk: string;
  extraDisks: string[];
  efiVars: string;
  memory: string;
}

/** How long a saved running state is used: its guest clock is set forward on each resume. */
const WARM_MAX_AGE_MS = 12 * 3600_000;
const WARM_VERSION = 1;

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

  /**
   * Creates the overlay for a layout (building its base image if needed) and starts it:
   * by resuming the layout's saved running state, unless the options ask for a cold boot.
   */
  static async create(layoutName: string, options: MachineOptions = {}): Promise<Machine> {
    const layout = getLayout(layoutName);
    const cold = options.cold === true || options.baseImage !== undefined;
    const base = options.baseImage ?? (await ensureImage(layout.name));
    const warm = cold ? undefined : await Machine.warmState(layout, base, options);
    const dir = mkdtempSync(join(process.env.ROOTSNAP_VM_RUNS ?? tmpdir(), "rsvm-"));
    const m = new Machine(layout, dir, options);
    try {
      await m.makeDisks(warm?.disk ?? base, warm);
      if (warm) await m.resume(warm.memory);
      else await m.boot();
    } catch (e) {
      await m.dispose();
      throw e;
    }
    return m;
  }

  /** This machine's overlay on `base`, its extra disks and its EFI variables. */
  private async makeDisks(base: string, warm?: WarmState): Promise<void> {
    await run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", this.disk]);
    // The machine's own EFI variables, kept across its reboots: boot entries, BootNext.
    if (this.uefi) copyFileSync(warm?.efiVars ?? ovmfFiles().vars, this.efiVars);
    for (const [i, size] of (this.options.extraDisksGiB ?? []).entries()) {
      const backing = warm?.extraDisks[i];
      await run(
        backing === undefined
          ? ["qemu-img", "create", "-q", "-f", "qcow2", this.extraDisk(i), `${size}G`]
          : [
              "qemu-img",
              "create",
              "-q",
              "-f",
              "qcow2",
              "-b",
              backing,
              "-F",
              "qcow2",
              this.extraDisk(i),
            ],
      );
    }
  }

  /**
   * The layout's running state, saved once a cold boot of it has settled (for the same
   * QEMU, firmware, base image, vCPUs and extra disks) and reused for 12 hours: a machine
   * resumed from it answers in seconds instead of a boot's half minute or more.
   */
  private static async warmState(
    layout: Layout,
    base: string,
    options: MachineOptions,
  ): Promise<WarmState> {
    const stamp = (f: string): string => {
      const st = statSync(f);
      return `${f}:${st.size}:${st.mtimeMs}`;
    };
    const extra = options.extraDisksGiB ?? [];
    const vcpus = options.vcpus ?? defaultVcpus();
    const key = createHash("sha256")
      .update(
        JSON.stringify({
          v: WARM_VERSION,
          base: stamp(base),
          qemu: stamp(qemuBinary()),
          args: BASE_ARGS,
          firmware: layout.firmware === "uefi" ? stamp(ovmfFiles().code) : "bios",
          vcpus,
          extra,
        }),
      )
      .digest("hex")
      .slice(0, 16);
    const root = join(cacheDir(), "warm");
    mkdirSync(root, { recursive: true });
    // Each save is a directory of its own, never replaced: machines running on an older one
    // keep their backing files across reboots.
    const prefix = `${layout.name}-${key}-`;
    const at = (dir: string): WarmState => ({
      dir,
      disk: join(dir, "disk.qcow2"),
      extraDisks: extra.map((_, i) => join(dir, `extra${i}.qcow2`)),
      efiVars: join(dir, "efivars.fd"),
      memory: join(dir, "memory"),
    });
    const fresh = (): WarmState | undefined => {
      const saved = readdirSync(root)
        .filter((f) => f.startsWith(prefix) && /^\d+$/.test(f.slice(prefix.length)))
        .sort()
        .at(-1);
      if (saved === undefined) return undefined;
      const state = at(join(root, saved));
      const age = Date.now() - Number(saved.slice(prefix.length));
      return existsSync(state.memory) && age < WARM_MAX_AGE_MS ? state : undefined;
    };
    const found = fresh();
    if (found) return found;
    return withBuildLock(join(root, `${layout.name}-${key}.lock`), async () => {
      const again = fresh();
      if (again) return again;
      Machine.sweepWarm(root);
      const started = Date.now();
      const tmp = mkdtempSync(join(root, `tmp-${process.pid}-`));
      const m = new Machine(layout, tmp, { ...options, cold: true });
      const state = at(join(root, `${prefix}${String(Date.now()).padStart(15, "0")}`));
      try {
        await m.makeDisks(base);
        await m.boot();
        // Saved once the boot has settled, so that resumed machines do not finish it.
        await m.shResult("systemctl is-system-running --wait", { timeoutMs: 300_000 });
        await m.sh("sync");
        await m.saveState(join(tmp, "memory"));
        renameSync(tmp, state.dir);
      } finally {
        await m.kill();
        rmSync(tmp, { recursive: true, force: true });
      }
      log(`${layout.name}: running state saved in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      return state;
    });
  }

  /** Removes saved states no machine can still be using, and leftovers of saves that died. */
  private static sweepWarm(root: string): void {
    for (const f of readdirSync(root)) {
      const p = join(root, f);
      const tmp = /^tmp-(\d+)-/.exec(f);
      const saved = /-(\d{15})$/.exec(f);
      if (tmp) {
        if (!pidAlive(Number(tmp[1]))) rmSync(p, { recursive: true, force: true });
      } else if (saved && Date.now() - Number(saved[1]) > 2 * WARM_MAX_AGE_MS) {
        rmSync(p, { recursive: true, force: true });
      }
    }
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

  /**
   * Starts QEMU on the overlay resuming a saved running state (QEMU reads it from a socket
   * the rig feeds); sets the guest's clock to now, since it resumes where it was saved.
   */
  private async resume(memory: string): Promise<number> {
    const started = Date.now();
    const secs = await this.bootOnce(memory);
    await this.sh(`date -u -s @${(Date.now() / 1000).toFixed(3)} >/dev/null`);
    log(
      `${this.layout.name}: resumed, the clock set (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    return secs;
  }

  /** Streams the state file into QEMU's incoming socket once QEMU listens on it. */
  private async feedIncoming(sock: string, memory: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.qemu) throw new Error(`QEMU ended before it read the saved state`);
      if (existsSync(sock)) {
        const conn = connect(sock);
        const ok = await new Promise<boolean>((resolve) => {
          conn.once("connect", () => {
            resolve(true);
          });
          conn.once("error", () => {
            resolve(false);
          });
        });
        if (ok) {
          await pipeline(createReadStream(memory), conn);
          return;
        }
        conn.destroy();
      }
      if (Date.now() >= deadline) throw new Error(`QEMU never listened on ${sock}`);
      await sleep(100);
    }
  }

  /** Waits until QEMU has loaded the incoming state, and lets the guest run if it is paused. */
  private async runWhenLoaded(): Promise<void> {
    const qmp = await Qmp.open(join(this.dir, "qmp.sock"));
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const { status } = (await qmp.command("query-status")) as { status: string };
        if (status === "running") return;
        if (status !== "inmigrate") {
          await qmp.command("cont");
          return;
        }
        if (Date.now() > deadline) throw new Error(`QEMU never loaded the saved state`);
        await sleep(100);
      }
    } finally {
      qmp.close();
    }
  }

  /**
   * Saves the running machine's RAM and device state to `file` (QEMU migrates into a
   * socket the rig writes out) and ends QEMU; the disks are flushed and left as they were.
   */
  private async saveState(file: string): Promise<void> {
    const sock = join(this.dir, "save.sock");
    rmSync(sock, { force: true });
    let written: Promise<void> | undefined;
    const server = createServer((conn) => {
      written = pipeline(conn, createWriteStream(file));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(sock, resolve);
    });
    const qmp = await Qmp.open(join(this.dir, "qmp.sock"));
    try {
      // Migrated live (it converges at once on an idle guest): a guest saved paused would
      // be resumed paused.
      // QEMU's default limit (32 MiB/s) is for live migration over a network.
      await qmp.command("migrate-set-parameters", { "max-bandwidth": 8 * 1024 ** 3 });
      await qmp.command("migrate", { uri: `unix:${sock}` });
      const deadline = Date.now() + 300_000;
      for (;;) {
        const r = (await qmp.command("query-migrate")) as {
          status?: string;
          "error-desc"?: string;
        };
        if (r.status === "completed") break;
        if (r.status === "failed" || r.status === "cancelled" || Date.now() > deadline) {
          throw new Error(
            `saving ${this.layout.name}'s state: ${r.status ?? "?"} ${r["error-desc"] ?? ""}`,
          );
        }
        await sleep(200);
      }
      await written;
      await qmp.command("quit").catch(() => undefined);
    } finally {
      qmp.close();
      server.close();
    }
    await this.qemu?.exited;
    this.forgetProcess();
  }

  private async bootOnce(incoming?: string): Promise<number> {
    if (this.qemu) throw new Error("machine is already running");
    const n = this.logs.length + 1;
    const serial = join(this.dir, `boot-${n}.log`);
    this.logs.push(serial);
    const qga = join(this.dir, "qga.sock");
    const qmp = join(this.dir, "qmp.sock");
    const incomingSock = join(this.dir, "incoming.sock");
    for (const f of [qga, qmp, incomingSock]) rmSync(f, { force: true });
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
        ...(incoming === undefined ? [] : ["-incoming", `unix:${incomingSock}`]),
      ],
      this.options.vcpus,
    );
    const q = this.qemu;
    void q.exited.then(() => {
      if (this.qemu === q) this.forgetProcess();
    });
    if (incoming !== undefined) {
      await this.feedIncoming(incomingSock, incoming, 60_000);
      await this.runWhenLoaded();
    }
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
