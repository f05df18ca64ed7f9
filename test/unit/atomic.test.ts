// The file layer on a real file system: modes from the first byte, no link ever followed,
// temporary names nobody can guess, and the fsync before every rename.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { createNewFile, writeFileAtomic } from "../../src/system/atomic.ts";
import { openFileSink, removeStalePartials, writePrivateFile } from "../../src/backup/archive.ts";
import { saveBootCopy } from "../../src/boot/bootcopy.ts";
import { nodeBootFiles } from "../../src/system/files.ts";
import { fakeRunner, memoryFiles, tempDir, testEffects } from "./helpers.ts";

function secretIn(dir: string): string {
  const secret = join(dir, "secret");
  writeFileSync(secret, "root only\n", { mode: 0o600 });
  chmodSync(secret, 0o600);
  return secret;
}

function assertUntouched(secret: string): void {
  assert.equal(readFileSync(secret, "utf8"), "root only\n", "the linked file keeps its bytes");
  assert.equal(statSync(secret).mode & 0o777, 0o600, "and its mode");
}

test("a new file has its mode before its first byte, whatever the umask", async () => {
  const dir = tempDir("rootsnap-atomic-");
  const old = process.umask(0o077);
  try {
    const { path, handle } = await createNewFile(dir, ".x.", 0o644);
    assert.equal((await handle.stat()).size, 0);
    assert.equal(statSync(path).mode & 0o777, 0o644, "fchmod widened what the umask narrowed");
    await handle.close();
  } finally {
    process.umask(old);
  }
  process.umask(0);
  try {
    await writeFileAtomic(join(dir, "private"), "x", 0o600);
    assert.equal(statSync(join(dir, "private")).mode & 0o777, 0o600);
  } finally {
    process.umask(old);
  }
});

test("a symlink planted at the target is replaced, never written through", async () => {
  const dir = tempDir("rootsnap-atomic-");
  const secret = secretIn(dir);
  const target = join(dir, "rootsnap.prom");
  symlinkSync(secret, target);
  await nodeBootFiles.writeAtomic(target, "metrics\n", 0o644);
  assertUntouched(secret);
  assert.ok(lstatSync(target).isFile(), "the target is a regular file now");
  assert.equal(readFileSync(target, "utf8"), "metrics\n");
  assert.equal(statSync(target).mode & 0o777, 0o644);
});

test("names planted where a temporary file could go are never used", async () => {
  const dir = tempDir("rootsnap-atomic-");
  const secret = secretIn(dir);
  const target = join(dir, "rootsnap.prom");
  // Every name a fixed scheme could pick: with the pid, as a link to root's file, or a directory.
  symlinkSync(secret, join(dir, `.rootsnap.prom.rootsnap-${process.pid}`));
  mkdirSync(join(dir, `.rootsnap.prom.rootsnap-${process.pid + 1}`));
  for (let i = 0; i < 3; i += 1) await nodeBootFiles.writeAtomic(target, `pass ${i}\n`, 0o644);
  assertUntouched(secret);
  assert.equal(readFileSync(target, "utf8"), "pass 2\n");
  const left = readdirSync(dir).sort();
  assert.deepEqual(
    left,
    [
      `.rootsnap.prom.rootsnap-${process.pid}`,
      `.rootsnap.prom.rootsnap-${process.pid + 1}`,
      "rootsnap.prom",
      "secret",
    ].sort(),
    "no temporary file is left behind",
  );
});

test("temporary names differ from one write to the next", async () => {
  const dir = tempDir("rootsnap-atomic-");
  const names = new Set<string>();
  for (let i = 0; i < 20; i += 1) {
    const { path, handle } = await createNewFile(dir, ".t.", 0o600);
    await handle.close();
    names.add(path);
  }
  assert.equal(names.size, 20);
});

test("an archive's partial file and manifest get fresh names: planted ones do not stop a backup", async () => {
  const dir = tempDir("rootsnap-atomic-");
  const secret = secretIn(dir);
  const path = join(dir, "system.tar");
  // The names a run with pid 4242 used to take.
  mkdirSync(join(dir, ".system.tar.partial-4242"));
  symlinkSync(secret, join(dir, ".system.tar.manifest.json.partial-4242"));
  const sink = await openFileSink(path, 4242);
  writeFileSync(`/proc/self/fd/${sink.fd}`, "archive");
  await sink.finish();
  await writePrivateFile(`${path}.manifest.json`, "{}\n", 4242);
  assertUntouched(secret);
  assert.equal(readFileSync(path, "utf8"), "archive");
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(readFileSync(`${path}.manifest.json`, "utf8"), "{}\n");
  assert.equal(statSync(`${path}.manifest.json`).mode & 0o777, 0o600);
});

