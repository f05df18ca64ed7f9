// The package-manager hook, in-process: one labelled pre-update set per run, and an
// update that goes on when no set can be taken (unless the config says refuse).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import type { BootFiles } from "../../src/system/files.ts";
import { main, type Io } from "../../src/cli/app.ts";
import { ExitCode } from "../../src/system/errors.ts";
import { acquireLock } from "../../src/system/lock.ts";
import { changes, fakeLvm, memoryFiles, memoryFs, sample, testIo } from "./helpers.ts";

const SETS = "handwritten-lvm2-2.03.16/two-vgs/sets";

/** /proc as seen by `rootsnap hook apt` run by sh, run by apt-get. */
const PROC: Record<string, string> = {
  "/proc/self/mountinfo": sample("handwritten-mountinfo.txt"),
  "/proc/self/stat": "900 (node) S 800 900 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5000 1 1",
  "/proc/800/stat": "800 (sh) S 700 800 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 4900 1 1",
  "/proc/700/stat": "700 (apt-get) S 1 700 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 4800 1 1",
  "/proc/700/cmdline": "/usr/bin/apt-get\0install\0./pkg.deb\0",
};

/** The hook's files in memory, and the markers it wrote (under /run/rootsnap). */
function memoryBootFiles(): { files: BootFiles; readonly written: Set<string> } {
  const tree = memoryFiles({});
  return {
    files: tree.files,
    get written() {
      return new Set([...tree.data.keys()].filter((path) => path.startsWith("/run/rootsnap/")));
    },
  };
}

async function runHook(
  extraFiles: Record<string, string> = {},
  failures = {},
  boot = memoryBootFiles(),
  overrides: Partial<Io> = {},
) {
  const fake = fakeLvm({
    lvs: sample(`${SETS}/lvs.json`),
    vgs: sample(`${SETS}/vgs.json`),
    dmTables: {},
    failures,
  });
  const io = testIo(fake.runner, {
    fs: memoryFs({ ...PROC, ...extraFiles }, { "/": 2 * 2 ** 30 }),
    bootFiles: boot.files,
    ...overrides,
  });
  const code = await main(["hook", "apt"], io);
  return { code, io, changed: changes(fake.calls), boot };
}

/** The hook let the update go on, saying in one line why no set was taken. */
function assertWarnedOnce(run: Awaited<ReturnType<typeof runHook>>, why: RegExp): void {
  assert.equal(run.code, 0, run.io.stderrText);
  const warnings = run.io.stderrText
    .split("\n")
    .filter((line) => /rootsnap: (warning|error|internal)/.test(line));
  assert.equal(warnings.length, 1, run.io.stderrText);
  assert.match(
    warnings[0] ?? "",
    /^rootsnap: warning: no pre-update set was taken: .*; the update goes on$/,
  );
  assert.match(warnings[0] ?? "", why);
  assert.deepEqual(
    run.changed.filter((argv) => argv[0] === "lvcreate"),
    [],
  );
}

test("apt's hook takes one pre-update set labelled with apt's command line", async () => {
  const first = await runHook();
  assert.equal(first.code, 0, first.io.stderrText);
  const lvcreate = first.changed.find((argv) => argv[0] === "lvcreate");
  assert.ok(lvcreate, JSON.stringify(first.changed));
  assert.ok(lvcreate.includes("rootsnap.kind=pre-update"), lvcreate.join(" "));
  assert.ok(lvcreate.includes("rootsnap.label=apt-get+install+./pkg.deb"), lvcreate.join(" "));
  assert.deepEqual([...first.boot.written], ["/run/rootsnap/apt-700-4800"]);

  const again = await runHook({}, {}, first.boot);
  assert.equal(again.code, 0);
  assert.deepEqual(again.changed, [], "a second dpkg run in the same apt run takes no set");
});

test("a set that cannot be made warns and lets the update go on", async () => {
  const run = await runHook({}, failAll());
  assert.equal(run.code, 0, run.io.stderrText);
  assert.match(
    run.io.stderrText,
    /rootsnap: warning: no pre-update set was taken: .*; the update goes on/,
  );
});

test("with on-failure = refuse the hook fails, and so stops the update", async () => {
  const run = await runHook(
    { "/etc/rootsnap/rootsnap.toml": '[hooks]\non-failure = "refuse"\n' },
    failAll(),
  );
  assert.notEqual(run.code, 0);
  assert.match(run.io.stderrText, /^rootsnap: error: /);
});

