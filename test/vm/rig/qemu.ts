// Starting QEMU, and making sure no QEMU outlives the test process that started it.
import type { ChildProcess } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { start } from "../../../src/system/runner.ts";

const live = new Set<ChildProcess>();
let hooked = false;

function killAll(): void {
  for (const child of live) child.kill("SIGKILL");
  live.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killAll);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      killAll();
      process.kill(process.pid, sig);
    });
  }
}

/** The QEMU binary, or an error that says how to get one. */
export function qemuBinary(): string {
  const name = process.env.ROOTSNAP_QEMU ?? "qemu-system-x86_64";
  const candidates = name.includes("/")
    ? [name]
    : (process.env.PATH ?? "").split(delimiter).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // try the next one
    }
  }
  throw new Error(
    `${name} not found: install it with "apt-get install qemu-system-x86 qemu-utils"`,
  );
}

/** OVMF from Debian's ovmf package: its code and the pristine variable store each machine copies. */
export function ovmfFiles(): { code: string; vars: string } {
  const dir = process.env.ROOTSNAP_OVMF_DIR ?? "/usr/share/OVMF";
  for (const [code, vars] of [
    ["OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"],
    ["OVMF_CODE.fd", "OVMF_VARS.fd"],
  ] as const) {
    if (existsSync(join(dir, code)) && existsSync(join(dir, vars))) {
      return { code: join(dir, code), vars: join(dir, vars) };
    }
  }
  throw new Error(`no OVMF firmware in ${dir}: install it with "apt-get install ovmf"`);
}

/**
 * Software emulation: these machines' KVM cannot run a guest (see the README). The CPU is
 * QEMU's plain x86-64 model, not `max`: under emulation, the code a Debian system runs
 * with what `max` adds (AVX, XSAVE, SHA instructions) measured slower than its baseline
 * code. A trixie-split guest alone, `max` against `qemu64`: a
 * reboot 43-44 s against 36-38 s, tar of /usr/lib and /usr/share through zstd 15.5-16.2 s
 * against 12.9-13.1 s, sha256sum of the result 3.9-4.1 s against 1.2 s; update-initramfs and
 * `node -e 0` the same.
 */
export const BASE_ARGS = [
  "-accel",
  "tcg",
  "-cpu",
  "qemu64",
  "-m",
  "2048",
  "-nodefaults",
  "-no-user-config",
  "-display",
  "none",
  "-nic",
  "none",
  "-no-reboot",
];

const KERNEL_OOPS = /\] (Oops: |BUG: |general protection fault|invalid opcode: )/;
const KERNEL_PANIC = /\] Kernel panic - not syncing: /;

/**
 * Whether a serial console shows the guest kernel dying of an oops. Under TCG with two
 * vCPUs (ROOTSNAP_VM_SMP=2) the guest kernel now and then traps on code it is patching (an int3 in
 * sched_clock_cpu during early init): the emulator's fault, never the system under test's,
 * so the rig boots again. Panics of other kinds (no root file system) are not this.
 */
export function kernelOopsed(console: string): boolean {
  return KERNEL_PANIC.test(console) && KERNEL_OOPS.test(console);
}

export interface QemuProcess {
  child: ChildProcess;
  /** Resolves with QEMU's exit code (or null when killed) once it has ended. */
  exited: Promise<number | null>;
  stderr: () => string;
}

/**
 * One vCPU per guest unless asked (ROOTSNAP_VM_SMP, or a machine's own `vcpus`). Two
 * machines run side by side on two host cores: with two vCPUs each, four emulator threads
 * share the two cores, and a guest vCPU waits on one that is not running. Measured two
 * machines at a time: a revert's initramfs rebuild took 72 s with one vCPU, 100 s with two.
 */
export function defaultVcpus(): number {
  return Number(process.env.ROOTSNAP_VM_SMP ?? "1");
}

export function startQemu(args: readonly string[], vcpus = defaultVcpus()): QemuProcess {
  hookExit();
  const child = start([qemuBinary(), ...BASE_ARGS, "-smp", String(vcpus), ...args], {
    output: "pipe",
  });
  live.add(child);
  let err = "";
  child.stderr?.on("data", (b: Buffer) => {
    err += b.toString("utf8");
  });
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => {
    child.on("close", (code) => {
      live.delete(child);
      resolve(code);
    });
    child.on("error", (e) => {
      live.delete(child);
      err += e.message;
      resolve(null);
    });
  });
  return { child, exited, stderr: () => err };
}

/** Runs QEMU until the guest powers off; kills it after timeoutMs. */
export async function runQemuToEnd(args: readonly string[], timeoutMs: number): Promise<void> {
  const q = startQemu(args);
  const timer = setTimeout(() => q.child.kill("SIGKILL"), timeoutMs);
  const code = await q.exited;
  clearTimeout(timer);
  if (code !== 0) {
    throw new Error(
      `QEMU ended with ${code === null ? "a kill" : `exit code ${code}`}: ${q.stderr().trim()}`,
    );
  }
}
