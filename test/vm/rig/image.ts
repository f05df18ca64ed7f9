// Builds and caches the base images: mmdebstrap on the host, then a builder boot that
// lays the system out on LVM (the host cannot). A build happens in a private temporary
// directory and is renamed into place only when it succeeded.
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  closeSync,
  openSync,
} from "node:fs";
import { join } from "node:path";
import { run } from "../../../src/system/runner.ts";
import {
  builderScript,
  DISK_GIB,
  getLayout,
  GUEST_KERNEL_PARAMS,
  guestPackages,
  type Layout,
} from "./layouts.ts";
import { stepLog } from "./log.ts";
import { kernelOopsed, qemuBinary, runQemuToEnd } from "./qemu.ts";

const RECIPE_VERSION = 1;

export function cacheDir(): string {
  return process.env.ROOTSNAP_VM_CACHE ?? "/var/cache/rootsnap-vm";
}

/** The host's own Debian mirror (from its apt sources), so images come from the same place. */
export function debianMirror(): string {
  const fromEnv = process.env.ROOTSNAP_VM_MIRROR;
  if (fromEnv) return fromEnv;
  const files: string[] = [];
  for (const dir of ["/etc/apt/sources.list.d"]) {
    try {
      for (const f of readdirSync(dir)) {
        if (f.endsWith(".sources") || f.endsWith(".list")) files.push(join(dir, f));
      }
    } catch {
      // no such directory
    }
  }
  files.push("/etc/apt/sources.list");
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch {
      continue;
    }
    for (const m of text.matchAll(/^\s*(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)/gm)) {
      const uri = m[1] ?? "";
      if (/\/debian\/?$/.test(uri) && !uri.includes("security")) return uri.replace(/\/$/, "");
    }
  }
  throw new Error(
    "no Debian mirror found in /etc/apt/sources.list(.d): set ROOTSNAP_VM_MIRROR to one",
  );
}

function mmdebstrapArgv(layout: Layout, dir: string, mirror: string): string[] {
  return [
    "mmdebstrap",
    "--variant=minbase",
    `--include=${guestPackages(layout).join(",")}`,
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    // Small images keep no documentation, but rootsnap's own: scenarios read it as admins do.
    "--dpkgopt=path-include=/usr/share/man/man[58]/rootsnap*",
    "--dpkgopt=path-include=/usr/share/doc/rootsnap/*",
    layout.suite,
    dir,
    `deb ${mirror} ${layout.suite} main`,
  ];
}

export function recipeKey(layout: Layout): string {
  const recipe = JSON.stringify({
    v: RECIPE_VERSION,
    mmdebstrap: mmdebstrapArgv(layout, "DIR", debianMirror()),
    script: builderScript(layout),
    disk: DISK_GIB,
  });
  return createHash("sha256").update(recipe).digest("hex").slice(0, 16);
}

export function imagePath(layout: Layout): string {
  return join(cacheDir(), `${layout.name}-${recipeKey(layout)}.qcow2`);
}

const log = stepLog("vm-image");

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes leftovers of builds that died (their temp dirs name the builder's pid). */
function sweep(dir: string, layout: Layout, keep: string): void {
  for (const f of readdirSync(dir)) {
    const tmp = /^tmp-(.+)-(\d+)-[0-9a-f]+$/.exec(f);
    if (tmp && tmp[1] === layout.name && !pidAlive(Number(tmp[2]))) {
      rmSync(join(dir, f), { recursive: true, force: true });
    } else if (f.startsWith(`${layout.name}-`) && f.endsWith(".qcow2") && f !== keep) {
      rmSync(join(dir, f), { force: true });
    }
  }
}

/** Runs fn holding the lock file at path (other processes wait; a dead holder's lock is taken). */
export async function withBuildLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      closeSync(openSync(path, "wx"));
      writeFileSync(path, String(process.pid));
      break;
    } catch {
      const holder = Number(readFileSync(path, "utf8").trim() || "0");
      if (holder > 0 && pidAlive(holder) && holder !== process.pid) {
        await new Promise((r) => setTimeout(r, 2000));
      } else {
        rmSync(path, { force: true });
      }
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}

