// The package-manager hook, in-process: one labelled pre-update set per run, and an
// update that goes on when no set can be taken (unless the config says refuse).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BootFiles } from "../../src/boot/files.ts";
import { main } from "../../src/cli/app.ts";
import { changes, fakeLvm, memoryFs, sample, testIo } from "./helpers.ts";

const SETS = "handwritten-lvm2-2.03.16/two-vgs/sets";

/** /proc as seen by `rootsnap hook apt` run by sh, run by apt-get. */
const PROC: Record<string, string> = {
  "/proc/self/mountinfo": sample("handwritten-mountinfo.txt"),
  "/proc/self/stat": "900 (node) S 800 900 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5000 1 1",
  "/proc/800/stat": "800 (sh) S 700 800 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 4900 1 1",
  "/proc/700/stat": "700 (apt-get) S 1 700 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 4800 1 1",
  "/proc/700/cmdline": "/usr/bin/apt-get\0install\0./pkg.deb\0",
};

function memoryBootFiles(): { files: BootFiles; written: Set<string> } {
  const written = new Set<string>();
  const unused = (): never => {
    throw new Error("not used by the hook");
  };
  const files: BootFiles = {
    exists: (path) => Promise.resolve(written.has(path)),
    makeDirectory: () => Promise.resolve(),
    writeAtomic: (path) => {
      written.add(path);
      return Promise.resolve();
    },
    read: unused,
    list: unused,
    isDirectory: unused,
    mode: unused,
    modifiedMs: unused,
    remove: unused,
    removeEmptyDirectory: unused,
    makePrivateDirectory: unused,
    createPrivateFile: unused,
    move: unused,
  };
  return { files, written };
}

async function runHook(
  extraFiles: Record<string, string> = {},
  failures = {},
  boot = memoryBootFiles(),
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
  });
  const code = await main(["hook", "apt"], io);
  return { code, io, changed: changes(fake.calls), boot };
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
    /rootsnap: warning: no pre-update set was taken .*; the update goes on/,
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

/** Every lvcreate fails, whatever it names. */
function failAll(): Record<string, { code: number; stderr: string }> {
  const reply = { code: 5, stderr: "  Insufficient free space" };
  return new Proxy({}, { get: () => reply });
}
