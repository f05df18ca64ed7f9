// The whole command line, run in-process on sample lvm2 reports: what it prints, what
// it runs, and how it exits.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { main, type Io } from "../../src/cli/app.ts";
import { ExitCode } from "../../src/system/errors.ts";
import { acquireLock, type Lock } from "../../src/system/lock.ts";
import { nodeFileSystem } from "../../src/system/fs.ts";
import {
  changes,
  cloneRow,
  editReport,
  fakeLvm,
  memoryFs,
  sample,
  testIo,
  type FakeSystem,
  type TestIo,
} from "./helpers.ts";

const SETS = "handwritten-lvm2-2.03.16/two-vgs/sets";
const MERGING = "handwritten-lvm2-2.03.31/two-vgs/merging";
const MOUNTINFO = { "/proc/self/mountinfo": sample("handwritten-mountinfo.txt") };

function system(overrides: Partial<FakeSystem> = {}): FakeSystem {
  return {
    lvs: sample(`${SETS}/lvs.json`),
    vgs: sample(`${SETS}/vgs.json`),
    dmTables: {},
    failures: {},
    ...overrides,
  };
}

interface Run {
  code: number;
  io: TestIo;
  calls: string[][];
  changed: string[][];
}

async function rootsnap(
  argv: string[],
  state: FakeSystem = system(),
  overrides: Partial<Io> = {},
): Promise<Run> {
  const fake = fakeLvm(state);
  const io = testIo(fake.runner, overrides);
  const code = await main(argv, io);
  return { code, io, calls: fake.calls, changed: changes(fake.calls) };
}

function assertRefused(run: Run, exitCode: number, message: RegExp): void {
  assert.equal(run.code, exitCode, run.io.stderrText);
  assert.equal(run.io.stdoutText, "", "nothing on stdout");
  assert.equal(run.io.stderrText.trimEnd().split("\n").length, 1, "one line of error");
  assert.match(run.io.stderrText, /^rootsnap: error: /);
  assert.match(run.io.stderrText, message);
  assert.deepEqual(run.changed, [], "nothing changed");
}

test("list --json follows the contract", async () => {
  const run = await rootsnap(["list", "--json"]);
  assert.equal(run.code, 0);
  assert.equal(run.io.stderrText, "");
  const document = JSON.parse(run.io.stdoutText) as {
    version: number;
    sets: Record<string, unknown>[];
  };
  assert.equal(document.version, 1);
  assert.deepEqual(
    document.sets.map((set) => set.name),
    ["weekly", "nightly", "before-upgrade"],
  );
  const beforeUpgrade = document.sets[2] as {
    kind: string;
    created: string;
    volumes: Record<string, unknown>[];
  };
  assert.equal(beforeUpgrade.kind, "pre-update");
  assert.equal(beforeUpgrade.created, "2026-01-01T00:00:00Z");
  assert.deepEqual(
    beforeUpgrade.volumes.map((volume) => [
      volume.origin,
      volume.snapshot,
      volume.used_percent,
      volume.state,
    ]),
    [
      ["vg0/home", "vg0/home-before-upgrade", 0.1, "active"],
      ["vg0/root", "vg0/root-before-upgrade", 2.54, "active"],
    ],
  );
  assert.deepEqual(
    run.calls.map((argv) => argv[0]),
    ["lvs"],
    "one lvs call",
  );
});

test("list prints a line per set and an indented line per snapshot, with sizes", async () => {
  const run = await rootsnap(["list"]);
  const lines = run.io.stdoutText.trimEnd().split("\n");
  assert.match(lines[0] ?? "", /^SET\s+KIND\s+CREATED\s+LABEL$/);
  assert.match(lines[1] ?? "", /^ {2}ORIGIN\s+SNAPSHOT\s+SIZE\s+USED\s+STATE$/);
  assert.equal(lines.length, 9);
  assert.match(lines[2] ?? "", /^weekly\s+manual\s+\d{4}-01-0[23] \d\d:\d\d:00 [+-]\d\d:\d\d\s+-$/);
  assert.match(
    lines[3] ?? "",
    /^ {2}thinvg\/data\s+thinvg\/data-weekly\s+thin\s+41.25% \(pool\)\s+inactive$/,
  );
  assert.match(
    lines[5] ?? "",
    /^ {2}vg0\/root\s+vg0\/root-nightly\s+128.00 MiB\s+85.00%\s+active$/,
  );
  const utc = await rootsnap(["list", "--utc", "--no-headings"]);
  const plain = utc.io.stdoutText.split("\n");
  assert.match(plain[0] ?? "", /^weekly\s+manual\s+2026-01-03 00:00:00 UTC\s+-$/);
  assert.equal(plain.length, 8, "no heading lines with --no-headings");
});

test("show NAME gives one set; an unknown name is exit 65", async () => {
  const run = await rootsnap(["show", "nightly", "--json"]);
  assert.equal(run.code, 0);
  const document = JSON.parse(run.io.stdoutText) as { set: { name: string; volumes: unknown[] } };
  assert.equal(document.set.name, "nightly");
  assert.equal(document.set.volumes.length, 1);
  assertRefused(await rootsnap(["show", "nope"]), ExitCode.dataError, /no set named nope/);
});

