// Test doubles that stand where the system stands: a runner answering with recorded
// lvm2 output, an in-memory file system, and an Io that captures what main() prints.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after } from "node:test";
import type { BootFiles } from "../../src/system/files.ts";
import type { Grub } from "../../src/boot/grub.ts";
import type { Io } from "../../src/cli/app.ts";
import type { Context } from "../../src/system/context.ts";
import { Effects } from "../../src/system/effects.ts";
import type { FileSystem } from "../../src/system/fs.ts";
import { CommandError, type RunResult, type Runner } from "../../src/system/runner.ts";

export const SAMPLES = new URL("./samples/", import.meta.url).pathname;

export function sample(relativePath: string): string {
  return readFileSync(join(SAMPLES, relativePath), "utf8");
}

export interface Reply {
  stdout?: string;
  stderr?: string;
  code?: number;
}

export interface FakeRunner {
  runner: Runner;
  /** Every argv run, in order. */
  calls: string[][];
}

/** A runner that answers each argv with `reply`; a non-zero code fails as the real one does. */
export function fakeRunner(reply: (argv: readonly string[]) => Reply): FakeRunner {
  const calls: string[][] = [];
  const runner: Runner = (argv) => {
    calls.push([...argv]);
    const answer = reply(argv);
    const code = answer.code ?? 0;
    const result: RunResult = {
      argv,
      code,
      stdout: answer.stdout ?? "",
      stderr: answer.stderr ?? "",
    };
    if (code !== 0) {
      return Promise.reject(new CommandError({ ...result, signal: null, timedOut: false }));
    }
    return Promise.resolve(result);
  };
  return { runner, calls };
}

export interface FakeSystem {
  /** lvs output now; tests switch it to what lvm would show after a change. */
  lvs: string;
  vgs: string;
  dmTables: Record<string, string>;
  /** Replies for changing commands, keyed by the LV they name (last argv word). */
  failures: Record<string, Reply>;
  /** Called after each successful changing command. */
  afterChange?: (argv: readonly string[]) => void;
}

const READERS = new Set(["lvs", "vgs", "dmsetup"]);

/** A runner that plays an lvm2 system from sample reports. */
export function fakeLvm(system: FakeSystem): FakeRunner {
  return fakeRunner((argv) => {
    const program = argv[0] ?? "";
    if (program === "lvs") return { stdout: system.lvs };
    if (program === "vgs") return { stdout: system.vgs };
    if (program === "dmsetup") return { stdout: system.dmTables[argv.at(-1) ?? ""] ?? "" };
    const failure = system.failures[argv.at(-1) ?? ""];
    if (failure !== undefined) return failure;
    system.afterChange?.(argv);
    return {};
  });
}

/** The changing commands a fake runner saw (everything but reports). */
export function changes(calls: readonly string[][]): string[][] {
  return calls.filter((argv) => !READERS.has(argv[0] ?? ""));
}

/** Text files for the file-system reads, with `usedBytes` per mount point for usage(). */
export function memoryFs(
  files: Record<string, string>,
  usedBytes: Record<string, number> = {},
): FileSystem {
  return memoryFiles(files, { usedBytes }).files;
}

export interface TestIo extends Io {
  out: string[];
  err: string[];
  readonly stdoutText: string;
  readonly stderrText: string;
}

export function testIo(runner: Runner, overrides: Partial<Io> = {}): TestIo {
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    out,
    err,
    get stdoutText() {
      return out.join("");
    },
    get stderrText() {
      return err.join("");
    },
    stdout: (text: string) => out.push(text),
    stderr: (text: string) => err.push(text),
    env: {},
    geteuid: () => 0,
    stdinIsTTY: false,
    ask: () => Promise.resolve("n"),
    runner,
    fs: memoryFs({ "/proc/self/mountinfo": sample("handwritten-mountinfo.txt") }),
    clock: () => new Date("2026-01-05T10:00:00Z"),
    lockPath: overrides.lockPath ?? join(tempDir("rootsnap-test-"), "rootsnap.lock"),
    pid: 4242,
    isRunning: () => false,
    sleep: () => Promise.resolve(),
    ...overrides,
  };
  return io;
}

type Row = Record<string, string>;

/** A report with its rows changed, to show what lvm would print after a change. */
export function editReport(text: string, edit: (rows: Row[]) => Row[]): string {
  const document = JSON.parse(text) as { report: Record<string, Row[]>[] };
  const first = document.report[0] ?? {};
  const kind = Object.keys(first)[0] ?? "lv";
  first[kind] = edit(first[kind] ?? []);
  return JSON.stringify(document);
}

/** A copy of the row named `from` renamed to `to`, with other fields replaced. */
export function cloneRow(rows: Row[], from: string, fields: Row): Row {
  const row = rows.find((candidate) => candidate.lv_name === from);
  if (row === undefined) throw new Error(`no row ${from}`);
  return { ...row, ...fields };
}

/** The one in-memory file tree of the tests: what both file interfaces read and write. */
export type MemoryFiles = BootFiles & FileSystem;

export interface MemoryTree {
  readonly files: MemoryFiles;
  /** Every file's bytes by path. */
  readonly data: Map<string, Buffer>;
  /** Modification times: a clock that ticks once per write. */
  readonly times: Map<string, number>;
}

/** The directories every tree has: those setup writes into. */
const SYSTEM_DIRECTORIES = [
  "/etc/systemd/system",
  "/etc/grub.d",
  "/boot/grub",
  "/etc/systemd/system/multi-user.target.wants",
];

/**
 * Files in memory: `initial` (path to text), the directories setup needs, and `usedBytes`
 * per mount point for FileSystem.usage.
 */
