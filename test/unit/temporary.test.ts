// Temporary sets (backup with no NAME) carry a tag naming their run, so that one left by a
// kill -9 is shown as temporary and removed by the next prune or backup.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../../src/cli/app.ts";
import { deviceName } from "../../src/commands/backup.ts";
import { ownerGone, startTimeOf } from "../../src/lifecycle/temporary.ts";
import { ExitCode } from "../../src/system/errors.ts";
import { readSetTags, setTags } from "../../src/sets/tags.ts";
import {
  changes,
  cloneRow,
  editReport,
  fakeLvm,
  memoryFs,
  sample,
  testIo,
  type FakeSystem,
} from "./helpers.ts";

const SETS = "handwritten-lvm2-2.03.16/two-vgs/sets";
const BOOT = "0b5e8b3c-6a47-4d7e-9a43-3c1f0a2d9e11";
const OTHER_BOOT = "7f0c2a41-2b9e-4c55-8f1d-b0a6e4c3d222";
const BOOT_ID = "/proc/sys/kernel/random/boot_id";

/** /proc/PID/stat of a process started `started` clock ticks after boot; its name has spaces. */
function procStat(pid: number, started: number): string {
  const after = ["S", "1", ...Array.from({ length: 17 }, () => "0"), String(started), "0"];
  return `${pid} (tmux: server) ${after.join(" ")}\n`;
}

