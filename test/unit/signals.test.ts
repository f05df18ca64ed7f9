// The built rootsnap interrupted mid-backup, as a terminal does it: SIGINT to its whole
// process group, once, twice, three times. Whatever the number, it unmounts the set, removes
// its temporary set, the partial archive and the FIFOs' directory, and releases the lock.
// lvm, mount, umount and tar are fakes on PATH that write what they did to a log; rootsnap
// runs in a private mount namespace with /run and its mount table of its own.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";

const ROOT = new URL("../../", import.meta.url).pathname;
const BUNDLE = join(ROOT, "dist", "rootsnap.mjs");

/** The fakes: one module, one small executable per program name. */
const FAKE = String.raw`
const fs = require("node:fs");
const path = require("node:path");
const dir = path.dirname(__dirname);
const log = (line) => fs.appendFileSync(path.join(dir, "log"), line + "\n");
const snapFile = path.join(dir, "snap.json");
const mountinfo = path.join(dir, "mountinfo");
const row = (fields) => ({
  lv_uuid: "fake", lv_path: "/dev/" + fields.vg_name + "/" + fields.lv_name, lv_dm_path: "",
  origin: "", origin_size: "", pool_lv: "", data_percent: "", metadata_percent: "",
  snap_percent: "", lv_time: "1767225000", lv_tags: "", lv_role: "public",
  lv_merging: "", lv_merge_failed: "", lv_snapshot_invalid: "", lv_skip_activation: "",
  lv_active: "active", lv_device_open: "", segtype: "linear", chunk_size: "0", ...fields,
});
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
module.exports = async (name) => {
  const args = process.argv.slice(2);
  if (name === "lvs") {
    const lvs = [row({ lv_name: "root", vg_name: "vg0", lv_attr: "owi-aos---", lv_size: "1073741824",
      lv_device_open: "open", lv_kernel_major: "251", lv_kernel_minor: "201" })];
    if (fs.existsSync(snapFile)) {
      const snap = JSON.parse(fs.readFileSync(snapFile, "utf8"));
      lvs.push(row({ lv_name: snap.name, vg_name: "vg0", lv_attr: "swi-a-s---", lv_size: "218103808",
        origin: "root", origin_size: "1073741824", snap_percent: "1.00", data_percent: "1.00",
        lv_tags: snap.tags.join(","), chunk_size: "4096", lv_kernel_major: "251", lv_kernel_minor: "202" }));
    }
    process.stdout.write(JSON.stringify({ report: [{ lv: lvs }] }));
  } else if (name === "vgs") {
    process.stdout.write(JSON.stringify({ report: [{ vg: [{ vg_name: "vg0", vg_uuid: "fake",
      vg_size: "10737418240", vg_free: "4294967296", vg_extent_size: "4194304",
      vg_free_count: "1024", vg_attr: "wz--n-" }] }] }));
  } else if (name === "lvcreate") {
    const tags = args.filter((_, i) => args[i - 1] === "--addtag");
    fs.writeFileSync(snapFile, JSON.stringify({ name: args[args.indexOf("--name") + 1], tags }));
    log("lvcreate " + tags.join(" "));
  } else if (name === "lvremove") {
    log("lvremove start " + args.join(" "));
    await sleep(300);
    fs.rmSync(snapFile, { force: true });
    log("lvremove done");
  } else if (name === "mount") {
    const target = args.at(-1);
    fs.appendFileSync(mountinfo, "90 22 251:202 / " + target + " ro,nosuid,nodev - ext4 " + args.at(-2) + " ro\n");
    log("mount " + target);
  } else if (name === "umount") {
    const target = args.at(-1);
    log("umount start " + target);
    await sleep(1500);
    const lines = fs.readFileSync(mountinfo, "utf8").split("\n");
    fs.writeFileSync(mountinfo, lines.filter((line) => !line.includes(" " + target + " ")).join("\n"));
    log("umount done " + target);
  } else if (name === "tar") {
    if (args.includes("--version") || args.includes("--help")) {
      process.stdout.write("tar (GNU tar) 1.34\n");
      return;
    }
    log("tar start");
    process.stdout.write(Buffer.alloc(10240));
    setInterval(() => undefined, 1000);
  } else if (name === "dmsetup") {
    process.stdout.write("0 2097152 snapshot 16/425984 16\n");
  }
};
`;

const PROGRAMS = ["lvs", "vgs", "lvcreate", "lvremove", "mount", "umount", "tar", "dmsetup"];

interface Box {
  readonly dir: string;
  readonly log: () => string[];
  readonly child: ChildProcess;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

function setUp(dir: string): void {
  const bin = join(dir, "bin");
  for (const sub of ["bin", "run", "tmp", "dest"]) mkdirSync(join(dir, sub));
  writeFileSync(join(bin, "fake.cjs"), FAKE);
  for (const name of PROGRAMS) {
    const path = join(bin, name);
    writeFileSync(
      path,
      `#!${process.execPath}\nrequire("./fake.cjs")(${JSON.stringify(name)});\n`,
      {
        mode: 0o755,
      },
    );
  }
  writeFileSync(join(dir, "rootsnap.toml"), "");
  writeFileSync(
    join(dir, "mountinfo"),
    "22 1 251:201 / / rw,relatime - ext4 /dev/mapper/vg0-root rw\n23 22 0:21 / /proc rw - proc proc rw\n",
  );
  writeFileSync(join(dir, "log"), "");
}

/** rootsnap backup with no NAME, in its own process group and mount namespace. */
function startBackup(dir: string, stderr: "pipe" | "closed"): Box {
  setUp(dir);
  // /proc/$$ is this shell, which becomes rootsnap by exec: its mount table is the fake one.
  const script =
    'mount --bind "$1" /run && mount --bind "$2" /proc/$$/mountinfo && shift 2 && exec "$@"';
  const child = spawn(
    "unshare",
    [
      "--mount",
      "--",
      "/bin/sh",
      "-c",
      script,
      "sh",
      join(dir, "run"),
      join(dir, "mountinfo"),
      "env",
      `PATH=${join(dir, "bin")}:/usr/sbin:/usr/bin:/sbin:/bin`,
      `TMPDIR=${join(dir, "tmp")}`,
      process.execPath,
      BUNDLE,
      "backup",
      "--to",
      join(dir, "dest", "x.tar"),
      "--compress",
      "none",
      "--config",
      join(dir, "rootsnap.toml"),
    ],
    { detached: true, stdio: ["ignore", "ignore", "pipe"] },
  );
  let text = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    text += chunk;
  });
  if (stderr === "closed") child.stderr?.destroy();
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => {
      resolve(code);
    });
  });
  return {
    dir,
    child,
    log: () => readFileSync(join(dir, "log"), "utf8").split("\n").filter(Boolean),
    stderr: () => text,
    exited,
  };
}