export function memoryFiles(
  initial: Record<string, string>,
  options: { usedBytes?: Record<string, number> } = {},
): MemoryTree {
  const data = new Map(Object.entries(initial).map(([k, v]) => [k, Buffer.from(v)]));
  const modes = new Map<string, number>();
  const times = new Map<string, number>();
  let clock = 1000;
  let created = 0;
  const dirs = new Set(SYSTEM_DIRECTORIES);
  /** The names below `path`, one level down. */
  const children = (path: string): string[] => {
    const prefix = `${path.replace(/\/$/, "")}/`;
    const names = [...data.keys(), ...dirs]
      .filter((name) => name.startsWith(prefix))
      .map((name) => name.slice(prefix.length).split("/")[0] ?? "");
    return [...new Set(names)].filter((name) => name !== "").sort();
  };
  const files: MemoryFiles = {
    readText: (path) => Promise.resolve(data.get(path)?.toString("utf8")),
    usage: (mountPoint) => {
      const used = options.usedBytes?.[mountPoint];
      return used === undefined
        ? Promise.reject(new Error(`no usage for ${mountPoint}`))
        : Promise.resolve({ usedBytes: used });
    },
    read: (path) => Promise.resolve(data.get(path)),
    exists: (path) => Promise.resolve(data.has(path) || dirs.has(path)),
    list: (path) => Promise.resolve(children(path)),
    isDirectory: (path) => Promise.resolve(dirs.has(path)),
    mode: (path) => Promise.resolve(data.has(path) ? (modes.get(path) ?? 0o644) : undefined),
    modifiedMs: (path) => Promise.resolve(times.get(path) ?? (data.has(path) ? 0 : undefined)),
    writeAtomic: (path, content, mode) => {
      data.set(path, Buffer.from(content));
      modes.set(path, mode);
      times.set(path, (clock += 1));
      return Promise.resolve();
    },
    remove: (path) => {
      data.delete(path);
      return Promise.resolve();
    },
    removeEmptyDirectory: (path) =>
      Promise.resolve(children(path).length === 0 && dirs.delete(path)),
    makeDirectory: (path) => {
      dirs.add(path);
      return Promise.resolve();
    },
    makeMountPoint: (path) => {
      const made: string[] = [];
      for (let p = path; p !== "/" && !dirs.has(p); p = dirname(p)) made.unshift(p);
      for (const dir of made) {
        dirs.add(dir);
        modes.set(dir, 0o700);
      }
      return Promise.resolve(made);
    },
    makePrivateDirectory: (path) => {
      dirs.add(path);
      modes.set(path, 0o700);
      for (const name of data.keys())
        if (name.startsWith(`${path}/`)) modes.set(name, (modes.get(name) ?? 0o644) & 0o700);
      return Promise.resolve();
    },
    createPrivateFile: (dir, prefix) => {
      const path = `${dir}/${prefix}${(created += 1).toString(16)}`;
      data.set(path, Buffer.alloc(0));
      modes.set(path, 0o600);
      return Promise.resolve(path);
    },
    move: (from, to) => {
      const content = data.get(from);
      if (content === undefined) return Promise.reject(new Error(`no ${from}`));
      data.set(to, content);
      data.delete(from);
      const mode = modes.get(from);
      if (mode !== undefined) modes.set(to, mode);
      modes.delete(from);
      return Promise.resolve();
    },
  };
  return { files, data, times };
}

/**
 * A fresh directory under the system's temporary directory, removed when the test that
 * made it ends (or, made outside a test, when the file's tests end).
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** GRUB as Debian ships it. */
export const GRUB: Grub = {
  dir: "/boot/grub",
  config: "/boot/grub/grub.cfg",
  env: "/boot/grub/grubenv",
  mkconfig: "/usr/sbin/grub-mkconfig",
  reboot: "/usr/sbin/grub-reboot",
  editenv: "/usr/bin/grub-editenv",
  scriptCheck: "/usr/bin/grub-script-check",
  install: "/usr/sbin/grub-install",
};

/** The GRUB programs, for memoryFiles, so that detectGrub finds them. */
export const GRUB_TOOLS = Object.fromEntries(
  ["grub-mkconfig", "grub-reboot", "grub-editenv", "grub-script-check", "grub-install"].map(
    (tool) => [`/usr/sbin/${tool}`, ""],
  ),
);

/** The run's effects gate over `runner` and `files` (a fresh in-memory tree by default). */
export function testEffects(
  runner: Runner,
  options: { dryRun?: boolean; files?: BootFiles; trace?: (argv: readonly string[]) => void } = {},
): Effects {
  return new Effects({
    runner,
    files: options.files ?? memoryFiles({}).files,
    dryRun: options.dryRun ?? false,
    trace: options.trace,
  });
}

/**
 * A command's context with quiet output, no dry run and the default configuration path;
 * its effects gate writes into `bootFiles` when given, and is a dry one with `dryRun`.
 */
export function testContext(runner: Runner, overrides: Partial<Context> = {}): Context {
  const effects =
    overrides.effects ??
    testEffects(runner, { dryRun: overrides.dryRun, files: overrides.bootFiles });
  return {
    runner: effects.runner,
    effects,
    fs: memoryFs({}),
    clock: () => new Date("2026-01-05T10:00:00Z"),
    output: { note: () => undefined, warn: () => undefined },
    dryRun: false,
    configPath: "/etc/rootsnap/rootsnap.toml",
    configNamed: false,
    confirm: () => Promise.resolve(true),
    ...overrides,
  };
}
