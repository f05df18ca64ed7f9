// Kernel packages for the upgrade scenarios, fetched on the host (guests have no network)
// with apt and kept under /var/cache/rootsnap-vm/debs.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../../../src/system/runner.ts";

export const DEB_CACHE = "/var/cache/rootsnap-vm/debs";

/** ABI numbers of the bookworm cloud kernels apt knows, e.g. 56 for 6.1.0-56. */
async function bookwormAbis(): Promise<number[]> {
  const { stdout } = await run(["apt-cache", "policy", "linux-image-6.1.0-*-cloud-amd64"]);
  const abis = [...stdout.matchAll(/^linux-image-6\.1\.0-(\d+)-cloud-amd64:$/gm)].map((m) =>
    Number(m[1]),
  );
  const withCandidate = abis.filter((abi) =>
    new RegExp(
      `^linux-image-6\\.1\\.0-${abi}-cloud-amd64:\\n\\s+Installed: .*\\n\\s+Candidate: (?!\\(none\\))`,
      "m",
    ).test(stdout),
  );
  return withCandidate.sort((a, b) => a - b);
}

/** A bookworm kernel newer than `running` (uname -r in the guest): its .deb on the host. */
export async function newerBookwormKernel(
  running: string,
): Promise<{ deb: string; release: string }> {
  const current = Number(/^6\.1\.0-(\d+)-/.exec(running)?.[1] ?? "0");
  const newest = (await bookwormAbis()).filter((abi) => abi > current).pop();
  if (newest === undefined) {
    throw new Error(`apt knows no bookworm cloud kernel newer than ${running}: run apt-get update`);
  }
  const pkg = `linux-image-6.1.0-${newest}-cloud-amd64`;
  mkdirSync(DEB_CACHE, { recursive: true });
  const cached = (): string | undefined =>
    readdirSync(DEB_CACHE).find((name) => name.startsWith(`${pkg}_`) && name.endsWith(".deb"));
  if (cached() === undefined) {
    await run(["apt-get", "download", pkg], { cwd: DEB_CACHE, timeoutMs: 10 * 60_000 });
  }
  const file = cached();
  if (file === undefined || !existsSync(join(DEB_CACHE, file)))
    throw new Error(`apt-get download ${pkg} left no .deb`);
  return { deb: join(DEB_CACHE, file), release: `6.1.0-${newest}-cloud-amd64` };
}

/** The upgrade the boot scenarios install on a bookworm guest running `running`. */
export async function bookwormKernelUpgrade(
  running: string,
): Promise<{ debs: string[]; release: string }> {
  const kernel = await newerBookwormKernel(running);
  return { debs: [kernel.deb], release: kernel.release };
}

/** apt pointed at one suite alone, with its own lists under /var/cache/rootsnap-vm. */
export class SuiteApt {
  readonly dir: string;

  constructor(readonly suite: string) {
    this.dir = `/var/cache/rootsnap-vm/apt-${suite}`;
  }

  argv(tool: "apt-get" | "apt-cache", ...args: string[]): string[] {
    return [
      tool,
      "-q",
      "-o",
      `Dir::Etc::sourcelist=${this.dir}/sources.list`,
      "-o",
      "Dir::Etc::sourceparts=-",
      "-o",
      `Dir::State::Lists=${this.dir}/lists`,
      "-o",
      `Dir::Cache=${this.dir}/cache`,
      "-o",
      "APT::Architecture=amd64",
      ...args,
    ];
  }

  /** Writes the sources and runs apt-get update. */
  async update(): Promise<void> {
    mkdirSync(join(this.dir, "lists", "partial"), { recursive: true });
    mkdirSync(join(this.dir, "cache", "archives", "partial"), { recursive: true });
    writeFileSync(
      join(this.dir, "sources.list"),
      `deb http://deb.debian.org/debian ${this.suite} main\n`,
    );
    await run(this.argv("apt-get", "update"), { timeoutMs: 10 * 60_000 });
  }
}

