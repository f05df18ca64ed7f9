// rootsnap status only looks; rootsnap repair (and boot-finish) finish the merges nothing
// polls and remove what an interrupted merge left, leaving to lvm's poller what it polls.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../../src/cli/app.ts";
import { repair } from "../../src/commands/repair.ts";
import { status } from "../../src/commands/status.ts";
import { bootFinish } from "../../src/commands/boot-finish.ts";
import { acquireLock } from "../../src/system/lock.ts";
import type { Runner } from "../../src/system/runner.ts";
import {
  changes,
  editReport,
  fakeLvm,
  memoryFiles,
  memoryFs,
  sample,
  tempDir,
  testContext,
  testIo,
  type FakeSystem,
} from "./helpers.ts";

const MERGING = "handwritten-lvm2-2.03.31/two-vgs/merging";
const MOUNTINFO = { "/proc/self/mountinfo": sample("handwritten-mountinfo.txt") };
// As ps showed it on Debian 13 after a revert: udev's autoactivation forked to poll.
const FORKED = "(lvm2)\0\0\0\0\0\0\0\0vgchange\0-aay\0--autoactivation\0event\0sysvg\0";
const RUNNING_TABLE = { "vg0-root": "0 6291456 snapshot-merge 254:3 254:5 P 8\n" };

/** The merging sample with vg0/home-before-upgrade turned into what an interrupted merge leaves. */
function withLeftover(lvs: string): string {
  return editReport(lvs, (rows) =>
    rows.map((row) =>
      row.lv_name === "home-before-upgrade"
        ? { ...row, lv_attr: "-wi-a-----", origin: "", origin_size: "", segtype: "linear" }
        : row,
    ),
  );
}

/** vg0/root merging in the kernel, unpolled, and a leftover; lvm shows each repair's effect. */
function broken(): FakeSystem {
  const state: FakeSystem = {
    lvs: withLeftover(sample(`${MERGING}/lvs.json`)),
    vgs: sample(`${MERGING}/vgs.json`),
    dmTables: { ...RUNNING_TABLE },
    failures: {},
  };
  state.afterChange = (argv) => {
    const gone = argv[0] === "lvchange" ? "[root-before-upgrade]" : "home-before-upgrade";
    state.lvs = editReport(state.lvs, (rows) => rows.filter((row) => row.lv_name !== gone));
    if (argv[0] === "lvchange") state.dmTables = {};
  };
  return state;
}

/** A runner that fails the test on any command but a report. */
function lookingOnly(runner: Runner): Runner {
  return (argv, options) =>
    ["lvs", "vgs", "dmsetup"].includes(argv[0] ?? "")
      ? runner(argv, options)
      : Promise.reject(new Error(`status ran a changing command: ${argv.join(" ")}`));
}

test("status changes nothing, takes no lock, and says which repairs are due", async () => {
  const fake = fakeLvm(broken());
  const lockPath = join(tempDir("rootsnap-status-"), "rootsnap.lock");
  const holder = await acquireLock(lockPath, 999);
  try {
    const io = testIo(lookingOnly(fake.runner), { lockPath, fs: memoryFs(MOUNTINFO) });
    assert.equal(await main(["status", "--json"], io), 0, io.stderrText);
    assert.equal(io.stderrText, "", "no waiting for the lock, no note");
    assert.deepEqual(changes(fake.calls), []);
    const document = JSON.parse(io.stdoutText) as Record<string, unknown>;
    assert.deepEqual(Object.keys(document), [
      "version",
      "sets",
      "volume_groups",
      "merges",
      "leftovers",
      "boot_loader_pending",
      "repair_due",
      "boot_failure",
      "setup_interrupted",
      "invalid",
      "warnings",
    ]);
    assert.deepEqual(document.merges, [
      { origin: "vg0/root", snapshot: "vg0/root-before-upgrade", state: "running" },
    ]);
    assert.deepEqual(document.leftovers, ["vg0/home-before-upgrade"]);
    assert.equal(document.repair_due, true);
    const warnings = document.warnings as string[];
    assert.ok(
      warnings.includes(
        "a merge of vg0/root-before-upgrade into vg0/root ran in the kernel but nothing polled it to its end, so lvm still lists it: rootsnap repair finishes it",
      ),
      warnings.join("\n"),
    );
    assert.ok(
      warnings.includes(
        "vg0/home-before-upgrade is what an interrupted merge left: rootsnap repair removes it",
      ),
      warnings.join("\n"),
    );
    const sets = document.sets as { name: string; volumes: { snapshot: string }[] }[];
    assert.deepEqual(
      sets.find((set) => set.name === "before-upgrade")?.volumes.map((v) => v.snapshot),
      ["vg0/root-before-upgrade"],
      "the leftover is no member of its set any more",
    );
    const text = testIo(lookingOnly(fake.runner), { lockPath, fs: memoryFs(MOUNTINFO) });
    assert.equal(await main(["status"], text), 0, text.stderrText);
    assert.match(text.stdoutText, /vg0\/root\s+vg0\/root-before-upgrade\s+running/);
    assert.match(
      text.stdoutText,
      /^warning: vg0\/home-before-upgrade is what an interrupted merge left: rootsnap repair removes it$/m,
    );
  } finally {
    holder.release();
  }
});

