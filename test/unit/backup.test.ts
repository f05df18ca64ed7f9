import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  mkdirSync,
  readdirSync,
  openSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { openFileSink, streamSink } from "../../src/backup/archive.ts";
import { fillReader, parseSnapshotStatus, parseThinPoolStatus } from "../../src/backup/fill.ts";
import {
  failedStage,
  judgeFill,
  nextFillDelayMs,
  runArchive,
  type ArchiveJob,
  type Fill,
} from "../../src/backup/engine.ts";
import { parseManifest } from "../../src/backup/manifest.ts";
import { dmName } from "../../src/lvm/model.ts";
import { mountOptions, planMounts, refuseMounted, treeMembers } from "../../src/backup/mount.ts";
import { parseRchar, startPipeline } from "../../src/backup/pipeline.ts";
import { figures, progressBar, progressLine } from "../../src/backup/progress.ts";
import {
  swapFileExcludes,
  tarCreateArgv,
  tarExtractArgv,
  tarHasSelinux,
  zstdCompressArgv,
  zstdDecompressArgv,
} from "../../src/backup/tar.ts";
import { restore } from "../../src/commands/restore.ts";
import { run } from "../../src/system/runner.ts";
import { verifyArchive } from "../../src/backup/verify.ts";
import { deviceName } from "../../src/commands/backup.ts";
import { parseMountinfo } from "../../src/config/mounts.ts";
import { ExitCode, RootsnapError } from "../../src/system/errors.ts";
import { toLogicalVolume } from "../../src/lvm/model.ts";
import { parseReport } from "../../src/lvm/report.ts";
import { collectSets, type SnapshotSet } from "../../src/sets/model.ts";
import { fakeLvm, sample, tempDir, testContext, testEffects } from "./helpers.ts";
import { Lvm } from "../../src/lvm/lvm.ts";

const SETS = "handwritten-lvm2-2.03.16/two-vgs/sets";
const sets = collectSets(parseReport(sample(`${SETS}/lvs.json`), "lv").map(toLogicalVolume));
const mounts = parseMountinfo(sample("handwritten-mountinfo.txt"));
const setNamed = (name: string): SnapshotSet => {
  const set = sets.find((candidate) => candidate.name === name);
  assert.ok(set, name);
  return set;
};

test("a set's snapshots go where their origins are mounted, / first", () => {
  const entries = planMounts(setNamed("before-upgrade"), mounts, "/run/rootsnap/before-upgrade");
  assert.deepEqual(
    entries.map((e) => [e.snapshot, e.target, e.fsType, e.activate]),
    [
      ["vg0/root-before-upgrade", "/run/rootsnap/before-upgrade", "ext4", false],
      ["vg0/home-before-upgrade", "/run/rootsnap/before-upgrade/home", "ext4", false],
    ],
  );
  assert.deepEqual(treeMembers(entries), [".", "./home"]);
});

test("a thin snapshot with the activation-skip flag is activated, XFS gets nouuid", () => {
  const [entry] = planMounts(setNamed("weekly"), mounts, "/mnt/w");
  assert.equal(entry?.activate, true);
  assert.equal(entry?.target, "/mnt/w/srv/my data");
  assert.deepEqual(entry?.options, ["ro", "nosuid", "nodev", "nouuid", "norecovery"]);
  assert.deepEqual(mountOptions("ext4"), ["ro", "nosuid", "nodev", "noload"]);
});

test("a set mounted already is refused with the way out", () => {
  const mounted = parseMountinfo(
    `${sample("handwritten-mountinfo.txt")}40 22 254:4 / /mnt/x ro,relatime - ext4 /dev/mapper/vg0-root--before--upgrade ro\n`,
  );
  assert.throws(
    () => {
      refuseMounted(setNamed("before-upgrade"), mounted);
    },
    (e: RootsnapError) =>
      e.exitCode === ExitCode.dataError &&
      /already mounted at \/mnt\/x/.test(e.message) &&
      /rootsnap umount before-upgrade/.test(e.hint ?? ""),
  );
  refuseMounted(setNamed("before-upgrade"), mounts);
});

test("the fill level warns once at 80 % and stops at 95 % or on an invalid snapshot", () => {
  const fill = (percent: number, invalid = false): Fill => ({
    volume: "vg0/s",
    snapshot: "vg0/s",
    percent,
    invalid,
  });
  const warned = new Set<string>();
  assert.deepEqual(judgeFill([fill(50)], warned), []);
  assert.equal((judgeFill([fill(81)], warned) as string[]).length, 1);
  assert.deepEqual(judgeFill([fill(85)], warned), []);
  assert.equal((judgeFill([fill(95)], warned) as { kind: string }).kind, "full");
  assert.equal((judgeFill([fill(10, true)], warned) as { kind: string }).kind, "invalid");
});

