// Commands boot integration runs (systemctl, GRUB tools, tar): listed in a dry run,
// run otherwise, and reported with their stderr when they fail.
import { ExitCode, RootsnapError } from "./errors.ts";
import { CommandError, formatArgv, type RunOptions, type Runner } from "./runner.ts";

export class Steps {
  /** Every changing command, in order. */
  readonly commands: (readonly string[])[] = [];

  constructor(
    private readonly runner: Runner,
    readonly dryRun: boolean,
  ) {}

  /** A command that only reads; it runs in a dry run too. */
  async read(argv: readonly string[], options?: RunOptions): Promise<string> {
    return (await this.exec(argv, options)).stdout;
  }

  /** A command that changes the system; in a dry run it is only listed. */
  async change(argv: readonly string[], options?: RunOptions): Promise<string> {
    this.commands.push(argv);
    if (this.dryRun) return "";
    return (await this.exec(argv, options)).stdout;
  }

  /** Records a file operation in the list a dry run prints. */
  note(argv: readonly string[]): void {
    this.commands.push(argv);
  }

  private async exec(argv: readonly string[], options?: RunOptions) {
    try {
      return await this.runner(argv, options);
    } catch (error) {
      throw commandFailure(error);
    }
  }
}

export function commandFailure(error: unknown): unknown {
  if (!(error instanceof CommandError)) return error;
  const said = error.stderr.trim().split("\n").filter(Boolean).slice(-2).join(" / ");
  const how = error.notFound
    ? "could not be started: program not found"
    : error.timedOut
      ? "timed out"
      : `failed with exit code ${error.code ?? error.signal ?? "?"}`;
  return new RootsnapError(
    error.notFound ? ExitCode.unavailable : ExitCode.failed,
    `Command ${how}: ${formatArgv(error.argv)}${said ? `: ${said}` : ""}`,
    error.notFound ? `install the package that provides ${error.argv[0] ?? "it"}` : undefined,
    { cause: error },
  );
}
