// Progress lines of the rig and the scenarios on stderr.

/**
 * Writes each step on stderr prefixed with its tag and the seconds since the test file
 * started (each file is its own process): `[tag +12s] step`.
 */
export function stepLog(tag: string): (step: string) => void {
  return (step) => {
    process.stderr.write(`[${tag} +${Math.round(process.uptime())}s] ${step}\n`);
  };
}
