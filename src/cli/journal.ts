// Whether stderr is the journal: systemd puts "DEVICE:INODE" of the stream it connects a
// unit's stdout and stderr to in JOURNAL_STREAM (systemd.exec(5)). A program that inherits
// the variable with its stderr sent elsewhere (a terminal, a file, a pipe) must not write
// the journal's <N> priority prefixes there; comparing the variable with fstat of fd 2
// tells the two apart, as sd_journal_stream_fd's documentation says.

export interface StreamIdentity {
  readonly dev: bigint;
  readonly ino: bigint;
}

/** True when JOURNAL_STREAM names the stream `identify` (fstat of fd 2) finds. */
export function isJournalStream(
  journalStream: string | undefined,
  identify: () => StreamIdentity | undefined,
): boolean {
  const match = /^(\d+):(\d+)$/.exec(journalStream ?? "");
  if (match === null) return false;
  const stream = identify();
  return (
    stream !== undefined &&
    stream.dev === BigInt(match[1] ?? "") &&
    stream.ino === BigInt(match[2] ?? "")
  );
}