test("tar is told every fidelity flag, the excludes, and the tree's members", () => {
  const argv = tarCreateArgv({
    root: "/run/rootsnap/s",
    members: [".", "./var"],
    excludes: ["./proc/*"],
    selinux: true,
  });
  for (const flag of [
    "--xattrs",
    "--xattrs-include=*",
    "--acls",
    "--selinux",
    "--numeric-owner",
    "--one-file-system",
    "--sparse",
    "--exclude=./proc/*",
  ])
    assert.ok(argv.includes(flag), flag);
  assert.deepEqual(argv.slice(-3), ["--", ".", "./var"]);
  assert.deepEqual(
    swapFileExcludes(
      "Filename\tType\tSize\tUsed\tPriority\n/swapfile  file  1024 0 -2\n/dev/dm-2 partition 10 0 -3\n",
    ),
    ["./swapfile"],
  );
});

test("numbers from the system: st_dev, /proc/PID/io, progress", () => {
  assert.equal(deviceName(0xfe00), "254:0");
  assert.equal(deviceName(2049), "8:1");
  assert.equal(parseRchar("rchar: 12345\nwchar: 2\n"), 12345);
  const p = { verb: "backup" as const, done: 512, total: 1024, elapsedMs: 1000, fillPercent: 12 };
  assert.equal(figures(p).percent, 50);
  assert.equal(figures(p).etaSeconds, 1);
  assert.match(progressBar(p), /\[#{12}-{12}\] 512 B \/ 1\.00 KiB .* snapshot 12% full/);
  assert.match(progressLine(p), /^backup: 512 B of 1\.00 KiB \(50%\)/);
});

test("a manifest must carry a sha256, files and bytes", () => {
  assert.throws(() => parseManifest("{}", "m.json"), /not a rootsnap manifest/);
  const good = { version: 1, sha256: "a".repeat(64), files: 3, bytes: 10 };
  assert.equal(parseManifest(JSON.stringify(good), "m.json").files, 3);
});

const PRESENT = {
  tar: spawnSync("tar", ["--version"]).status === 0,
  zstd: spawnSync("zstd", ["--version"]).status === 0,
};
type Program = keyof typeof PRESENT;

function missing(programs: readonly Program[]): string | undefined {
  const absent = programs.filter((program) => !PRESENT[program]);
  if (absent.length === 0) return undefined;
  const names = absent.map((program) => (program === "tar" ? "GNU tar" : program));
  return `${names.join(" and ")} needed (apt-get install ${absent.join(" ")})`;
}

/** A test's skip option: skipped where a program it runs is missing, but never under CI. */
function skipWithout(...programs: Program[]): string | false {
  const reason = missing(programs);
  return reason !== undefined && process.env.CI === undefined ? reason : false;
}

/** First in such a test: under CI a missing program fails it with that reason. */
function requirePrograms(...programs: Program[]): void {
  const reason = missing(programs);
  if (reason !== undefined) assert.fail(`${reason}; under CI a missing program is a failure`);
}

/** runArchive over every member of `root`, with no snapshot to watch and no warnings. */
function archiveTree(root: string, job: Pick<ArchiveJob, "sink" | "total"> & Partial<ArchiveJob>) {
  return runArchive({
    tar: (indexFile) =>
      tarCreateArgv({ root, members: ["."], excludes: [], selinux: false, indexFile }),
    readFill: () => Promise.resolve([]),
    warn: () => undefined,
    clock: () => Date.now(),
    ...job,
  });
}

test(
  "tar | zstd into a 0600 file, counted and hashed; --verify reads it back",
  { skip: skipWithout("tar", "zstd") },
  async () => {
    requirePrograms("tar", "zstd");
    const dir = tempDir("rootsnap-archive-");
    const tree = join(dir, "tree");
    mkdirSync(join(tree, "etc"), { recursive: true });
    writeFileSync(join(tree, "etc", "hostname"), "box\n");
    writeFileSync(join(tree, "big"), Buffer.alloc(1 << 20, 7));
    const path = join(dir, "out.tar.zst");
    const sink = await openFileSink(path, 4242);
    const [partial] = readdirSync(dir).filter((name) =>
      name.startsWith(".out.tar.zst.partial-4242-"),
    );
    assert.ok(partial !== undefined, "the partial archive carries the pid and a random part");
    assert.equal(statSync(join(dir, partial)).mode & 0o777, 0o600);
    const outcome = await archiveTree(tree, {
      compressor: ["zstd", "-T0", "-q", "-c"],
      sink,
      total: 1 << 20,
    });
    assert.equal(outcome.stop, undefined);
    assert.deepEqual(
      outcome.ends.map((end) => [end.argv[0], end.code]),
      [
        ["tar", 0],
        ["zstd", 0],
        ["tee", 0],
      ],
    );
    assert.equal(outcome.files, 4);
    await sink.finish();
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const manifest = {
      version: 1,
      sha256: outcome.sha256,
      files: outcome.files,
      bytes: outcome.bytes,
    };
    writeFileSync(`${path}.manifest.json`, JSON.stringify(manifest));
    const verified = await verifyArchive(path, { clock: () => Date.now() });
    assert.equal(verified.files, 4);
    assert.equal(verified.sha256, outcome.sha256);
    assert.equal(outcome.bytes, statSync(path).size);
    assert.equal(outcome.sha256, createHash("sha256").update(readFileSync(path)).digest("hex"));
    const bytes = readFileSync(path);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 20) ^ 0xff, bytes.length - 20);
    writeFileSync(path, bytes);
    await assert.rejects(verifyArchive(path, { clock: () => Date.now() }), (e: RootsnapError) => {
      return e.exitCode === ExitCode.dataError;
    });
  },
);