test("stale partial archives: only rootsnap's own regular files of dead runs go", async () => {
  const dir = tempDir("rootsnap-atomic-");
  const secret = secretIn(dir);
  const path = join(dir, "system.tar");
  const dead = join(dir, ".system.tar.partial-77-0a1b2c");
  const alive = join(dir, ".system.tar.partial-78-0a1b2c");
  const link = join(dir, ".system.tar.partial-79-0a1b2c");
  const others = join(dir, ".system.tar.partial-80-0a1b2c");
  writeFileSync(dead, "");
  writeFileSync(alive, "");
  symlinkSync(secret, link);
  writeFileSync(others, "");
  chownSync(others, 65534, 65534);
  await removeStalePartials(path, (pid) => pid === 78);
  assert.deepEqual(
    readdirSync(dir).sort(),
    [alive, link, others, secret].map((p) => p.slice(dir.length + 1)).sort(),
  );
  assertUntouched(secret);
});

test("the /boot copy's directory and files are made private, old copies narrowed, links left alone", async () => {
  const root = tempDir("rootsnap-atomic-");
  const dir = join(root, "var/lib/rootsnap/boot");
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  chmodSync(join(dir, ".."), 0o777);
  writeFileSync(join(dir, "old.tar"), "copy", { mode: 0o644 });
  chmodSync(join(dir, "old.tar"), 0o644);
  const secret = secretIn(root);
  chmodSync(secret, 0o640);
  symlinkSync(secret, join(dir, "planted.tar"));
  await nodeBootFiles.makePrivateDirectory(dir);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, "..")).mode & 0o777, 0o755, "nobody else may swap it");
  assert.equal(statSync(join(dir, "old.tar")).mode & 0o777, 0o600);
  assert.equal(statSync(secret).mode & 0o777, 0o640, "a link's target is not touched");
  const fresh = await nodeBootFiles.createPrivateFile(dir, "set.tar.partial-");
  assert.equal(statSync(fresh).mode & 0o777, 0o600);
  const moved = join(root, "moved");
  symlinkSync(dir, moved);
  await assert.rejects(nodeBootFiles.makePrivateDirectory(moved), /ELOOP|EEXIST/);
});

test("tar writes the /boot copy into a 0600 file made before it runs", async () => {
  const { files, data } = memoryFiles({ "/boot/vmlinuz-6.1": "k", "/boot/grub/grub.cfg": "cfg" });
  const { runner } = fakeRunner((argv) => {
    if (argv[0] === "tar") data.set(argv[argv.indexOf("-cf") + 1] ?? "", Buffer.from("tar"));
    return {};
  });
  const modeAtTar = new Map<string, number | undefined>();
  const watched: typeof runner = async (argv, options) => {
    if (argv[0] === "tar") {
      const path = argv[argv.indexOf("-cf") + 1] ?? "";
      modeAtTar.set(path, await files.mode(path));
    }
    return runner(argv, options);
  };
  const path = await saveBootCopy(
    files,
    testEffects(watched, { dryRun: false, files: files }),
    "before",
  );
  const [temp] = [...modeAtTar.keys()];
  assert.ok(temp !== undefined && modeAtTar.size === 1);
  assert.equal(modeAtTar.get(temp), 0o600, "the file existed, 0600, before tar wrote a byte");
  assert.notEqual(temp, `${path}.partial`, "its name is not the predictable one");
  assert.equal(await files.mode(path), 0o600);
});

// strace shows the order of the system calls themselves.
const strace = spawnSync("strace", ["-V"]).status === 0;

