// What a setup run has changed so far, each change with the step that takes it back, so that a
// run failing half-way puts the system back as it found it, newest change first.
import { dirname } from "node:path";
import type { Effects } from "../system/effects.ts";
import type { BootFiles } from "../system/files.ts";

interface Step {
  readonly what: string;
  readonly undo: () => Promise<void>;
  /** Part of setup's record: kept when another step could not be undone, for uninstall. */
  readonly record: boolean;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class UndoLog {
  private readonly steps: Step[] = [];

  private readonly files: BootFiles;

  /** The changes go through `effects` (unlisted: setup lists its files itself). */
  constructor(private readonly effects: Effects) {
    this.files = effects.files;
  }

  /** Registers a step that takes back what comes next. */
  add(what: string, undo: () => Promise<void>, record = false): void {
    this.steps.push({ what, undo, record });
  }

  /** Writes a file, its bytes and mode before (or its absence) remembered first. */
  async write(path: string, data: string | Buffer, mode: number, record = false): Promise<void> {
    this.add(path, await this.restorer(path), record);
    await this.effects.writeFile(path, data, mode, null);
  }

  async remove(path: string, record = false): Promise<void> {
    this.add(path, await this.restorer(path), record);
    await this.effects.remove(path, null);
  }

  /** Makes a directory and the parents it lacks; undone by removing those it made. */
  async makeDirectory(path: string, record = false): Promise<void> {
    const missing: string[] = [];
    for (let dir = path; !(await this.files.isDirectory(dir)); dir = dirname(dir)) {
      if (dir === dirname(dir)) break;
      missing.unshift(dir);
    }
    for (const dir of missing) this.add(dir, () => this.removeDirectory(dir), record);
    await this.effects.makeDirectory(path);
  }

  /** Removes a directory setup made; one that is left is a failure. */
  async removeDirectory(dir: string): Promise<void> {
    if (
      !(await this.effects.removeEmptyDirectory(dir, null)) &&
      (await this.files.isDirectory(dir))
    ) {
      throw new Error("it is not empty");
    }
  }

  /** Puts back the file as it was now, when it differs by then. */
  private async restorer(path: string): Promise<() => Promise<void>> {
    const before = await this.files.read(path);
    const mode = await this.files.mode(path);
    return async () => {
      const now = await this.files.read(path);
      if (before === undefined) {
        if (now !== undefined) await this.effects.remove(path, null);
      } else if (
        now === undefined ||
        !now.equals(before) ||
        (await this.files.mode(path)) !== mode
      ) {
        await this.effects.writeFile(path, before, mode ?? 0o644, null);
      }
    };
  }

  /**
   * Takes every change back, newest first, going on past failures; returns what could not
   * be taken back. After a failure the record stays, so status and uninstall see the run.
   */
  async undo(): Promise<string[]> {
    const failed: string[] = [];
    for (const step of [...this.steps].reverse()) {
      if (step.record && failed.length > 0) continue;
      try {
        await step.undo();
      } catch (error) {
        failed.push(`${step.what}: ${messageOf(error)}`);
      }
    }
    this.steps.length = 0;
    return failed;
  }
}