test(
  "with -v every program a backup and a restore start is traced: tar, zstd, tee and the checksum's readers",
  { skip: skipWithout("tar", "zstd") },
  async () => {
    const dir = tempDir("rootsnap-traced-");
    const tree = join(dir, "tree");
    mkdirSync(join(tree, "etc"), { recursive: true });
    writeFileSync(join(tree, "etc", "hostname"), "box\n");
    const traced: (readonly string[])[] = [];
    const effects = testEffects(run, { trace: (argv) => traced.push(argv) });
    // The stages run under the setpriv prefix where it has --pdeathsig: the trace shows it.
    const program = (argv: readonly string[]): readonly string[] =>
      argv[0] === "setpriv" ? argv.slice(argv.indexOf("--") + 1) : argv;
    const path = join(dir, "out.tar.zst");
    const sink = await openFileSink(path, 4242);
    const outcome = await archiveTree(tree, {
      compressor: zstdCompressArgv(),
      sink,
      total: 4096,
      programs: effects,
    });
    assert.equal(failedStage(outcome.ends), undefined);
    await sink.finish();
    const backupPrograms = traced.map((argv) => program(argv)[0]);
    for (const name of ["mkfifo", "wc", "sha256sum", "tar", "zstd", "tee"])
      assert.ok(backupPrograms.includes(name), `${name} traced: ${backupPrograms.join(" ")}`);
    const tar = traced.map(program).find((argv) => argv[0] === "tar");
    assert.deepEqual(tar?.slice(0, 2), outcome.ends[0]?.argv.slice(0, 2), "tar's whole argv");
    assert.deepEqual(
      traced.map(program).find((argv) => argv[0] === "zstd"),
      zstdCompressArgv(),
    );
    assert.deepEqual(effects.changes, [], "an archive changes nothing the gate lists");

    traced.length = 0;
    const target = join(dir, "restored");
    mkdirSync(target);
    await restore(testContext(run, { effects }), path, target);
    assert.equal(readFileSync(join(target, "etc", "hostname"), "utf8"), "box\n");
    const restored = traced.map(program);
    assert.deepEqual(
      restored.find((argv) => argv[0] === "zstd"),
      zstdDecompressArgv(path),
    );
    assert.deepEqual(
      restored.find((argv) => argv[0] === "tar" && argv.includes("--extract")),
      tarExtractArgv(target, await tarHasSelinux(run)),
    );
  },
);