test("--version and --help need neither root nor lvm", async () => {
  const version = await rootsnap(["--version"], system(), { geteuid: () => 1000 });
  assert.equal(version.code, 0);
  assert.equal(version.io.stdoutText, "rootsnap dev\n");
  const help = await rootsnap(["--help"], system(), { geteuid: () => 1000 });
  assert.match(help.io.stdoutText, /^Usage: rootsnap/);
  assert.deepEqual(help.calls, []);
});

test("bad command lines are exit 64 with one line", async () => {
  const cases: [string[], RegExp][] = [
    [["frob"], /unknown verb "frob"/],
    [["list", "--frob"], /unknown option --frob/],
    [["create", "has space"], /set name "has space" may use only/],
    [["create", "x".repeat(200)], /200 characters long/],
    [["create", "--size", "10Q"], /--size "10Q" is not a size policy/],
    [["create", "--kind", "weird"], /--kind "weird" is not one of/],
    [["list", "--volume", "vg0/root"], /--volume does not apply to list/],
    [["show"], /show: missing argument/],
    [["list", "extra"], /unexpected argument "extra"/],
    [[], /no verb given/],
    [["create", "--size"], /--size needs a value/],
    [["setup", "--cancel"], /--cancel does not apply to setup/],
    [["next-boot", "now"], /unexpected argument "now"/],
  ];
  for (const [argv, message] of cases) assertRefused(await rootsnap(argv), ExitCode.usage, message);
});

test("a negative or nonsense size is refused for what it is, exit 64", async () => {
  const cases: [string[], RegExp][] = [
    [["create", "x", "--size", "-5G"], /--size "-5G" is not a size policy: sizes are positive/],
    [["create", "x", "--size", "5000%ORIGIN"], /"5000%ORIGIN" .*: N%ORIGIN is at most 100/],
    [["create", "x", "--size", "101%FREE"], /"101%FREE" .*: N%FREE is at most 100/],
    [["create", "x", "--size", "0.0000001K"], /"0.0000001K" .*: a fixed size is at least 1M/],
    [["create", "x", "--size", "9P"], /"9P" is not a size policy: a fixed size is at most 8P/],
    [["create", "x", "--size", `${"9".repeat(30)}G`], /a fixed size is at most 8P/],
    [["create", "x", "--wait", "-5"], /--wait "-5" is not a number of seconds: it is 0 or more/],
    [["backup", "--to", "-5"], /--to needs a value, and "-5" looks like an option.*--to=-5/],
  ];
  for (const [argv, message] of cases) assertRefused(await rootsnap(argv), ExitCode.usage, message);
});

test("a configuration naming a size no snapshot can have is exit 78 with its line", async () => {
  const fs = memoryFs({
    ...MOUNTINFO,
    "/etc/rootsnap/rootsnap.toml": '[[volumes]]\nlv = "vg0/root"\nsize = "5000%ORIGIN"\n',
  });
  assertRefused(
    await rootsnap(["create", "x"], system(), { fs }),
    ExitCode.config,
    /rootsnap\.toml:3: size "5000%ORIGIN" in \[volumes\] is not a size policy: N%ORIGIN is at most 100/,
  );
});

test("a volume named twice in [[volumes]] is exit 78 at the second one", async () => {
  const fs = memoryFs({
    ...MOUNTINFO,
    "/etc/rootsnap/rootsnap.toml":
      '[[volumes]]\nlv = "vg0/root"\n\n[[volumes]]\nlv = "vg0/home"\n\n[[volumes]]\nsize = "1G"\nlv = "vg0/root"\n',
  });
  assertRefused(
    await rootsnap(["create", "x"], system(), { fs }),
    ExitCode.config,
    /rootsnap\.toml:9: lv "vg0\/root" is named twice in \[\[volumes\]\] \(first at line 2\)/,
  );
});

