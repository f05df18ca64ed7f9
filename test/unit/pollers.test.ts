// lvm's own merge pollers: recognised from their command lines, and left alone by repair.
import assert from "node:assert/strict";
import { test } from "node:test";
import { repair } from "../../src/lifecycle/repair.ts";
import { isPoller, lvmPollersAfter } from "../../src/lvm/pollers.ts";
import {
  changes,
  editReport,
  fakeLvm,
  memoryFiles,
  memoryFs,
  sample,
  testContext,
  type FakeSystem,
} from "./helpers.ts";

const MERGING = "handwritten-lvm2-2.03.31/two-vgs/merging";
// As ps showed it on Debian 13 after a revert: udev's autoactivation forked to poll.
const FORKED = "(lvm2)\0\0\0\0\0\0\0\0vgchange\0-aay\0--autoactivation\0event\0sysvg\0";

test("pollers are lvm forked into the background, or lvmpolld's lvpoll", () => {
  assert.equal(isPoller(FORKED), true);
  // strncpy cuts "(lvm2)" to argv[0]'s length.
  assert.equal(isPoller("(lv\0lvchange\0-aay\0vg0/root\0"), true);
  assert.equal(
    isPoller("/usr/sbin/lvm\0lvpoll\0--polloperation\0merge\0--interval\x0015\0vg0/root\0"),
    true,
  );
  assert.equal(isPoller("/usr/sbin/lvm\0vgchange\0-aay\0sysvg\0"), false);
  assert.equal(isPoller("lvs\0--reportformat\0json\0"), false);
  assert.equal(isPoller("(sd-pam)\0"), false);
  assert.equal(isPoller(""), false);
});

function merging(): FakeSystem {
  const state: FakeSystem = {
    lvs: sample(`${MERGING}/lvs.json`),
    vgs: sample(`${MERGING}/vgs.json`),
    dmTables: { "vg0-root": "0 6291456 snapshot-merge 254:3 254:5 P 8\n" },
    failures: {},
  };
  return state;
}

function contextWith(
  state: FakeSystem,
  files: Record<string, string>,
  sleep: (ms: number) => Promise<void>,
) {
  const fake = fakeLvm(state);
  const notes: string[] = [];
  const tree = memoryFiles(files);
  const context = testContext(fake.runner, {
    fs: tree.files,
    output: { note: (m) => notes.push(m), warn: (m) => notes.push(m) },
    sleep,
  });
  return { context, calls: fake.calls, notes, data: tree.data };
}

test("repair leaves a running merge to lvm's poller, and says so", async () => {
  const files: Record<string, string> = { "/proc/812/cmdline": FORKED, "/proc/1/cmdline": "init" };
  const { context, calls } = contextWith(merging(), files, () => Promise.resolve());
  const result = await repair(context);
  assert.deepEqual(changes(calls), [], "no lvchange --poll beside lvm's own");
  assert.deepEqual(
    result.merges.map((merge) => merge.state),
    ["running"],
  );
  assert.ok(
    result.warnings.some((warning) => /lvm \(pid 812\) is still finishing a merge/.test(warning)),
    result.warnings.join("\n"),
  );
});

test("after lvm's poller has ended, repair finishes what it left", async () => {
  const state = merging();
  const files: Record<string, string> = { "/proc/812/cmdline": FORKED };
  let naps = 0;
  const { context, calls, data } = contextWith(state, files, () => Promise.resolve());
  const pause = (): Promise<void> => {
    naps += 1;
    // The poller ends after three seconds, the merge finished but not yet polled away.
    if (naps === 3) data.delete("/proc/812/cmdline");
    return Promise.resolve();
  };
  assert.deepEqual(await lvmPollersAfter(context.fs, 60_000, pause), []);
  assert.equal(naps, 3);
  state.afterChange = () => {
    state.lvs = editReport(sample(`${MERGING}/lvs.json`), (rows) =>
      rows.filter((row) => row.lv_name !== "[root-before-upgrade]"),
    );
  };
  const result = await repair(context);
  assert.deepEqual(changes(calls), [["lvchange", "--poll", "y", "vg0/root"]]);
  assert.deepEqual(
    result.merges.map((merge) => merge.state),
    ["finished"],
  );
  assert.deepEqual(result.warnings, []);
});

test("waiting for a poller that does not end gives up after the time given", async () => {
  const files: Record<string, string> = { "/proc/812/cmdline": FORKED };
  let naps = 0;
  const pollers = await lvmPollersAfter(memoryFs(files), 5000, () => {
    naps += 1;
    return Promise.resolve();
  });
  assert.equal(naps, 5);
  assert.deepEqual(pollers, [
    { pid: 812, command: "(lvm2) vgchange -aay --autoactivation event sysvg" },
  ]);
});