test("status with nothing to repair says none is due; a waiting merge is only a warning", async () => {
  const state: FakeSystem = {
    lvs: sample(`${MERGING}/lvs.json`),
    vgs: sample(`${MERGING}/vgs.json`),
    dmTables: { "vg0-root": "0 6291456 snapshot-origin 254:3\n" },
    failures: {},
  };
  const fake = fakeLvm(state);
  const result = await status(testContext(lookingOnly(fake.runner), { fs: memoryFs(MOUNTINFO) }));
  assert.equal(result.repairDue, false);
  assert.deepEqual(result.leftovers, []);
  assert.deepEqual(
    result.merges.map((merge) => merge.state),
    ["waiting"],
  );
  assert.ok(
    result.warnings.some((w) => /merges into vg0\/root at its next activation/.test(w)),
    result.warnings.join("\n"),
  );
  assert.ok(!result.warnings.some((w) => /rootsnap repair/.test(w)));
});

test("status while lvm's poller works on a merge: no repair due, and it says so", async () => {
  const files = { ...MOUNTINFO, "/proc/812/cmdline": FORKED, "/proc/1/cmdline": "init" };
  const fake = fakeLvm(broken());
  const result = await status(testContext(lookingOnly(fake.runner), { fs: memoryFs(files) }));
  assert.equal(result.repairDue, false);
  assert.deepEqual(result.leftovers, ["vg0/home-before-upgrade"]);
  assert.ok(
    result.warnings.some((w) => /^lvm \(pid 812\) is still finishing a merge/.test(w)),
    result.warnings.join("\n"),
  );
  assert.ok(!result.warnings.some((w) => /rootsnap repair/.test(w)));
});

test("repair finishes the merge nothing polled and removes the leftover, under the lock", async () => {
  const state = broken();
  const fake = fakeLvm(state);
  const io = testIo(fake.runner, { fs: memoryFs(MOUNTINFO) });
  assert.equal(await main(["repair", "--json"], io), 0, io.stderrText);
  assert.deepEqual(changes(fake.calls), [
    ["lvchange", "--poll", "y", "vg0/root"],
    ["lvremove", "--yes", "vg0/home-before-upgrade"],
  ]);
  const document = JSON.parse(io.stdoutText) as Record<string, unknown>;
  assert.deepEqual(document, {
    version: 1,
    dry_run: false,
    merges: [{ origin: "vg0/root", snapshot: "vg0/root-before-upgrade", state: "finished" }],
    leftovers: ["vg0/home-before-upgrade"],
    boot_loader_installed: [],
    warnings: [],
    commands: ["lvchange --poll y vg0/root", "lvremove --yes vg0/home-before-upgrade"],
  });
  assert.match(io.stderrText, /removed vg0\/home-before-upgrade, the copy-on-write volume/);
  const after = testIo(lookingOnly(fake.runner), { fs: memoryFs(MOUNTINFO) });
  assert.equal(await main(["status", "--json"], after), 0);
  const again = JSON.parse(after.stdoutText) as { repair_due: boolean; merges: unknown[] };
  assert.equal(again.repair_due, false);
  assert.deepEqual(again.merges, []);
  const nothing = testIo(fake.runner, { fs: memoryFs(MOUNTINFO) });
  assert.equal(await main(["repair"], nothing), 0);
  assert.equal(nothing.stderrText, "nothing to repair\n");
});

test("repair --dry-run lists what it would run and changes nothing", async () => {
  const fake = fakeLvm(broken());
  const io = testIo(fake.runner, { fs: memoryFs(MOUNTINFO) });
  assert.equal(await main(["repair", "--dry-run"], io), 0, io.stderrText);
  assert.deepEqual(changes(fake.calls), []);
  assert.equal(
    io.stdoutText,
    "lvchange --poll y vg0/root\nlvremove --yes vg0/home-before-upgrade\n",
  );
  const result = await repair(testContext(fake.runner, { fs: memoryFs(MOUNTINFO), dryRun: true }));
  assert.deepEqual(result.leftovers, ["vg0/home-before-upgrade"], "what it would remove");
  assert.equal(result.dryRun, true);
});

test("repair leaves a running merge and its leftover to lvm's poller, and says so", async () => {
  const files = { ...MOUNTINFO, "/proc/812/cmdline": FORKED, "/proc/1/cmdline": "init" };
  const fake = fakeLvm(broken());
  const result = await repair(testContext(fake.runner, { fs: memoryFs(files) }));
  assert.deepEqual(changes(fake.calls), [], "no lvchange --poll or lvremove beside lvm's own");
  assert.deepEqual(
    result.merges.map((merge) => merge.state),
    ["running"],
  );
  assert.deepEqual(result.leftovers, []);
  assert.deepEqual(result.warnings, [
    "lvm (pid 812) is still finishing a merge; rootsnap leaves it to lvm (run rootsnap repair again when it has ended)",
  ]);
});

test("boot-finish still finishes the merges nothing polled, and removes the leftovers", async () => {
  const fake = fakeLvm(broken());
  const context = testContext(fake.runner, {
    fs: memoryFs({ ...MOUNTINFO, "/proc/stat": "btime 1767607200\n" }),
  });
  const result = await bootFinish(context, memoryFiles({}).files, [
    "/usr/bin/node",
    "/usr/bin/rootsnap",
  ]);
  assert.deepEqual(result.mergesFinished, ["vg0/root-before-upgrade"]);
  const changed = changes(fake.calls);
  assert.deepEqual(changed.slice(0, 2), [
    ["lvchange", "--poll", "y", "vg0/root"],
    ["lvremove", "--yes", "vg0/home-before-upgrade"],
  ]);
  assert.deepEqual(result.commands.slice(0, 2), changed.slice(0, 2));
});