const trixieBackports = new SuiteApt("trixie-backports");
const trixieApt = (tool: "apt-get" | "apt-cache", ...args: string[]): string[] =>
  trixieBackports.argv(tool, ...args);

/**
 * A kernel newer than trixie's own: trixie-backports' cloud kernel, which comes as
 * several packages (and a newer linux-base). Returns their .debs on the host.
 */
export async function newerTrixieKernel(): Promise<{ debs: string[]; release: string }> {
  const dir = join(DEB_CACHE, "trixie-backports");
  mkdirSync(dir, { recursive: true });
  const cachedDebs = readdirSync(dir).filter((name) => name.endsWith(".deb"));
  const cachedRelease = cachedDebs
    .map((name) => /^linux-image-(\d\S*-cloud-amd64)_/.exec(name)?.[1])
    .find((release) => release !== undefined);
  if (cachedRelease !== undefined && cachedDebs.length >= 5) {
    return { debs: cachedDebs.map((name) => join(dir, name)), release: cachedRelease };
  }
  await trixieBackports.update();
  const meta = (await run(trixieApt("apt-cache", "show", "linux-image-cloud-amd64"))).stdout;
  const release = /linux-image-(\S+-cloud-amd64) \(=/.exec(meta)?.[1];
  if (release === undefined) throw new Error("trixie-backports has no linux-image-cloud-amd64");
  const packages = ["image", "base", "binary", "modules"].map((part) => `linux-${part}-${release}`);
  await run(trixieApt("apt-get", "download", ...packages, "linux-base/trixie-backports"), {
    cwd: dir,
    timeoutMs: 10 * 60_000,
  });
  const debs = readdirSync(dir)
    .filter((name) => name.endsWith(".deb"))
    .map((name) => join(dir, name));
  return { debs, release };
}

/** The packages of one GRUB platform: its tools, its modules, and what they share. */
function grubPackages(firmware: "bios" | "uefi"): string[] {
  const platform =
    firmware === "bios" ? ["grub-pc", "grub-pc-bin"] : ["grub-efi-amd64", "grub-efi-amd64-bin"];
  return ["grub-common", "grub2-common", ...platform];
}

/**
 * GRUB 2.12 from bookworm-backports for a bookworm guest (2.06 is bookworm's own), with
 * the one library it needs that bookworm's GRUB did not (libfuse3-3, from bookworm).
 */
export async function backportedGrub(
  firmware: "bios" | "uefi",
): Promise<{ debs: string[]; version: string }> {
  const dir = join(DEB_CACHE, `grub-bookworm-backports-${firmware}`);
  mkdirSync(dir, { recursive: true });
  const wanted = [...grubPackages(firmware), "libfuse3-3"];
  const cached = (): string[] => readdirSync(dir).filter((name) => name.endsWith(".deb"));
  const have = (): boolean =>
    wanted.every((pkg) => cached().some((name) => name.startsWith(`${pkg}_`)));
  if (!have()) {
    const backports = new SuiteApt("bookworm-backports");
    await backports.update();
    await run(backports.argv("apt-get", "download", ...grubPackages(firmware)), {
      cwd: dir,
      timeoutMs: 10 * 60_000,
    });
    const bookworm = new SuiteApt("bookworm");
    await bookworm.update();
    await run(bookworm.argv("apt-get", "download", "libfuse3-3"), {
      cwd: dir,
      timeoutMs: 10 * 60_000,
    });
  }
  if (!have()) throw new Error(`apt-get download left no GRUB packages in ${dir}`);
  const version = /^grub-common_([^_]+)_/.exec(
    cached().find((name) => name.startsWith("grub-common_")) ?? "",
  )?.[1];
  if (version === undefined) throw new Error(`no grub-common .deb in ${dir}`);
  return {
    debs: cached().map((name) => join(dir, name)),
    version: decodeURIComponent(version.replace(/%3a/gi, ":")),
  };
}