test("a temporary set's tag names its run (pid, start time, boot) and reads back", () => {
  const owner = { pid: 31337, started: "8812", boot: BOOT };
  const identity = { name: "backup-x", kind: "manual" as const, created: new Date(0) };
  const tags = setTags({ ...identity, temporary: owner });
  assert.ok(tags.includes(`rootsnap.temporary=31337:8812:${BOOT}`), tags.join(" "));
  assert.ok(
    tags.every((tag) => /^[A-Za-z0-9_+.\-/=!:&#]+$/.test(tag) && tag.length <= 128),
    "LVM takes every tag",
  );
  assert.deepEqual(readSetTags(tags, null)?.temporary, owner);
  assert.equal(readSetTags(setTags(identity), null)?.temporary, undefined);
  assert.equal(
    readSetTags([...setTags(identity), "rootsnap.temporary=x"], null)?.temporary,
    undefined,
  );
  assert.equal(startTimeOf(procStat(31337, 8812)), "8812");
});

test("a run is gone when its pid is free, holds a later process, or lived in another boot", async () => {
  const fs = memoryFs({ [BOOT_ID]: `${BOOT}\n`, "/proc/4243/stat": procStat(4243, 5000) });
  assert.equal(await ownerGone(fs, { pid: 4243, started: "5000", boot: BOOT }), false);
  assert.equal(await ownerGone(fs, { pid: 4243, started: "4000", boot: BOOT }), true);
  assert.equal(await ownerGone(fs, { pid: 4243, started: "5000", boot: OTHER_BOOT }), true);
  assert.equal(await ownerGone(fs, { pid: 999, started: "5000", boot: BOOT }), true);
});

type Row = Record<string, string>;

/** A temporary set's snapshot of vg0/root, made by `owner` ("PID:START:BOOT"). */
function temporaryRow(
  rows: Row[],
  name: string,
  minor: number,
  owner: string,
  at: number,
  open = true,
): Row {
  return cloneRow(rows, "root-nightly", {
    lv_name: `root-${name}`,
    lv_path: `/dev/vg0/root-${name}`,
    lv_dm_path: `/dev/mapper/vg0-root--${name.replace(/-/g, "--")}`,
    snap_percent: "1.00",
    data_percent: "1.00",
    lv_tags: `rootsnap,rootsnap.set=${name},rootsnap.kind=manual,rootsnap.created=${at},rootsnap.members=1,rootsnap.temporary=${owner}`,
    lv_kernel_minor: String(minor),
    lv_device_open: open ? "open" : "",
  });
}

/** Four temporary sets: A gone and mounted at its own directory, B running, C's pid reused, E gone but mounted elsewhere. */
function leftovers(): { system: FakeSystem; mountinfo: string } {
  const lvs = editReport(sample(`${SETS}/lvs.json`), (rows) => [
    ...rows,
    temporaryRow(rows, "backup-20260104-090000", 20, `999:5000:${BOOT}`, 1767517200),
    temporaryRow(rows, "backup-20260104-080000", 21, `4243:5000:${BOOT}`, 1767513600),
    temporaryRow(rows, "backup-20260104-070000", 22, `4243:4000:${BOOT}`, 1767510000, false),
    temporaryRow(rows, "backup-20260104-060000", 23, `998:5000:${BOOT}`, 1767506400),
  ]);
  const mountinfo = [
    sample("handwritten-mountinfo.txt").trimEnd(),
    "40 22 254:20 / /run/rootsnap/backup-20260104-090000 ro,nosuid,nodev,relatime - ext4 /dev/mapper/vg0-root--backup ro",
    "41 22 254:21 / /run/rootsnap/backup-20260104-080000 ro,nosuid,nodev,relatime - ext4 /dev/mapper/vg0-root--backup ro",
    "43 22 254:23 / /mnt/look ro,nosuid,nodev,relatime - ext4 /dev/mapper/vg0-root--backup ro",
    "",
  ].join("\n");
  return {
    system: { lvs, vgs: sample(`${SETS}/vgs.json`), dmTables: {}, failures: {} },
    mountinfo,
  };
}

function procFiles(mountinfo: string): Record<string, string> {
  return {
    "/proc/self/mountinfo": mountinfo,
    [BOOT_ID]: `${BOOT}\n`,
    "/proc/4243/stat": procStat(4243, 5000),
    "/proc/4242/stat": procStat(4242, 7777),
  };
}

test("list shows a temporary set as such: temporary in JSON, and in the table's KIND", async () => {
  const { system, mountinfo } = leftovers();
  const fake = fakeLvm(system);
  const io = testIo(fake.runner, { fs: memoryFs(procFiles(mountinfo)), lockPath: "/nonexistent" });
  assert.equal(await main(["list", "--json"], io), 0, io.stderrText);
  const sets = (
    JSON.parse(io.stdoutText) as { sets: { name: string; kind: string; temporary: boolean }[] }
  ).sets;
  assert.deepEqual(
    sets.map((set) => [set.name, set.kind, set.temporary]),
    [
      ["backup-20260104-090000", "manual", true],
      ["backup-20260104-080000", "manual", true],
      ["backup-20260104-070000", "manual", true],
      ["backup-20260104-060000", "manual", true],
      ["weekly", "manual", false],
      ["nightly", "scheduled", false],
      ["before-upgrade", "pre-update", false],
    ],
  );
  const table = testIo(fake.runner, {
    fs: memoryFs(procFiles(mountinfo)),
    lockPath: "/nonexistent",
  });
  assert.equal(await main(["list"], table), 0);
  assert.match(
    table.stdoutText,
    /\nbackup-20260104-090000\s+temporary\s+2026-01-04 \d\d:00:00 [+-]\d\d:\d\d/,
  );
  assert.match(table.stdoutText, /\nweekly\s+manual\s/);
});

async function withLock<T>(run: (lockPath: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "rootsnap-temporary-"));
  try {
    return await run(join(dir, "rootsnap.lock"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("prune removes the temporary sets of gone runs (unmounting rootsnap's own mount first), and they count in no policy", async () => {
  const { system, mountinfo } = leftovers();
  const fake = fakeLvm(system);
  const config = "/etc/rootsnap/rootsnap.toml";
  const files = { ...procFiles(mountinfo), [config]: "[retention.manual]\nkeep-last = 1\n" };
  const io = await withLock(async (lockPath) => {
    const io = testIo(fake.runner, { fs: memoryFs(files), lockPath });
    assert.equal(await main(["prune", "--yes", "--json"], io), 0, io.stderrText);
    return io;
  });
  assert.deepEqual(changes(fake.calls), [
    ["umount", "/run/rootsnap/backup-20260104-090000"],
    ["lvremove", "--yes", "vg0/root-backup-20260104-090000"],
    ["lvremove", "--yes", "vg0/root-backup-20260104-070000"],
  ]);
  const decisions = (
    JSON.parse(io.stdoutText) as {
      prune: { sets: { name: string; keep: boolean; reason: string }[] };
    }
  ).prune.sets;
  const reason = (name: string) => decisions.find((d) => d.name === name);
  assert.deepEqual(
    reason("weekly"),
    {
      name: "weekly",
      kind: "manual",
      created: "2026-01-03T00:00:00Z",
      keep: true,
      reason: "newest 1 of 1",
    },
    "a temporary set takes no place of a manual one",
  );
  assert.match(reason("backup-20260104-080000")?.reason ?? "", /pid 4243, still running/);
  assert.equal(reason("backup-20260104-080000")?.keep, true);
  assert.match(
    reason("backup-20260104-060000")?.reason ?? "",
    /which is gone, but mounted at \/mnt\/look/,
  );
  assert.equal(reason("backup-20260104-060000")?.keep, true);
  assert.match(reason("backup-20260104-090000")?.reason ?? "", /pid 999, which is gone$/);
});

test("backup with no NAME removes the temporary sets of gone runs first, and tags its own with its run", async () => {
  await withLock(async (lockPath) => {
    const dest = join(lockPath, "..");
    // The tree's / on the destination's device: refused before anything is mounted.
    const device = deviceName(statSync(dest).dev);
    const [major, minor] = device.split(":");
    const { system, mountinfo } = leftovers();
    system.lvs = editReport(system.lvs, (rows) =>
      rows.map((row) =>
        row.lv_name === "root"
          ? { ...row, lv_kernel_major: major ?? "", lv_kernel_minor: minor ?? "" }
          : row,
      ),
    );
    system.afterChange = (argv) => {
      if (argv[0] !== "lvcreate") return;
      const name = argv[argv.indexOf("--name") + 1] ?? "";
      const tags = argv.filter((_, i) => argv[i - 1] === "--addtag");
      system.lvs = editReport(system.lvs, (rows) => [
        ...rows,
        cloneRow(rows, "root-nightly", {
          lv_name: name,
          lv_tags: tags.join(","),
          lv_kernel_minor: "30",
          lv_device_open: "",
        }),
      ]);
    };
    const fake = fakeLvm(system);
    const files = procFiles(mountinfo.replace("254:0 / / ", `${device} / / `));
    const run = testIo(fake.runner, { fs: memoryFs(files), lockPath });
    const code = await main(["backup", "--to", join(dest, "x.tar")], run);
    assert.equal(code, ExitCode.dataError, run.stderrText);
    assert.match(run.stderrText, /inside the backed-up tree/);
    const changed = changes(fake.calls).filter((argv) => argv[1] !== "--version");
    assert.deepEqual(changed.slice(0, 3), [
      ["umount", "/run/rootsnap/backup-20260104-090000"],
      ["lvremove", "--yes", "vg0/root-backup-20260104-090000"],
      ["lvremove", "--yes", "vg0/root-backup-20260104-070000"],
    ]);
    const create = changed[3] ?? [];
    assert.equal(create[0], "lvcreate");
    assert.ok(
      create.includes(`rootsnap.temporary=4242:7777:${BOOT}`),
      `its own set names its run: ${create.join(" ")}`,
    );
    assert.deepEqual(changed.slice(4), [["lvremove", "--yes", "vg0/root-backup-20260105-100000"]]);
    assert.match(
      run.stderrText,
      /removed set backup-20260104-090000, the temporary set of the backup run by pid 999, which is gone/,
    );
  });
});