test("stages joined by FIFOs pass every byte, see their EOF, and a writer ends with its reader", async () => {
  const dir = tempDir("rootsnap-joins-");
  const joins = ["a", "b", "c"].map((name) => join(dir, name));
  assert.equal(spawnSync("mkfifo", ["-m", "600", ...joins]).status, 0);
  const input = join(dir, "in");
  writeFileSync(input, Buffer.from(Array.from({ length: 3 << 20 }, (_, i) => (i * 7) % 251)));
  const out = openSync(join(dir, "out"), "w");
  try {
    const copied = startPipeline([["cat", "--", input], ["cat"], ["cat"]], {
      stdout: out,
      joins,
    });
    assert.deepEqual(
      (await copied.ended).map((end) => end.code),
      [0, 0, 0],
    );
    assert.ok(readFileSync(join(dir, "out")).equals(readFileSync(input)));
    // rootsnap keeps no end of a FIFO open: yes gets SIGPIPE once head has had its 10 bytes.
    const cut = startPipeline([["yes"], ["head", "-c", "10"]], { stdout: out, joins });
    const ends = await cut.ended;
    assert.deepEqual(
      ends.map((end) => [end.code, end.signal]),
      [
        [null, "SIGPIPE"],
        [0, null],
      ],
    );
  } finally {
    closeSync(out);
  }
});

test("an abort stops tar and the outcome says why", { skip: skipWithout("tar") }, async () => {
  requirePrograms("tar");
  const dir = tempDir("rootsnap-abort-");
  const sink = await openFileSink(join(dir, "a.tar"), 4243);
  const controller = new AbortController();
  controller.abort("SIGINT");
  const outcome = await archiveTree("/usr", {
    sink,
    total: 1,
    signal: controller.signal,
  });
  await sink.discard();
  assert.deepEqual(outcome.stop, { kind: "cancelled", reason: "SIGINT" });
});

test(
  "to a descriptor rootsnap does not measure (stdout), the tee counts the bytes too",
  { skip: skipWithout("tar") },
  async () => {
    requirePrograms("tar");
    const dir = tempDir("rootsnap-stream-");
    const tree = join(dir, "tree");
    mkdirSync(tree);
    writeFileSync(join(tree, "a"), "a\n");
    const out = join(dir, "out.tar");
    const fd = openSync(out, "w");
    try {
      const outcome = await archiveTree(tree, {
        sink: streamSink(fd),
        total: 2,
      });
      assert.equal(outcome.stop, undefined);
      assert.equal(outcome.bytes, statSync(out).size);
      assert.ok(outcome.bytes >= 10240, `a tar archive is at least 10 KiB, got ${outcome.bytes}`);
      assert.equal(outcome.sha256, createHash("sha256").update(readFileSync(out)).digest("hex"));
    } finally {
      closeSync(fd);
    }
  },
);

