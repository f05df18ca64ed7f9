// Progress lines of the rig and the scenarios on stderr.

/** Writes each step on stderr prefixed with its tag: `[tag] step`. */
export function stepLog(tag: string): (step: string) => void {
  return (step) => {
    process.stderr.write(`[${tag}] ${step}\n`);
  };
}