test("--config naming a directory is exit 78: name the file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rootsnap-config-"));
  try {
    const memory = memoryFs(MOUNTINFO);
    const fs = {
      ...memory,
      readText: (path: string) =>
        path === dir ? nodeFileSystem.readText(path) : memory.readText(path),
    };
    assertRefused(
      await rootsnap(["create", "x", "--config", dir], system(), { fs }),
      ExitCode.config,
      new RegExp(`rootsnap: error: --config ${dir} is a directory: name the file`),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("not root is exit 77 with the hint to run as root", async () => {
  const run = await rootsnap(["list"], system(), { geteuid: () => 1000 });
  assertRefused(run, ExitCode.notRoot, /needs root privileges.*hint: run it as root/);
  assert.deepEqual(run.calls, []);
});

/** Runs rootsnap while pid 999 holds the lock; onNap sees each pause of the waiting run. */
async function whileLockHeld(
  argv: string[],
  onNap: (nap: number, holder: Lock) => void = () => undefined,
): Promise<Run & { naps: number; lockPath: string }> {
  const lockPath = testIo(fakeLvm(system()).runner).lockPath;
  const holder = await acquireLock(lockPath, 999);
  let naps = 0;
  try {
    const run = await rootsnap(argv, system(), {
      lockPath,
      sleep: () => {
        naps += 1;
        onNap(naps, holder);
        return Promise.resolve();
      },
    });
    return { ...run, naps, lockPath };
  } finally {
    holder.release();
  }
}

test("a second rootsnap is refused with exit 75 while the lock is held", async () => {
  const run = await whileLockHeld(["create", "x", "--yes"]);
  assert.equal(run.code, ExitCode.locked, run.io.stderrText);
  const [waiting, error, ...rest] = run.io.stderrText.trimEnd().split("\n");
  assert.match(waiting ?? "", /pid 999\) is running; waiting up to 60 s for it to finish/);
  assert.match(
    error ?? "",
    /^rootsnap: error: another rootsnap \(pid 999\) is running: .* after 60 s/,
  );
  assert.deepEqual(rest, []);
  assert.deepEqual(run.calls, []);
});

test("a rootsnap that finds the lock held waits for its owner to finish", async () => {
  // The other run ends after a second (four pauses of 250 ms).
  const run = await whileLockHeld(["--wait", "5", "create", "x", "--yes"], (nap, holder) => {
    if (nap === 4) holder.release();
  });
  assert.equal(run.code, 0, run.io.stderrText);
  assert.equal(run.naps, 4);
  (await acquireLock(run.lockPath, 1)).release();
});

test("boot-finish waits 25 minutes for the lock: a setup or backup after the boot may hold it", async () => {
  const run = await whileLockHeld(["boot-finish"]);
  assert.equal(run.code, ExitCode.locked, run.io.stderrText);
  assert.match(run.io.stderrText, /pid 999\) is running; waiting up to 1500 s for it to finish/);
  assert.equal(run.naps, (25 * 60 * 1000) / 250);
});

