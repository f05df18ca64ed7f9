// promtool, the Prometheus checker the metrics tests read the textfile with: taken from
// Debian's prometheus package, unpacked once into the VM cache and never started.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

const CACHE = process.env.ROOTSNAP_VM_CACHE ?? "/var/cache/rootsnap-vm";
const UNPACKED = join(CACHE, "promtool");
const BINARY = join(UNPACKED, "usr", "bin", "promtool");

let tried: { path?: string; why?: string } | undefined;

/** Downloads and unpacks the package; returns why it could not, or undefined. */
function unpack(): string | undefined {
  mkdirSync(CACHE, { recursive: true });
  const work = mkdtempSync(join(CACHE, "tmp-promtool-"));
  try {
    const download = spawnSync("apt-get", ["download", "-qq", "prometheus"], {
      cwd: work,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    const deb = readdirSync(work).find((name) => name.endsWith(".deb"));
    if (download.status !== 0 || deb === undefined) {
      return `apt-get download prometheus failed (run apt-get update first): ${download.stderr.trim()}`;
    }
    const tree = join(work, "tree");
    const extract = spawnSync("dpkg-deb", ["-x", deb, tree], { cwd: work, encoding: "utf8" });
    if (extract.status !== 0) return `dpkg-deb -x ${deb} failed: ${extract.stderr.trim()}`;
    // Renamed whole, so a cut-off unpacking is never taken for a usable one.
    rmSync(UNPACKED, { recursive: true, force: true });
    renameSync(tree, UNPACKED);
    return undefined;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The promtool binary, fetched on first use. Where it cannot be had, the reason is
 * printed in one loud line, and under CI it is an error, never a silent pass.
 */
export function promtool(): string | undefined {
  if (tried === undefined) {
    const found = [process.env.PROMTOOL, BINARY, "/usr/bin/promtool"].find(
      (candidate): candidate is string => candidate !== undefined && existsSync(candidate),
    );
    const why = found === undefined ? unpack() : undefined;
    tried = why === undefined ? { path: found ?? BINARY } : { why };
    if (why !== undefined) process.stderr.write(`\n*** promtool CHECKS SKIPPED: ${why} ***\n\n`);
  }
  if (tried.why !== undefined && process.env.CI) throw new Error(`promtool: ${tried.why}`);
  return tried.path;
}
