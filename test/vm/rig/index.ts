// What VM scenarios use: whether VMs can run here, a machine that is always cleaned up,
// and rootsnap installed into a guest the way a user installs it.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "../../../src/system/runner.ts";
import { Machine, type MachineOptions } from "./machine.ts";
import { qemuBinary } from "./qemu.ts";

export { Machine } from "./machine.ts";
export { GuestCommandError } from "./qga.ts";
export { LAYOUTS, getLayout, type LayoutName } from "./layouts.ts";
export { ensureImage } from "./image.ts";
export { stepLog } from "./log.ts";

export const REPO = fileURLToPath(new URL("../../../", import.meta.url));

/** Why VM tests cannot run on this machine, or undefined when they can. */
export function vmSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "not running as root (building images needs root)";
  try {
    qemuBinary();
  } catch (e) {
    return (e as Error).message;
  }
  for (const tool of ["qemu-img", "mmdebstrap", "mke2fs"]) {
    const found = (process.env.PATH ?? "").split(":").some((d) => existsSync(join(d, tool)));
    if (!found) return `${tool} not found: apt-get install qemu-utils mmdebstrap e2fsprogs`;
  }
  return undefined;
}

let skipAnnounced = false;

/**
 * The `skip` option for a VM test: the reason VMs cannot run, announced once in one loud
 * line. Under CI a missing prerequisite is a failure, not a skip.
 */
export function vmSkip(): string | false {
  const reason = vmSkipReason();
  if (reason === undefined) return false;
  if (process.env.CI) throw new Error(`VM tests cannot run under CI: ${reason}`);
  if (!skipAnnounced) {
    skipAnnounced = true;
    process.stderr.write(`\n*** VM TESTS SKIPPED: ${reason} ***\n\n`);
  }
  return `VM tests skipped: ${reason}`;
}

/** Boots a machine, runs fn, and always disposes of it; prints the console log on failure. */
export async function withMachine<T>(
  layout: string,
  fn: (m: Machine) => Promise<T>,
  options: MachineOptions = {},
): Promise<T> {
  const m = await Machine.create(layout, options);
  try {
    return await fn(m);
  } catch (e) {
    process.stderr.write(`\n${m.allConsoles()}\n`);
    throw e;
  } finally {
    await m.dispose();
  }
}

let bundleBuilt = false;

/** Builds dist/rootsnap.mjs once per process. */
export async function buildBundle(): Promise<string> {
  const bundle = join(REPO, "dist", "rootsnap.mjs");
  if (!bundleBuilt) {
    await run([process.execPath, join(REPO, "scripts", "build.mjs")], { cwd: REPO });
    bundleBuilt = true;
  }
  if (!existsSync(bundle) || statSync(bundle).size === 0) throw new Error(`no bundle at ${bundle}`);
  return bundle;
}

let packageBuilt = process.env.ROOTSNAP_DEB_BUILT === "1";

/** Builds dist/rootsnap_VERSION_all.deb once per run (scripts/test.mjs builds it for all). */
export async function buildPackage(): Promise<string> {
  const { version } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as {
    version: string;
  };
  const deb = join(REPO, "dist", `rootsnap_${version}_all.deb`);
  if (!packageBuilt) {
    await run([process.execPath, join(REPO, "scripts", "package.mjs")], { cwd: REPO });
    packageBuilt = true;
  }
  if (!existsSync(deb) || statSync(deb).size === 0) throw new Error(`no package at ${deb}`);
  return deb;
}

/**
 * Installs rootsnap as users do: apt-get installs the .deb, its dependencies resolved from
 * the guest's own packages. Returns what apt printed.
 */
export async function installRootsnap(
  m: Machine,
  options: { reinstall?: boolean } = {},
): Promise<string> {
  const deb = await buildPackage();
  await m.copyIn(deb, "/tmp/rootsnap_all.deb");
  const reinstall = options.reinstall === true ? " --reinstall" : "";
  const out = await m.sh(
    `DEBIAN_FRONTEND=noninteractive apt-get install -y${reinstall} /tmp/rootsnap_all.deb 2>&1 </dev/null && rm /tmp/rootsnap_all.deb`,
    { timeoutMs: 600_000 },
  );
  if (options.reinstall !== true && !/rootsnap doctor/.test(out))
    throw new Error(`the package said nothing of setup:\n${out}`);
  await m.sh("rootsnap --version");
  return out;
}
