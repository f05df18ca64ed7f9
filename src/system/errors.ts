// The error family: every error rootsnap means to show carries its exit code and a hint;
// anything else that escapes is a bug and exits 70.

/** Exit codes of the command-line contract (sysexits). */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 64,
  dataError: 65,
  unavailable: 69,
  internal: 70,
  noSpace: 73,
  locked: 75,
  notRoot: 77,
  config: 78,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class RootsnapError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint: string | undefined;

  constructor(exitCode: ExitCodeValue, message: string, hint?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RootsnapError";
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

export class UsageError extends RootsnapError {
  constructor(message: string, hint?: string) {
    super(ExitCode.usage, message, hint ?? "see rootsnap --help");
  }
}

export class DataError extends RootsnapError {
  constructor(message: string, hint?: string) {
    super(ExitCode.dataError, message, hint);
  }
}

export class NoSpaceError extends RootsnapError {
  constructor(message: string, hint?: string) {
    super(ExitCode.noSpace, message, hint);
  }
}

export class ConfigError extends RootsnapError {
  constructor(message: string, hint?: string) {
    super(ExitCode.config, message, hint);
  }
}

export class OperationError extends RootsnapError {
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(ExitCode.failed, message, hint, options);
  }
}

/** The user answered no: nothing was done. */
export class CancelledError extends RootsnapError {
  constructor(what: string) {
    super(ExitCode.failed, `${what}: cancelled, nothing changed`);
  }
}

/** A message on one line: lvm's stderr and hints may span several. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " / ").trim();
}
