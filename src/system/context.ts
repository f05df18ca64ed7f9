// What every command is handed: the ways it may reach the system, and nothing else.
import type { Effects } from "./effects.ts";
import type { BootFiles } from "./files.ts";
import type { FileSystem } from "./fs.ts";
import type { Runner } from "./runner.ts";

export interface Output {
  /** Progress and notes for the person at the terminal (stderr); never data. */
  note(message: string): void;
  warn(message: string): void;
}

export interface Context {
  /** Runs programs that only look (traced with -v); changes go through `effects`. */
  readonly runner: Runner;
  /** The one gate for every change to the system; one per run, shared by every layer. */
  readonly effects: Effects;
  readonly fs: FileSystem;
  readonly clock: () => Date;
  readonly output: Output;
  /** The same as effects.dryRun. */
  readonly dryRun: boolean;
  readonly configPath: string;
  /** True when the config file was named with --config and so must exist. */
  readonly configNamed: boolean;
  /** Asks before a destructive step; false means the user declined. */
  readonly confirm: (question: string) => Promise<boolean>;
  /** File access for boot integration; without it /boot copies are skipped. */
  readonly bootFiles?: BootFiles;
  /** Waits; tests hand in one that returns at once. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The commands a dry run would have run, or that a real run ran, as argv lists. */
export type Commands = readonly (readonly string[])[];