test(
  "a checksum program that fails makes the outcome say so, even after tar has finished",
  { skip: skipWithout("tar") },
  async () => {
    requirePrograms("tar");
    const dir = tempDir("rootsnap-sum-");
    const bin = join(dir, "bin");
    mkdirSync(bin);
    // Reads its FIFO to the end, as sha256sum would, then fails after tar and tee are done.
    writeFileSync(
      join(bin, "sha256sum"),
      '#!/bin/sh\ncat "$2" > /dev/null; sleep 0.5; echo "sha256sum: broken" >&2; exit 1\n',
      { mode: 0o755 },
    );
    const tree = join(dir, "tree");
    mkdirSync(tree);
    writeFileSync(join(tree, "a"), "a\n");
    const sink = await openFileSink(join(dir, "a.tar"), 4244);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path ?? ""}`;
    try {
      const outcome = await archiveTree(tree, {
        sink,
        total: 2,
      });
      assert.equal(outcome.stop?.kind, "checksum");
      assert.match(String((outcome.stop as { error: unknown }).error), /sha256sum: broken/);
    } finally {
      process.env.PATH = path;
      await sink.discard();
    }
  },
);

test("the fill level is read sooner the faster the snapshot fills", () => {
  assert.equal(nextFillDelayMs(0, 0), 5000, "an idle, empty snapshot: every 5 s");
  assert.equal(nextFillDelayMs(60, 0), 2000, "half full: every 2 s at most");
  assert.equal(nextFillDelayMs(85, 0), 1000, "past the warning level: every second");
  // 10 % in 10 s: 85 points left take 85 s; half of that is over the 5 s cap.
  assert.equal(nextFillDelayMs(10, 10 / 10_000), 5000);
  // 1 % per 100 ms at 40 %: the stop level is 5.5 s away; read again in 2.75 s.
  assert.equal(nextFillDelayMs(40, 1 / 100), 2750);
  assert.equal(nextFillDelayMs(90, 1 / 100), 1000, "never more often than once a second");
});

const DM_STATUS = new URL("../fixtures/lvm2-2.03.16/bookworm-simple/dm-status/", import.meta.url)
  .pathname;

/** The recorded steps: `dmsetup status` by device name, and lvs's rows of the same moment. */
function recordedSteps(): { step: string; status: Map<string, string>; lvs: ReportRowOf[] }[] {
  const text = readFileSync(join(DM_STATUS, "recorded.txt"), "utf8");
  return text
    .split(/^### step /m)
    .slice(1)
    .map((part) => {
      const [head = "", report = ""] = part.split(/^### lvs$/m);
      const status = new Map<string, string>();
      for (const line of head.split("\n").slice(1)) {
        const match = /^(\S+): (.*)$/.exec(line);
        if (match?.[1] !== undefined) status.set(match[1], match[2] ?? "");
      }
      const json = report.split(/^### end$/m)[0] ?? "";
      return { step: head.split("\n")[0] ?? "", status, lvs: parseReport(json, "lv") };
    });
}
type ReportRowOf = Record<string, string>;

test("a snapshot's and a thin pool's fill from dmsetup status are lvs's, on recorded output", () => {
  const steps = recordedSteps();
  assert.equal(steps.length, 7);
  let snapshots = 0;
  let pools = 0;
  let invalid = 0;
  for (const { step, status, lvs } of steps) {
    for (const row of lvs) {
      const name = row.lv_name ?? "";
      if (row.lv_attr?.[0] === "s") {
        const line = status.get(dmName("vg0", name));
        assert.ok(line !== undefined, `${step}: a status for ${name}`);
        const fill = parseSnapshotStatus(line);
        assert.equal(fill.percent?.toFixed(2), row.snap_percent, `${step}: ${name} (${line})`);
        assert.equal(fill.invalid, row.lv_attr[4] === "I", `${step}: ${name} invalid`);
        snapshots += 1;
        if (fill.invalid) invalid += 1;
      }
      if (row.segtype === "thin-pool") {
        const line = status.get(dmName("vg0", name, "tpool"));
        assert.ok(line !== undefined, `${step}: a status for the pool ${name}`);
        const fill = parseThinPoolStatus(line);
        assert.equal(fill.percent?.toFixed(2), row.data_percent, `${step}: ${name} (${line})`);
        assert.equal(fill.invalid, false);
        pools += 1;
      }
    }
  }
  assert.deepEqual({ snapshots, pools, invalid }, { snapshots: 10, pools: 7, invalid: 1 });
});

test("a thin pool that failed counts as invalid; other targets give no fill", () => {
  assert.deepEqual(parseThinPoolStatus("0 131072 thin-pool Fail"), {
    percent: 100,
    invalid: true,
  });
  assert.deepEqual(parseThinPoolStatus("0 524288 thin 131072 524287"), {
    percent: null,
    invalid: false,
  });
  assert.equal(parseSnapshotStatus("0 131072 snapshot-origin").percent, null);
  assert.equal(dmName("my-vg", "root-snap"), "my--vg-root--snap");
  assert.equal(dmName("thinvg", "pool", "tpool"), "thinvg-pool-tpool");
});

test("the fill reader asks dmsetup for each snapshot and each thin pool once, and no lvs", async () => {
  const thin = new URL(
    "../fixtures/lvm2-2.03.31/trixie-thin/thin-snapshots/lvs.json",
    import.meta.url,
  );
  const report = readFileSync(thin, "utf8");
  const sets = [
    ...collectSets(parseReport(report, "lv").map(toLogicalVolume)),
    ...collectSets(parseReport(sample(`${SETS}/lvs.json`), "lv").map(toLogicalVolume)),
  ];
  const devices = new Set<string>();
  for (const set of sets) {
    const { runner, calls } = fakeLvm({ lvs: report, vgs: "", dmTables: {}, failures: {} });
    const fills = await fillReader(new Lvm(testEffects(runner)), set)();
    assert.ok(calls.every((argv) => argv[0] === "dmsetup" && argv[1] === "status"));
    assert.equal(fills.length, calls.length);
    calls.forEach((argv) => devices.add(argv.at(-1) ?? ""));
  }
  assert.ok(devices.has("thinvg-pool-tpool"), [...devices].join(" "));
  assert.ok(
    [...devices].some((device) => /^vg0-root--/.test(device)),
    [...devices].join(" "),
  );
});

test("the kernel's snapshot status gives the fill level, or says the snapshot is invalid", () => {
  assert.deepEqual(parseSnapshotStatus("0 6291456 snapshot 3072/131072 16\n"), {
    percent: (100 * 3072) / 131072,
    invalid: false,
  });
  assert.deepEqual(parseSnapshotStatus("0 6291456 snapshot Invalid"), {
    percent: 100,
    invalid: true,
  });
  assert.equal(parseSnapshotStatus("0 6291456 linear").percent, null);
});