test("package-manager = false takes no set", async () => {
  const run = await runHook({
    "/etc/rootsnap/rootsnap.toml": "[hooks]\npackage-manager = false\n",
  });
  assert.equal(run.code, 0);
  assert.deepEqual(run.changed, []);
});

test("a rootsnap.toml with a mistake lets the update go on, with one line saying why", async () => {
  const run = await runHook({
    "/etc/rootsnap/rootsnap.toml": '[defaults]\nsize = "1G"\ncolour = "red"\n',
  });
  assertWarnedOnce(run, /taken: \/etc\/rootsnap\/rootsnap\.toml:3: unknown key "colour"/);
  assert.deepEqual(run.changed, []);
});

test("a broken rootsnap.toml that says refuse stops the update; one that does not, does not", async () => {
  const refusing = [
    '[hooks]\non-failure = "refuse"\n\n[defaults]\ncolour = 1\n',
    "[hooks]\n  on-failure = 'refuse'   # no update without a set\n\n[defaults\n",
  ];
  for (const text of refusing) {
    const run = await runHook({ "/etc/rootsnap/rootsnap.toml": text });
    assert.equal(run.code, ExitCode.config, text);
    assert.match(run.io.stderrText, /^rootsnap: error: \/etc\/rootsnap\/rootsnap\.toml:\d+: /);
  }
  const unsure = [
    '[defaults\non-failure = "refuse"\n',
    '[hooks]\non-failure = "refuse-ish"\n',
    '# on-failure = "refuse"\n[defaults\n',
  ];
  for (const text of unsure) {
    assertWarnedOnce(
      await runHook({ "/etc/rootsnap/rootsnap.toml": text }),
      /rootsnap\.toml:\d+: /,
    );
  }
});

test("nothing makes the hook fail the package manager under on-failure = warn", async () => {
  const denied = (path: string, code: string) => {
    const files = memoryFs({ ...PROC }, { "/": 2 * 2 ** 30 });
    return {
      ...files,
      readText: (p: string) =>
        p === path
          ? Promise.reject(Object.assign(new Error(`${code}: ${p}`), { code }))
          : files.readText(p),
    };
  };
  const lockPath = join(mkdtempSync(join(tmpdir(), "rootsnap-hook-")), "rootsnap.lock");
  const holder = await acquireLock(lockPath, 999);
  try {
    const cases: [Partial<Io>, RegExp][] = [
      [{ fs: denied("/etc/rootsnap/rootsnap.toml", "EISDIR") }, /rootsnap\.toml is a directory/],
      [{ geteuid: () => 1000 }, /needs root privileges/],
      [{ fs: denied("/proc/self/stat", "EACCES") }, /EACCES: \/proc\/self\/stat/],
      [{ runner: () => Promise.reject(new TypeError("boom")) }, /taken: boom;/],
      [{ lockPath }, /another rootsnap \(pid 999\) is running/],
    ];
    for (const [overrides, why] of cases) {
      assertWarnedOnce(await runHook({}, {}, memoryBootFiles(), overrides), why);
    }
  } finally {
    holder.release();
    rmSync(dirname(lockPath), { recursive: true, force: true });
  }
});

test("the label is one printable line: control characters escaped, at most 200 characters", async () => {
  const cmdline = ["/usr/bin/apt-get", "install", "./a\nb.deb", "\u001b[31mred", "x".repeat(400)];
  const run = await runHook({ "/proc/700/cmdline": `${cmdline.join("\0")}\0` });
  assert.equal(run.code, 0, run.io.stderrText);
  const lines = run.io.stderrText.trimEnd().split("\n");
  const note = lines.find((line) => line.startsWith("rootsnap: took set "));
  assert.ok(note, run.io.stderrText);
  const label = note.replace(/^rootsnap: took set \S+ before: /, "");
  assert.match(label, /^apt-get install \.\/a\\nb\.deb \\u001b\[31mred x+\.\.\.$/);
  assert.equal(label.length, 200);
  assert.doesNotMatch(run.io.stderrText.replace(/\n/g, ""), /\p{Cc}/u, "no control character");
  const tags = (run.changed.find((argv) => argv[0] === "lvcreate") ?? []).filter((word) =>
    word.startsWith("rootsnap.label="),
  );
  assert.equal(tags.length, 1);
  assert.match(tags[0] ?? "", /^rootsnap\.label=[A-Za-z0-9_+.\-/=!:&#]{1,200}$/);
});

/** Every lvcreate fails, whatever it names. */
function failAll(): Record<string, { code: number; stderr: string }> {
  const reply = { code: 5, stderr: "  Insufficient free space" };
  return new Proxy({}, { get: () => reply });
}