test("--wait 0 fails at once; a --wait that is no number is a usage error", async () => {
  const run = await whileLockHeld(["--wait", "0", "create", "x", "--yes"]);
  assertRefused(run, ExitCode.locked, /is still held \(hint/);
  assert.equal(run.naps, 0);
  assertRefused(
    await rootsnap(["--wait", "soon", "create", "x"], system()),
    ExitCode.usage,
    /--wait "soon" is not a number of seconds/,
  );
});

test("create snapshots the LV mounted at / with 20%ORIGIN when nothing is configured", async () => {
  const run = await rootsnap(["create", "before-test"]);
  assert.equal(run.code, 0, run.io.stderrText);
  assert.equal(run.io.stdoutText, "before-test\n");
  assert.deepEqual(run.changed, [
    [
      "lvcreate",
      "--snapshot",
      "--extents",
      "154",
      "--name",
      "root-before-test",
      "--addtag",
      "rootsnap",
      "--addtag",
      "rootsnap.set=before-test",
      "--addtag",
      "rootsnap.kind=manual",
      "--addtag",
      "rootsnap.created=1767607200",
      "--addtag",
      "rootsnap.members=1",
      "--addtag",
      "rootsnap.member=vg0/root",
      "vg0/root",
    ],
  ]);
  assert.match(run.io.stderrText, /created set before-test: vg0\/root-before-test \(616.00 MiB\)/);
});

test("create without a name names the set by kind and time", async () => {
  const run = await rootsnap(["create", "--kind", "pre-update", "--json"]);
  const document = JSON.parse(run.io.stdoutText) as {
    set: { name: string; kind: string; created: string };
  };
  assert.deepEqual(document.set.name, "pre-update-20260105-100000");
  assert.equal(document.set.created, "2026-01-05T10:00:00Z");
});

test("create uses the configured volumes and policies; --size overrides them", async () => {
  const config =
    '[defaults]\nsize = "1G"\n\n[[volumes]]\nlv = "vg0/root"\nsize = "512M"\n\n[[volumes]]\nlv = "vg0/home"\n\n[[volumes]]\nlv = "thinvg/data"\n';
  const fs = memoryFs({ ...MOUNTINFO, "/etc/rootsnap/rootsnap.toml": config });
  const run = await rootsnap(["create", "cfg", "--dry-run"], system(), { fs });
  assert.equal(run.code, 0, run.io.stderrText);
  const lines = run.io.stdoutText.trimEnd().split("\n");
  assert.equal(lines.length, 3);
  assert.match(lines[0] ?? "", /^lvcreate --snapshot --extents 128 --name root-cfg .* vg0\/root$/);
  assert.match(lines[1] ?? "", /^lvcreate --snapshot --extents 256 --name home-cfg .* vg0\/home$/);
  assert.match(
    lines[2] ?? "",
    /^lvcreate --snapshot --setactivationskip n --name data-cfg .* thinvg\/data$/,
  );
  assert.deepEqual(run.changed, [], "a dry run changes nothing");
  const sized = await rootsnap(["create", "cfg", "--dry-run", "--size", "8M"], system(), { fs });
  assert.match(sized.io.stdoutText, /--extents 2 --name root-cfg/);
  assert.match(sized.io.stdoutText, /--extents 2 --name home-cfg/);
});

test("N%USED measures the origin's mounted file system", async () => {
  const fs = memoryFs(MOUNTINFO, { "/home": 400 * 1024 * 1024 });
  const run = await rootsnap(
    ["create", "u", "--volume", "vg0/home", "--size", "50%USED", "--dry-run"],
    system(),
    { fs },
  );
  assert.equal(run.code, 0, run.io.stderrText);
  assert.match(run.io.stdoutText, /--extents 50 --name home-u/);
  const unmounted = await rootsnap(
    ["create", "u", "--volume", "vg0/scratch", "--size", "50%USED"],
    system(),
    { fs },
  );
  assertRefused(unmounted, ExitCode.dataError, /needs vg0\/scratch mounted/);
});

test("create refuses bad data before any lvcreate", async () => {
  assertRefused(
    await rootsnap(["create", "nightly"]),
    ExitCode.dataError,
    /a set named nightly already exists/,
  );
  assertRefused(
    await rootsnap(["create", "x", "--volume", "vg0/nope"]),
    ExitCode.dataError,
    /vg0\/nope is not a logical volume/,
  );
  assertRefused(
    await rootsnap([
      "create",
      "x",
      "--volume",
      "vg0/root",
      "--volume",
      "vg0/home",
      "--size",
      "100%ORIGIN",
    ]),
    ExitCode.noSpace,
    /not enough space for the set: vg0 needs/,
  );
});

test("a bad configuration is exit 78 naming file and line", async () => {
  const syntax = memoryFs({ ...MOUNTINFO, "/etc/rootsnap/rootsnap.toml": "[defaults\n" });
  assertRefused(
    await rootsnap(["create", "x"], system(), { fs: syntax }),
    ExitCode.config,
    /rootsnap\.toml:1: /,
  );
  const unknown = memoryFs({
    ...MOUNTINFO,
    "/etc/rootsnap/rootsnap.toml": '[defaults]\nsize = "1G"\ncolour = "red"\n',
  });
  assertRefused(
    await rootsnap(["create", "x"], system(), { fs: unknown }),
    ExitCode.config,
    /rootsnap\.toml:3: unknown key "colour"/,
  );
  assertRefused(
    await rootsnap(["create", "x", "--config", "/nope.toml"]),
    ExitCode.config,
    /\/nope.toml: no such file/,
  );
});

test("a failure in the middle of a set leaves no snapshot behind", async () => {
  const state = system({
    failures: {
      "vg0/home": {
        code: 5,
        stderr: '  Volume group "vg0" has insufficient free space (1 extents): 256 required.\n',
      },
    },
  });
  state.afterChange = (argv) => {
    if (argv[0] === "lvcreate") {
      state.lvs = editReport(state.lvs, (rows) => [
        ...rows,
        cloneRow(rows, "root-nightly", { lv_name: "root-mid", lv_tags: "rootsnap.set=mid" }),
      ]);
    }
  };
  const run = await rootsnap(
    ["create", "mid", "--volume", "vg0/root", "--volume", "vg0/home", "--size", "1G"],
    state,
  );
  assert.equal(run.code, ExitCode.noSpace, run.io.stderrText);
  assert.deepEqual(
    run.changed.map((argv) => [argv[0], argv.at(-1)]),
    [
      ["lvcreate", "vg0/root"],
      ["lvcreate", "vg0/home"],
      ["lvremove", "vg0/root-mid"],
    ],
  );
  assert.match(run.io.stderrText, /removed vg0\/root-mid again/);
});

test("remove asks; without a terminal it needs --yes", async () => {
  assertRefused(
    await rootsnap(["remove", "before-upgrade"]),
    ExitCode.usage,
    /stdin is no terminal.*--yes/,
  );
  const declined = await rootsnap(["remove", "before-upgrade"], system(), {
    stdinIsTTY: true,
    ask: () => Promise.resolve("n"),
  });
  assertRefused(declined, ExitCode.failed, /cancelled, nothing changed/);
  const accepted = await rootsnap(["remove", "before-upgrade"], system(), {
    stdinIsTTY: true,
    ask: () => Promise.resolve("y"),
  });
  assert.equal(accepted.code, 0);
  assert.deepEqual(accepted.changed, [
    ["lvremove", "--yes", "vg0/home-before-upgrade"],
    ["lvremove", "--yes", "vg0/root-before-upgrade"],
  ]);
});

test("remove --dry-run prints the exact commands and runs none", async () => {
  const run = await rootsnap(["remove", "nightly", "--dry-run"]);
  assert.equal(run.code, 0);
  assert.equal(run.io.stdoutText, "lvremove --yes vg0/root-nightly\n");
  assert.deepEqual(run.changed, []);
});

function afterMerge(state: FakeSystem): void {
  // root is in use, so its merge waits for the next boot; home merges at once.
  state.afterChange = () => {
    state.lvs = editReport(sample(`${MERGING}/lvs.json`), (rows) =>
      rows.filter((row) => row.lv_name !== "home-before-upgrade"),
    );
  };
}

test("revert merges every volume and tells what merged now and what at next boot", async () => {
  const state = system();
  afterMerge(state);
  const run = await rootsnap(["revert", "before-upgrade", "--yes", "--json"], state);
  assert.equal(run.code, 0, run.io.stderrText);
  assert.deepEqual(run.changed, [
    ["lvconvert", "--merge", "vg0/home-before-upgrade"],
    ["lvconvert", "--merge", "vg0/root-before-upgrade"],
  ]);
  const document = JSON.parse(run.io.stdoutText) as { volumes: unknown[] };
  assert.deepEqual(document.volumes, [
    { origin: "vg0/home", snapshot: "vg0/home-before-upgrade", outcome: "merged" },
    { origin: "vg0/root", snapshot: "vg0/root-before-upgrade", outcome: "pending" },
  ]);
  assert.match(
    run.io.stderrText,
    /warning: \/boot is not in set before-upgrade: a kernel installed since/,
  );
});

test("revert reports a merge lvm did not record as a failure", async () => {
  const run = await rootsnap(["revert", "nightly", "--yes"]);
  assert.equal(run.code, ExitCode.failed);
  assert.match(run.io.stderrText, /exited 0 but lvm shows no merge/);
});

test("revert refuses invalid snapshots and origins already merging", async () => {
  const broken = system({
    lvs: editReport(sample(`${SETS}/lvs.json`), (rows) =>
      rows.map((row) =>
        row.lv_name === "scratch-snap" ? { ...row, lv_tags: "rootsnap.set=broken" } : row,
      ),
    ),
  });
  assertRefused(
    await rootsnap(["revert", "broken", "--yes"], broken),
    ExitCode.dataError,
    /scratch-snap is invalid/,
  );
  const merging = system({ lvs: sample(`${MERGING}/lvs.json`) });
  assertRefused(
    await rootsnap(["revert", "before-upgrade", "--yes"], merging),
    ExitCode.dataError,
    /already merging/,
  );
  const nightly = system({
    lvs: editReport(sample(`${MERGING}/lvs.json`), (rows) => [
      ...rows,
      cloneRow(rows, "home-before-upgrade", {
        lv_name: "root-nightly",
        origin: "root",
        lv_tags: "rootsnap.set=nightly",
      }),
    ]),
  });
  assertRefused(
    await rootsnap(["revert", "nightly", "--yes"], nightly),
    ExitCode.dataError,
    /vg0\/root already has a snapshot merging/,
  );
});

test("repair finishes a merge the kernel ran at boot but lvm never polled", async () => {
  const state = system({
    lvs: sample(`${MERGING}/lvs.json`),
    dmTables: { "vg0-root": "0 6291456 snapshot-merge 254:3 254:5 P 8\n" },
  });
  state.afterChange = () => {
    state.lvs = editReport(sample(`${MERGING}/lvs.json`), (rows) =>
      rows.filter((row) => row.lv_name !== "[root-before-upgrade]"),
    );
  };
  const run = await rootsnap(["repair", "--json"], state);
  assert.equal(run.code, 0, run.io.stderrText);
  assert.deepEqual(run.changed, [["lvchange", "--poll", "y", "vg0/root"]]);
  const document = JSON.parse(run.io.stdoutText) as { merges: unknown[] };
  assert.deepEqual(document.merges, [
    { origin: "vg0/root", snapshot: "vg0/root-before-upgrade", state: "finished" },
  ]);
  const after = await rootsnap(["status", "--json"], state);
  const shown = JSON.parse(after.io.stdoutText) as { merges: unknown[]; volume_groups: unknown[] };
  assert.deepEqual(shown.merges, []);
  assert.deepEqual(shown.volume_groups, [
    { name: "vg0", size_bytes: 10733223936, free_bytes: 4294967296 },
    { name: "thinvg", size_bytes: 6442450944, free_bytes: 1073741824 },
  ]);
});

test("status leaves a merge waiting for the next boot alone, and warns", async () => {
  const state = system({
    lvs: sample(`${MERGING}/lvs.json`),
    dmTables: { "vg0-root": "0 6291456 snapshot-origin 254:3\n" },
  });
  const run = await rootsnap(["status"], state);
  assert.equal(run.code, 0, run.io.stderrText);
  assert.deepEqual(run.changed, []);
  assert.match(run.io.stdoutText, /vg0\/root\s+vg0\/root-before-upgrade\s+waiting/);
  assert.match(
    run.io.stdoutText,
    /warning: vg0\/root-before-upgrade merges into vg0\/root at its next activation/,
  );
});

test("status warns of full snapshots", async () => {
  const run = await rootsnap(["status", "--json"]);
  const document = JSON.parse(run.io.stdoutText) as { warnings: string[]; merges: unknown[] };
  assert.deepEqual(document.warnings, ["vg0/root-nightly (set nightly): it is 85% full"]);
  assert.deepEqual(document.merges, []);
});

test("status says why this boot's set was not made, as the boot plan recorded it", async () => {
  const why =
    "creating vg0/home-boot-20260105-100000 failed, removed vg0/root-boot-20260105-100000 again: lvcreate failed with exit code 5: no room";
  const fs = memoryFs({ ...MOUNTINFO, "/run/rootsnap.boot-failure": `${why}\n` });
  const run = await rootsnap(["status", "--json"], system(), { fs });
  const document = JSON.parse(run.io.stdoutText) as { warnings: string[]; boot_failure: string };
  assert.equal(document.boot_failure, why);
  assert.equal(document.warnings[0], `this boot's set was not made: ${why}`);
  const text = await rootsnap(["status"], system(), { fs });
  assert.match(
    text.io.stdoutText,
    /^warning: this boot's set was not made: creating vg0\/home-boot-/m,
  );
});

test("status says a setup run was cut off, and what to do", async () => {
  const record = { grubConfig: "/boot/grub/grub.cfg", writtenSha256: null, savedBefore: true };
  const fs = memoryFs({ ...MOUNTINFO, "/etc/rootsnap/boot-setup.json": JSON.stringify(record) });
  const run = await rootsnap(["status", "--json"], system(), { fs });
  const document = JSON.parse(run.io.stdoutText) as { setup_interrupted: string | null };
  assert.match(
    document.setup_interrupted ?? "",
    /^rootsnap setup did not finish \(.*\): run rootsnap setup again to finish it, or rootsnap uninstall to undo it$/,
  );
  const done = { ...record, writtenSha256: "ab".repeat(32) };
  const finished = memoryFs({
    ...MOUNTINFO,
    "/etc/rootsnap/boot-setup.json": JSON.stringify(done),
  });
  const after = await rootsnap(["status", "--json"], system(), { fs: finished });
  assert.equal(
    (JSON.parse(after.io.stdoutText) as { setup_interrupted: null }).setup_interrupted,
    null,
  );
});

test("repair --dry-run lists the poll it would run", async () => {
  const state = system({
    lvs: sample(`${MERGING}/lvs.json`),
    dmTables: { "vg0-root": "0 6291456 snapshot-merge 254:3 254:5 P 8\n" },
  });
  const run = await rootsnap(["repair", "--dry-run"], state);
  assert.equal(run.code, 0);
  assert.deepEqual(run.changed, []);
  assert.match(run.io.stdoutText, /^lvchange --poll y vg0\/root$/m);
});

test("-v shows every command on stderr", async () => {
  const run = await rootsnap(["list", "-v"]);
  assert.match(run.io.stderrText, /^\+ lvs -a --reportformat json /);
  const made = await rootsnap(["create", "traced", "-v"]);
  assert.equal(made.code, 0, made.io.stderrText);
  assert.match(
    made.io.stderrText,
    /^\+ lvcreate .*vg0\/root$/m,
    "a change, through the effects gate",
  );
  assert.match(made.io.stderrText, /^\+ flock --nonblock --exclusive 3$/m, "the lock's flock too");
  const dry = await rootsnap(["create", "traced", "--dry-run", "-v"]);
  assert.match(dry.io.stderrText, /^\+ lvs /m);
  assert.doesNotMatch(dry.io.stderrText, /^\+ lvcreate/m, "a dry run starts no change");
});

test("an unexpected failure is exit 70", async () => {
  const run = await rootsnap(["list"], system({ lvs: '{"report":[{"lv":[{"lv_name":"x"}]}]}' }));
  assert.equal(run.code, ExitCode.dataError);
  const crash = await rootsnap(["list"], system(), {
    runner: () => Promise.reject(new TypeError("boom")),
  });
  assert.equal(crash.code, ExitCode.internal);
  assert.match(crash.io.stderrText, /internal error: boom/);
});

/** Set before-upgrade as a create cut off after two of its three snapshots. */
function incompleteSystem(
  tags = "rootsnap.members=3,rootsnap.member=vg0/home,rootsnap.member=vg0/root,rootsnap.member=vg0/swap",
): FakeSystem {
  return system({
    lvs: editReport(sample(`${SETS}/lvs.json`), (rows) =>
      rows.map((row) =>
        (row.lv_tags ?? "").includes("rootsnap.set=before-upgrade")
          ? { ...row, lv_tags: `${row.lv_tags ?? ""},${tags}` }
          : row,
      ),
    ),
  });
}

test("a set lacking a snapshot is shown as incomplete and cannot be reverted or archived", async () => {
  const listed = await rootsnap(["list", "--json"], incompleteSystem());
  const sets = (JSON.parse(listed.io.stdoutText) as { sets: { name: string; missing: number }[] })
    .sets;
  assert.deepEqual(
    sets.map((set) => [set.name, set.missing]),
    [
      ["weekly", 0],
      ["nightly", 0],
      ["before-upgrade", 1],
    ],
  );
  const table = await rootsnap(["list"], incompleteSystem());
  assert.match(table.io.stdoutText, /\n\s+-\s+-\s+-\s+-\s+missing\n/);
  assertRefused(
    await rootsnap(["revert", "before-upgrade", "--yes"], incompleteSystem()),
    ExitCode.dataError,
    /set before-upgrade is incomplete: 1 of its 3 snapshots are missing .*rootsnap remove before-upgrade/,
  );
  const backup = await rootsnap(
    ["backup", "before-upgrade", "--to", "/tmp/box.tar.zst"],
    incompleteSystem(),
  );
  assert.equal(backup.code, ExitCode.dataError, backup.io.stderrText);
  assert.match(backup.io.stderrText, /incomplete: .*not be the whole system/);
  assert.equal(
    backup.changed.filter((argv) => argv[1] !== "--version").length,
    0,
    "nothing mounted",
  );
  const status = await rootsnap(["status", "--json"], incompleteSystem());
  assert.ok(
    (JSON.parse(status.io.stdoutText) as { warnings: string[] }).warnings.some((w) =>
      /set before-upgrade is incomplete \(1 of 3 snapshots missing\)/.test(w),
    ),
    status.io.stdoutText,
  );
});

test("prune removes an incomplete set whatever its kind's policy keeps", async () => {
  const run = await rootsnap(["prune", "--yes"], incompleteSystem());
  assert.equal(run.code, 0, run.io.stderrText);
  assert.deepEqual(run.changed, [
    ["lvremove", "--yes", "vg0/home-before-upgrade"],
    ["lvremove", "--yes", "vg0/root-before-upgrade"],
  ]);
  assert.match(run.io.stdoutText, /before-upgrade.*incomplete: 1 snapshot\(s\) missing/);
  const complete = await rootsnap(["prune", "--yes"]);
  assert.deepEqual(complete.changed, [], "a whole pre-update set is kept by keep-last 10");
});

test("a set made before sets recorded their volumes is not pruned for a snapshot it lacks", async () => {
  const legacy = (): FakeSystem => incompleteSystem("rootsnap.members=3");
  const run = await rootsnap(["prune", "--yes"], legacy());
  assert.equal(run.code, 0, run.io.stderrText);
  assert.deepEqual(run.changed, []);
  assert.match(
    run.io.stdoutText,
    /before-upgrade.*perhaps in a VG that is absent now .*rootsnap remove before-upgrade drops it/,
  );
  assertRefused(
    await rootsnap(["revert", "before-upgrade", "--yes"], legacy()),
    ExitCode.dataError,
    /set before-upgrade is incomplete: 1 of its 3 snapshots are missing/,
  );
});

const SPANNING = "handwritten-lvm2-2.03.31/two-vgs/spanning";
const ABSENT_VG = "handwritten-lvm2-2.03.31/two-vgs/absent-vg";

/** Set span has vg0/home and thinvg/data; with `absent`, thinvg's disk is away. */
function spanSystem(absent: boolean): FakeSystem {
  const dir = absent ? ABSENT_VG : SPANNING;
  return system({ lvs: sample(`${dir}/lvs.json`), vgs: sample(`${dir}/vgs.json`) });
}

interface SpanJson {
  name: string;
  missing: number;
  unavailable: number;
  absent_vgs: string[];
  volumes: { snapshot: string }[];
}

async function spanSet(absent: boolean): Promise<SpanJson | undefined> {
  const run = await rootsnap(["list", "--json"], spanSystem(absent));
  assert.equal(run.code, 0, run.io.stderrText);
  assert.deepEqual(
    run.calls.map((argv) => argv[0]),
    ["lvs"],
    "list still makes one lvs call",
  );
  const { sets } = JSON.parse(run.io.stdoutText) as { sets: SpanJson[] };
  return sets.find((set) => set.name === "span");
}

test("a set with a snapshot in a VG lvm does not report is shown as such, not as incomplete", async () => {
  const away = await spanSet(true);
  assert.deepEqual(away, {
    ...away,
    missing: 0,
    unavailable: 1,
    absent_vgs: ["thinvg"],
    volumes: [{ ...away?.volumes[0], snapshot: "vg0/home-span" }],
  });
  const table = await rootsnap(["list"], spanSystem(true));
  assert.match(
    table.io.stdoutText,
    /\n\s+thinvg\/data\s+thinvg\/data-span\s+-\s+-\s+unavailable\n/,
    table.io.stdoutText,
  );
  const status = await rootsnap(["status", "--json"], spanSystem(true));
  const { warnings } = JSON.parse(status.io.stdoutText) as { warnings: string[] };
  assert.ok(
    warnings.some((w) =>
      /^set span has 1 of 2 snapshots in VG thinvg, which lvm does not see/.test(w),
    ),
    warnings.join("\n"),
  );
  const back = await spanSet(false);
  assert.equal(back?.missing, 0);
  assert.equal(back?.unavailable, 0);
  assert.deepEqual(back?.absent_vgs, []);
  assert.deepEqual(
    back?.volumes.map((volume) => volume.snapshot),
    ["thinvg/data-span", "vg0/home-span"],
  );
});

test("prune never removes a set for a VG that is absent, whatever its policy", async () => {
  const fs = memoryFs({
    ...MOUNTINFO,
    "/etc/rootsnap/rootsnap.toml": "[retention.manual]\nkeep-last = 0\n",
  });
  const run = await rootsnap(["prune", "--yes"], spanSystem(true), { fs });
  assert.equal(run.code, 0, run.io.stderrText);
  assert.ok(
    !run.changed.some((argv) => argv.some((word) => word.includes("span"))),
    JSON.stringify(run.changed),
  );
  assert.match(run.io.stdoutText, /span.*VG thinvg is absent: kept until lvm sees it again/);
  const back = await rootsnap(["prune", "--yes"], spanSystem(false), { fs });
  assert.ok(
    back.changed.some((argv) => argv.join(" ") === "lvremove --yes vg0/home-span"),
    "once whole again, its policy applies",
  );
});

test("revert and backup refuse a set whose VG is absent: connect the disk", async () => {
  assertRefused(
    await rootsnap(["revert", "span", "--yes"], spanSystem(true)),
    ExitCode.dataError,
    /set span has 1 of its 2 snapshots in VG thinvg, which lvm does not see now \(thinvg\/data\).*connect the disk that holds thinvg/,
  );
  const backup = await rootsnap(["backup", "span", "--to", "/tmp/span.tar"], spanSystem(true));
  assert.equal(backup.code, ExitCode.dataError, backup.io.stderrText);
  assert.match(backup.io.stderrText, /in VG thinvg, which lvm does not see now/);
  assert.equal(
    backup.changed.filter((argv) => argv[1] !== "--version").length,
    0,
    "nothing mounted",
  );
});

test("repair removes the copy-on-write volume an interrupted merge left as a plain LV", async () => {
  const leftover = (): string =>
    editReport(sample(`${SETS}/lvs.json`), (rows) =>
      rows.map((row) =>
        row.lv_name === "root-before-upgrade"
          ? { ...row, lv_attr: "-wi-a-----", origin: "", origin_size: "", segtype: "linear" }
          : row,
      ),
    );
  const state = system({ lvs: leftover() });
  state.afterChange = () => {
    state.lvs = editReport(leftover(), (rows) =>
      rows.filter((row) => row.lv_name !== "root-before-upgrade"),
    );
  };
  const run = await rootsnap(["repair", "--json"], state);
  assert.equal(run.code, 0, run.io.stderrText);
  assert.deepEqual(run.changed, [["lvremove", "--yes", "vg0/root-before-upgrade"]]);
  const document = JSON.parse(run.io.stdoutText) as { leftovers: string[] };
  assert.deepEqual(document.leftovers, ["vg0/root-before-upgrade"]);
  const after = await rootsnap(["status", "--json"], state);
  const shown = JSON.parse(after.io.stdoutText) as {
    leftovers: string[];
    sets: { name: string; volumes: { snapshot: string }[] }[];
  };
  assert.deepEqual(shown.leftovers, []);
  assert.deepEqual(
    shown.sets.find((set) => set.name === "before-upgrade")?.volumes.map((v) => v.snapshot),
    ["vg0/home-before-upgrade"],
  );
  assert.match(run.io.stderrText, /removed vg0\/root-before-upgrade, the copy-on-write volume/);
  const untouched = await rootsnap(["repair", "--json"]);
  assert.deepEqual(untouched.changed, [], "snapshots and origins are never taken for leftovers");
});

test("with --json an error is also a document on stdout, and --version --json answers in JSON", async () => {
  const missing = await rootsnap(["show", "nosuch", "--json"]);
  assert.equal(missing.code, 65);
  assert.match(missing.io.stderrText, /^rootsnap: error: .*nosuch/);
  const doc = JSON.parse(missing.io.stdoutText) as {
    version: number;
    error: { exit: number; message: string; hint: string | null };
  };
  assert.equal(doc.version, 1);
  assert.equal(doc.error.exit, 65);
  assert.match(doc.error.message, /nosuch/);
  const badOption = await rootsnap(["list", "--jsn", "--json"]);
  assert.equal(badOption.code, 64);
  const usage = JSON.parse(badOption.io.stdoutText) as { error: { exit: number; hint: string } };
  assert.equal(usage.error.exit, 64);
  assert.match(usage.error.hint, /--json/);
  const plain = await rootsnap(["show", "nosuch"]);
  assert.equal(plain.io.stdoutText, "", "no document without --json");
  const version = await rootsnap(["--version", "--json"], system(), { geteuid: () => 1000 });
  assert.deepEqual(JSON.parse(version.io.stdoutText), { version: 1, rootsnap: "dev" });
});

test("a --config that does not load is exit 78 for every verb; a default one with a typo warns where unread", async () => {
  for (const argv of [["list"], ["status"], ["show", "nightly"], ["create", "--dry-run"]]) {
    const missing = await rootsnap([...argv, "--config", "/nope.toml"]);
    assertRefused(missing, ExitCode.config, /--config \/nope\.toml: no such file/);
    assert.deepEqual(missing.changed, [], `${argv.join(" ")} changed nothing`);
  }
  const fs = memoryFs({
    ...MOUNTINFO,
    "/etc/rootsnap/rootsnap.toml": '[defaults]\nsise = "10%ORIGIN"\n',
    "/tmp/bad.toml": "[defaults\n",
  });
  const broken = await rootsnap(["list", "--config", "/tmp/bad.toml"], system(), { fs });
  assertRefused(broken, ExitCode.config, /\/tmp\/bad\.toml:1: /);
  const listed = await rootsnap(["list"], system(), { fs });
  assert.equal(listed.code, 0, listed.io.stderrText);
  assert.match(
    listed.io.stderrText,
    /^rootsnap: warning: .*rootsnap\.toml.*unknown key "sise".*list does not read it/m,
  );
  assert.equal(listed.io.stderrText.trimEnd().split("\n").length, 1, "one line");
  const created = await rootsnap(["create", "--dry-run"], system(), { fs });
  assert.equal(created.code, ExitCode.config, "a verb that reads it refuses it");
});

test("backup --verify needs no root, a backup does", async () => {
  const user = { geteuid: () => 1000 };
  const verify = await rootsnap(["backup", "--verify", "/nonexistent.tar.zst"], system(), user);
  assert.notEqual(verify.code, ExitCode.notRoot, verify.io.stderrText);
  assert.match(verify.io.stderrText, /nonexistent\.tar\.zst does not exist/);
  assert.deepEqual(verify.calls, [], "no lvm for a verify");
  const backup = await rootsnap(["backup", "nightly", "--to", "/tmp/x.tar"], system(), user);
  assertRefused(backup, ExitCode.notRoot, /needs root privileges/);
});
