// The one gate every change to the system passes: a program that changes something, a
// file written, moved or removed. In a dry run it is only recorded; otherwise it is made
// and recorded. Every program started (changing or not) is traced through it with -v.
import type { ChildProcess } from "node:child_process";
import { ExitCode, RootsnapError } from "./errors.ts";
import { describeFailure, installHint } from "./failure.ts";
import type { BootFiles } from "./files.ts";
import { CommandError, start, type RunOptions, type Runner, type StartOptions } from "./runner.ts";

/** Starts a long-running program (a pipeline stage): start() by default. */
export type Starter = (argv: readonly string[], options?: StartOptions) => ChildProcess;

/** How a layer starts programs: traced with -v when they come from the run's Effects. */
export interface Programs {
  readonly runner: Runner;
  readonly start: Starter;
}

export interface EffectsInit {
  readonly runner: Runner;
  /** Where files are written and removed. */
  readonly files: BootFiles;
  readonly dryRun: boolean;
  /** Told every program before it starts (-v). */
  readonly trace?: (argv: readonly string[]) => void;
  readonly start?: Starter;
}

export interface EffectOptions extends RunOptions {
  /** What a failure becomes; by default a RootsnapError that describes it (commandFailure). */
  readonly failure?: (error: CommandError) => unknown;
}

/** How a file operation is listed; null: not listed (scratch files, mount points). */
export type Shown = readonly string[] | null;

/** The argv a dry run lists for a file written with `mode`. */
export function installArgv(path: string, mode: number): string[] {
  return ["install", "-m", mode.toString(8), "/dev/stdin", path];
}

export class Effects implements Programs {
  /** Every change, in order: made, or in a dry run only listed. */
  readonly changes: (readonly string[])[] = [];
  readonly dryRun: boolean;
  readonly files: BootFiles;
  /** Runs a program after tracing it; what reads go through. */
  readonly runner: Runner;
  /** Another runner, its programs traced as this run's are (rootsnap's lock runs flock). */
  readonly traced: (runner: Runner) => Runner;
  /** Starts a long-running program after tracing it. */
  readonly start: Starter;
  private readonly init: EffectsInit;

  constructor(init: EffectsInit) {
    this.init = init;
    this.dryRun = init.dryRun;
    this.files = init.files;
    const trace = init.trace ?? (() => undefined);
    const starter = init.start ?? start;
    this.traced = (runner) => (argv, options) => {
      trace(argv);
      return runner(argv, options);
    };
    this.runner = this.traced(init.runner);
    this.start = (argv, options) => {
      trace(argv);
      return starter(argv, options);
    };
  }

  /** The same system seen by a dry run: reads run, changes are only listed (in its own list). */
  dry(): Effects {
    return new Effects({ ...this.init, dryRun: true });
  }

  /** A program that only looks; it runs in a dry run too. */
  async read(argv: readonly string[], options?: EffectOptions): Promise<string> {
    return (await this.exec(argv, options)).stdout;
  }

  /** A program that changes the system: listed, and run unless this is a dry run. */
  async run(argv: readonly string[], options?: EffectOptions): Promise<string> {
    this.changes.push(argv);
    if (this.dryRun) return "";
    return (await this.exec(argv, options)).stdout;
  }

  /** Lists a change made some other way (by a program the list names differently). */
  record(argv: readonly string[]): void {
    this.changes.push(argv);
  }

  /** Replaces `path` atomically; listed as `install -m MODE /dev/stdin PATH` unless told. */
  async writeFile(
    path: string,
    data: string | Buffer,
    mode: number,
    shown: Shown = installArgv(path, mode),
  ): Promise<void> {
    await this.file(shown, () => this.files.writeAtomic(path, data, mode));
  }

  async remove(path: string, shown: Shown = ["rm", path]): Promise<void> {
    await this.file(shown, () => this.files.remove(path));
  }

  /** Removes the directory when it is empty; true when it did (false in a dry run). */
  async removeEmptyDirectory(path: string, shown: Shown = ["rmdir", path]): Promise<boolean> {
    return (await this.file(shown, () => this.files.removeEmptyDirectory(path))) ?? false;
  }

  async makeDirectory(path: string, shown: Shown = null): Promise<void> {
    await this.file(shown, () => this.files.makeDirectory(path));
  }

  /** See BootFiles.makeMountPoint; in a dry run it makes none and returns []. */
  async makeMountPoint(path: string): Promise<string[]> {
    return (await this.file(null, () => this.files.makeMountPoint(path))) ?? [];
  }

  /** See BootFiles.makePrivateDirectory. */
  async makePrivateDirectory(path: string, shown: Shown = null): Promise<void> {
    await this.file(shown, () => this.files.makePrivateDirectory(path));
  }

  /** A new empty private file for a program to write into; in a dry run, `planned` instead. */
  async createPrivateFile(dir: string, prefix: string, planned: string): Promise<string> {
    return (await this.file(null, () => this.files.createPrivateFile(dir, prefix))) ?? planned;
  }

  async move(from: string, to: string, shown: Shown = ["mv", from, to]): Promise<void> {
    await this.file(shown, () => this.files.move(from, to));
  }

  private async file<T>(shown: Shown, make: () => Promise<T>): Promise<T | undefined> {
    if (shown !== null) this.changes.push(shown);
    if (this.dryRun) return undefined;
    return make();
  }

  private async exec(argv: readonly string[], options: EffectOptions = {}) {
    const { failure = commandFailure, ...runOptions } = options;
    try {
      return await this.runner(argv, runOptions);
    } catch (error) {
      throw error instanceof CommandError ? failure(error) : error;
    }
  }
}

/** A failed program as rootsnap reports it: the one description, exit 69 when it is missing. */
export function commandFailure(error: CommandError): RootsnapError {
  return new RootsnapError(
    error.notFound ? ExitCode.unavailable : ExitCode.failed,
    describeFailure(error, error.stderr.split("\n")),
    error.notFound ? installHint(error.argv[0]) : undefined,
    { cause: error },
  );
}