/** Returns the path of the layout's base image, building it first if it is not cached. */
export async function ensureImage(name: string): Promise<string> {
  const layout = getLayout(name);
  const dir = cacheDir();
  mkdirSync(dir, { recursive: true });
  const final = imagePath(layout);
  if (existsSync(final)) return final;
  return withBuildLock(join(dir, `${layout.name}.lock`), async () => {
    if (existsSync(final)) return final;
    sweep(dir, layout, final);
    const tmp = join(dir, `tmp-${layout.name}-${process.pid}-${Date.now().toString(16)}`);
    mkdirSync(tmp);
    try {
      await build(layout, tmp);
      renameSync(join(tmp, "disk.qcow2"), final);
      return final;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}

async function build(layout: Layout, tmp: string): Promise<void> {
  const started = Date.now();
  const secs = (): string => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  qemuBinary();
  const root = join(tmp, "root");
  log(`${layout.name}: mmdebstrap ${layout.suite} (from ${debianMirror()})`);
  await run(mmdebstrapArgv(layout, root, debianMirror()), { timeoutMs: 15 * 60_000 });
  writeFileSync(join(root, "builder.sh"), builderScript(layout), { mode: 0o755 });
  const boot = readdirSync(join(root, "boot"));
  const kernel = boot.find((f) => f.startsWith("vmlinuz-"));
  const initrd = boot.find((f) => f.startsWith("initrd.img-"));
  if (!kernel || !initrd) throw new Error(`${layout.name}: no kernel or initrd in ${root}/boot`);
  log(`${layout.name}: root tree ready after ${secs()}; making the builder disk`);
  for (let attempt = 1; ; attempt += 1) {
    const out = await builderBoot(root, kernel, initrd, tmp);
    if (out.includes("ROOTSNAP-BUILD-OK")) break;
    if (kernelOopsed(out) && attempt < 3) {
      log(`${layout.name}: the builder's kernel oopsed (an emulator fault); building again`);
      continue;
    }
    const lines = out.split("\n");
    const end = lines.findIndex((l) => l.includes("ROOTSNAP-BUILD-FAILED"));
    const tail = lines
      .slice(Math.max(0, (end < 0 ? lines.length : end + 1) - 60), end < 0 ? undefined : end + 1)
      .join("\n");
    throw new Error(`${layout.name}: the builder boot failed; last lines of its console:\n${tail}`);
  }
  log(`${layout.name}: built in ${secs()}`);
}

/** One builder boot on fresh disks (the builder changes its own root); returns its console. */
async function builderBoot(
  root: string,
  kernel: string,
  initrd: string,
  tmp: string,
): Promise<string> {
  await run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", root, join(tmp, "build.img"), "3G"], {
    timeoutMs: 10 * 60_000,
  });
  rmSync(join(tmp, "disk.qcow2"), { force: true });
  await run(["qemu-img", "create", "-q", "-f", "qcow2", join(tmp, "disk.qcow2"), `${DISK_GIB}G`]);
  const serial = join(tmp, "build.log");
  log(`builder boot (log: ${serial})`);
  await runQemuToEnd(
    [
      "-kernel",
      join(root, "boot", kernel),
      "-initrd",
      join(root, "boot", initrd),
      "-append",
      `console=ttyS0 root=/dev/vda rw init=/builder.sh panic=-1 ${GUEST_KERNEL_PARAMS}`,
      "-drive",
      `file=${join(tmp, "build.img")},format=raw,if=virtio,cache=unsafe`,
      "-drive",
      `file=${join(tmp, "disk.qcow2")},format=qcow2,if=virtio,cache=unsafe`,
      "-serial",
      `file:${serial}`,
    ],
    15 * 60_000,
  );
  return readFileSync(serial, "utf8");
}