test(
  "fsync of the file before its rename and of the directory after it (strace)",
  { skip: !strace && process.env.CI === undefined ? "strace is not installed" : false },
  () => {
    const dir = tempDir("rootsnap-atomic-");
    const script = join(dir, "write.mts");
    const files = new URL("../../src/system/files.ts", import.meta.url).pathname;
    writeFileSync(
      script,
      `import { nodeBootFiles } from ${JSON.stringify(files)};
await nodeBootFiles.writeAtomic(${JSON.stringify(join(dir, "grubenv"))}, "x", 0o644);
await import("node:fs").then((fs) => fs.writeFileSync(${JSON.stringify(join(dir, "grub.cfg.new"))}, "menu"));
await nodeBootFiles.move(${JSON.stringify(join(dir, "grub.cfg.new"))}, ${JSON.stringify(join(dir, "grub.cfg"))});
`,
    );
    const trace = join(dir, "trace");
    const r = spawnSync(
      "strace",
      [
        // One file per thread: a single file splits calls that overlap into two lines.
        "-ff",
        "-ttt",
        "-qq",
        "-o",
        trace,
        "-e",
        "trace=openat,fchmod,fsync,fdatasync,rename,renameat,renameat2,write,close",
        process.execPath,
        "--import",
        "tsx",
        script,
      ],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    // Every thread's calls in the order they started.
    const lines = readdirSync(dir)
      .filter((name) => name.startsWith("trace."))
      .flatMap((name) => readFileSync(join(dir, name), "utf8").split("\n"))
      .filter((line) => line !== "")
      .sort((a, b) => Number(a.split(" ")[0]) - Number(b.split(" ")[0]));
    const fdsOf = (pattern: RegExp): string[] =>
      lines.flatMap((line) => {
        const m = pattern.exec(line);
        return m?.[1] === undefined ? [] : [m[1]];
      });
    const index = (pattern: RegExp): number => lines.findIndex((line) => pattern.test(line));
    const quoted = (path: string): string => JSON.stringify(path).replace(/[.[\]]/g, "\\$&");

    // writeAtomic: O_EXCL|O_NOFOLLOW open, fchmod, data, fsync, rename, fsync of the directory.
    const open = new RegExp(
      `openat\\(AT_FDCWD, "(${dir.replace(/\./g, "\\.")}/\\.grubenv\\.rootsnap-[0-9a-f]{12})", ([^)]*)\\) = (\\d+)`,
    );
    const opened = lines.map((line) => open.exec(line)).find((m) => m !== null);
    assert.ok(opened, "the temporary file is opened by an unpredictable name");
    const [, temp, flags, fd] = opened;
    assert.match(flags ?? "", /O_WRONLY/);
    assert.match(flags ?? "", /O_CREAT/);
    assert.match(flags ?? "", /O_EXCL/);
    assert.match(flags ?? "", /O_NOFOLLOW/);
    const at = index(open);
    const chmod = lines.findIndex((line, i) => i > at && line.includes(`fchmod(${fd},`));
    const write = lines.findIndex((line, i) => i > at && line.includes(`write(${fd},`));
    const sync = lines.findIndex((line, i) => i > at && line.includes(`fsync(${fd})`));
    const rename = index(
      new RegExp(`rename(at2?)?\\(.*${quoted(temp ?? "")}.*${quoted(join(dir, "grubenv"))}`),
    );
    assert.ok(chmod > at && chmod < write, "the mode is set before the first byte");
    assert.ok(write < sync && sync < rename, "the data is on disk before the rename");
    const dirFds = fdsOf(
      new RegExp(`openat\\(AT_FDCWD, ${quoted(dir)}, O_RDONLY[^)]*O_DIRECTORY[^)]*\\) = (\\d+)`),
    );
    const dirSync = lines.findIndex(
      (line, i) => i > rename && dirFds.some((d) => line.includes(`fsync(${d})`)),
    );
    assert.ok(dirSync > rename, "the directory is synced after the rename");

    // move (grub.cfg made by grub-mkconfig): the file is synced before it replaces the old one.
    const src = join(dir, "grub.cfg.new");
    const srcOpen = new RegExp(
      `openat\\(AT_FDCWD, ${quoted(src)}, O_RDONLY[^)]*O_NOFOLLOW[^)]*\\) = (\\d+)`,
    );
    const srcFds = fdsOf(srcOpen);
    const srcOpened = index(srcOpen);
    const moved = index(
      new RegExp(`rename(at2?)?\\(.*${quoted(src)}.*${quoted(join(dir, "grub.cfg"))}`),
    );
    const srcSync = lines.findIndex(
      (line, i) => i > srcOpened && srcFds.some((d) => line.includes(`fsync(${d})`)),
    );
    assert.ok(
      srcOpened !== -1 && srcSync !== -1 && srcSync < moved,
      "grub.cfg's data is on disk before the rename",
    );
    const after = lines.findIndex(
      (line, i) => i > moved && dirFds.some((d) => line.includes(`fsync(${d})`)),
    );
    assert.ok(after > moved, "and the directory after it");
  },
);