async function until(box: Box, what: string, line: (l: string) => boolean): Promise<void> {
  for (const start = Date.now(); Date.now() - start < 60_000;) {
    if (box.log().some(line)) return;
    if (box.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`no "${what}" in the fakes' log: ${box.log().join(" | ")}\n${box.stderr()}`);
}

/** Like Ctrl-C on a terminal: the signal goes to the whole foreground process group. */
function interrupt(box: Box, signal: NodeJS.Signals = "SIGINT"): void {
  if (box.child.pid !== undefined) process.kill(-box.child.pid, signal);
}

function assertCleanedUp(box: Box): void {
  const log = box.log();
  const umountDone = log.findIndex((l) => l.startsWith("umount done /run/rootsnap/backup-"));
  const lvremoveDone = log.indexOf("lvremove done");
  assert.ok(umountDone >= 0, `umount ran to its end: ${log.join(" | ")}`);
  assert.ok(lvremoveDone > umountDone, `then lvremove of the temporary set: ${log.join(" | ")}`);
  assert.ok(!readdirSync(box.dir).includes("snap.json"), "the temporary set is gone");
  assert.doesNotMatch(readFileSync(join(box.dir, "mountinfo"), "utf8"), /\/run\/rootsnap\//);
  const lock = join(box.dir, "run", "rootsnap.lock");
  assert.equal(spawnSync("flock", ["--nonblock", lock, "true"]).status, 0, "the lock is released");
  assert.equal(readFileSync(lock, "utf8"), "", "and its pid cleared");
  assert.deepEqual(readdirSync(join(box.dir, "run", "rootsnap")), [], "its mount directory too");
  assert.deepEqual(readdirSync(join(box.dir, "dest")), [], "no partial archive");
  assert.deepEqual(readdirSync(join(box.dir, "tmp")), [], "no FIFO directory");
}

function requirements(): string | false {
  if (process.getuid?.() !== 0) return "needs root (a private mount namespace)";
  if (spawnSync("unshare", ["--mount", "true"]).status !== 0) return "needs unshare --mount";
  return false;
}

const missing = requirements();
if (missing !== false && process.env.CI !== undefined) throw new Error(`signals.test: ${missing}`);

// The bundle as shipped, built from this tree.
before(() => {
  if (missing !== false) return;
  const built = spawnSync(process.execPath, [join(ROOT, "scripts", "build.mjs")], {
    encoding: "utf8",
  });
  assert.equal(built.status, 0, built.stderr);
});

/** A test of a backup under way: `body` gets it once tar runs; it is ended and removed after. */
function backupTest(name: string, stderr: "pipe" | "closed", body: (box: Box) => Promise<void>) {
  test(name, { skip: missing, timeout: 120_000 }, async () => {
    const box = startBackup(mkdtempSync(join(tmpdir(), "rootsnap-signals-")), stderr);
    try {
      await until(box, "tar start", (l) => l === "tar start");
      interrupt(box);
      await body(box);
    } finally {
      if (box.child.exitCode === null && box.child.pid !== undefined)
        process.kill(-box.child.pid, "SIGKILL");
      rmSync(box.dir, { recursive: true, force: true });
    }
  });
}

backupTest(
  "Ctrl-C twice, then a third time, during a backup: the clean-up runs to its end, exit 1",
  "pipe",
  async (box) => {
    await until(box, "umount start", (l) => l.startsWith("umount start"));
    interrupt(box);
    await new Promise((resolve) => setTimeout(resolve, 100));
    interrupt(box);
    interrupt(box, "SIGTERM");
    const code = await box.exited;
    const stderr = box.stderr();
    assert.equal(code, 1, stderr);
    assert.match(stderr, /SIGINT received; finishing the current step first/);
    assert.equal(stderr.match(/received again; cleaning up/g)?.length, 1, stderr);
    assert.match(
      stderr,
      /rootsnap: error: backup of set backup-\d{8}-\d{6} interrupted \(SIGINT\)/,
    );
    assert.doesNotMatch(stderr, /clean-up failed/);
    assertCleanedUp(box);
    assert.match(
      box.log().find((l) => l.startsWith("lvcreate")) ?? "",
      /rootsnap\.temporary=\d+:\d+:[0-9a-f-]+/,
    );
  },
);

backupTest(
  "with nobody reading its stderr any more (EPIPE), an interrupted backup still cleans up",
  "closed",
  async (box) => {
    assert.equal(await box.exited, 1);
    assertCleanedUp(box);
  },
);
