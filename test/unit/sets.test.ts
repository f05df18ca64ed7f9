import assert from "node:assert/strict";
import { test } from "node:test";
import { ExitCode } from "../../src/system/errors.ts";
import { Lvm } from "../../src/lvm/lvm.ts";
import { toLogicalVolume, toVolumeGroup } from "../../src/lvm/model.ts";
import { parseReport } from "../../src/lvm/report.ts";
import { executeCreate } from "../../src/sets/apply.ts";
import { collectSets } from "../../src/sets/model.ts";
import { defaultSetName, setNameProblem } from "../../src/sets/names.ts";
import { planCreate, type PlanInputs } from "../../src/sets/plan.ts";
import {
  cowExtents,
  largestUsefulCowBytes,
  parseSizePolicy,
  type SizePolicy,
} from "../../src/sets/size.ts";
import { readSetTags, setTags } from "../../src/sets/tags.ts";
import { changes, cloneRow, editReport, fakeLvm, sample, testEffects } from "./helpers.ts";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const lvsOf = (path: string) => parseReport(sample(path), "lv").map(toLogicalVolume);
const vgsOf = (path: string) => parseReport(sample(path), "vg").map(toVolumeGroup);
const SETS = "handwritten-lvm2-2.03.16/two-vgs/sets";

function policy(text: string): SizePolicy {
  const parsed = parseSizePolicy(text);
  assert.ok(parsed, text);
  return parsed;
}

test("sets are read from tags, newest first, with states and fill levels", () => {
  const sets = collectSets(lvsOf(`${SETS}/lvs.json`));
  assert.deepEqual(
    sets.map((set) => [set.name, set.kind, set.created.toISOString()]),
    [
      ["weekly", "manual", "2026-01-03T00:00:00.000Z"],
      ["nightly", "scheduled", "2026-01-02T00:00:00.000Z"],
      ["before-upgrade", "pre-update", "2026-01-01T00:00:00.000Z"],
    ],
  );
  const [weekly, nightly, beforeUpgrade] = sets;
  assert.deepEqual(
    beforeUpgrade?.volumes.map((volume) => [
      volume.origin,
      volume.snapshot,
      volume.usedPercent,
      volume.state,
    ]),
    [
      ["vg0/home", "vg0/home-before-upgrade", 0.1, "active"],
      ["vg0/root", "vg0/root-before-upgrade", 2.54, "active"],
    ],
  );
  assert.equal(nightly?.volumes[0]?.usedPercent, 85);
  const thin = weekly?.volumes[0];
  assert.equal(thin?.thin, true);
  assert.equal(thin?.state, "inactive");
  assert.equal(thin?.usedOf, "pool");
  assert.equal(thin?.usedPercent, 41.25, "a thin snapshot reports its pool's fill");
});

test("untagged snapshots belong to no set", () => {
  const sets = collectSets(lvsOf(`${SETS}/lvs.json`));
  assert.ok(
    !sets.some((set) => set.volumes.some((volume) => volume.snapshot === "vg0/scratch-snap")),
  );
});

test("a merging snapshot shows as merging in its set", () => {
  const sets = collectSets(lvsOf("handwritten-lvm2-2.03.31/two-vgs/merging/lvs.json"));
  const root = sets
    .find((set) => set.name === "before-upgrade")
    ?.volumes.find((volume) => volume.origin === "vg0/root");
  assert.equal(root?.state, "merging");
});

test("set names follow LVM's rules and a length limit", () => {
  assert.equal(setNameProblem("before-upgrade"), undefined);
  assert.equal(setNameProblem("v1.2+rc_3"), undefined);
  assert.match(setNameProblem("has space") ?? "", /only letters/);
  assert.match(setNameProblem("x".repeat(200)) ?? "", /200 characters/);
  assert.match(setNameProblem("-dash") ?? "", /only letters/);
  assert.match(setNameProblem("a_tmeta") ?? "", /reserved/);
  assert.match(setNameProblem("") ?? "", /empty/);
  assert.equal(
    defaultSetName("manual", new Date("2026-01-31T23:59:58Z")),
    "manual-20260131-235958",
  );
});

test("tags carry name, kind and time, and read back", () => {
  const identity = { name: "x", kind: "boot" as const, created: new Date("2026-01-01T00:00:00Z") };
  const tags = setTags(identity);
  assert.deepEqual(tags, [
    "rootsnap",
    "rootsnap.set=x",
    "rootsnap.kind=boot",
    "rootsnap.created=1767225600",
  ]);
  for (const tag of tags) assert.match(tag, /^[A-Za-z0-9_+.\-/=!:&#]+$/);
  assert.deepEqual(readSetTags(tags, null), identity);
  assert.equal(readSetTags(["other"], null), undefined);
  const counted = { ...identity, members: 2 };
  assert.deepEqual(setTags(counted).at(-1), "rootsnap.members=2");
  assert.deepEqual(readSetTags(setTags(counted), null), counted);
  for (const bad of ["0", "-1", "x", "99999"]) {
    assert.equal(readSetTags([...tags, `rootsnap.members=${bad}`], null)?.members, undefined, bad);
  }
  const recorded = { ...counted, memberVolumes: ["vg0/root", "vg2/data.1"] };
  const recordedTags = setTags(recorded);
  assert.deepEqual(recordedTags.slice(-2), [
    "rootsnap.member=vg0/root",
    "rootsnap.member=vg2/data.1",
  ]);
  for (const tag of recordedTags) assert.match(tag, /^[A-Za-z0-9_+.\-/=!:&#]+$/);
  assert.deepEqual(readSetTags(recordedTags, null), recorded);
  assert.deepEqual(
    readSetTags([...tags, "rootsnap.member=root", "rootsnap.member=a/b/c"], null)?.memberVolumes,
    undefined,
    "a member tag that names no VG/LV is ignored",
  );
});

test("size policies parse, and nonsense does not", () => {
  assert.deepEqual(parseSizePolicy("10G"), { kind: "fixed", bytes: 10 * GiB, text: "10G" });
  assert.equal(parseSizePolicy("512MiB")?.kind, "fixed");
  assert.equal(parseSizePolicy("1.5g")?.kind, "fixed");
  assert.deepEqual(parseSizePolicy("20%origin"), {
    kind: "percent",
    percent: 20,
    of: "ORIGIN",
    text: "20%origin",
  });
  assert.equal(parseSizePolicy("100%ORIGIN")?.kind, "percent");
  assert.equal(parseSizePolicy("250%USED")?.kind, "percent");
  for (const bad of ["10Q", "10", "0G", "150%FREE", "0%USED", "%ORIGIN", "20%VG", "-1G", ""]) {
    assert.equal(parseSizePolicy(bad), undefined, bad);
  }
});

test("sizes from 1M to 8P, and percentages of ORIGIN and FREE up to 100; N%USED may be more", () => {
  assert.equal(parseSizePolicy("1M")?.kind, "fixed");
  assert.equal(parseSizePolicy("8P")?.kind, "fixed");
  assert.equal(parseSizePolicy("100%FREE")?.kind, "percent");
  for (const bad of ["1023K", "8.001P", "1E", "100.5%ORIGIN", "0.0%USED"]) {
    assert.equal(parseSizePolicy(bad), undefined, bad);
  }
});

test("COW extents: rounded up, at least one, no more than lvm would keep", () => {
  const inputs = { originBytes: 3 * GiB, vgFreeBytes: 4 * GiB, extentBytes: 4 * MiB };
  assert.equal(cowExtents(policy("20%ORIGIN"), inputs), Math.ceil((0.2 * 3 * GiB) / (4 * MiB)));
  assert.equal(cowExtents(policy("50%FREE"), inputs), 512);
  assert.equal(cowExtents(policy("1M"), inputs), 1);
  assert.equal(cowExtents(policy("10%USED"), { ...inputs, usedBytes: 1 * GiB }), 26);
  const capped = cowExtents(policy("10G"), inputs);
  assert.equal(capped, Math.ceil(largestUsefulCowBytes(3 * GiB) / (4 * MiB)));
  assert.ok(capped > 768 && capped < 800);
});

function inputs(overrides: Partial<PlanInputs> = {}): PlanInputs {
  return {
    set: { name: "new", kind: "manual", created: new Date("2026-01-05T10:00:00Z") },
    requests: [{ volume: "vg0/root", size: policy("1G") }],
    lvs: lvsOf(`${SETS}/lvs.json`),
    vgs: vgsOf(`${SETS}/vgs.json`),
    usedBytes: new Map(),
    ...overrides,
  };
}

const NEW_SET_TAGS = [
  ...["--addtag", "rootsnap", "--addtag", "rootsnap.set=new"],
  ...["--addtag", "rootsnap.kind=manual", "--addtag", "rootsnap.created=1767607200"],
  ...["--addtag", "rootsnap.members=2"],
  ...["--addtag", "rootsnap.member=vg0/root", "--addtag", "rootsnap.member=thinvg/data"],
];

test("a plan names the lvcreate of every volume, thick with extents and thin without", () => {
  const plan = planCreate(
    inputs({
      requests: [
        { volume: "vg0/root", size: policy("1G") },
        { volume: "thinvg/data", size: policy("1G") },
      ],
    }),
  );
  assert.deepEqual(
    plan.snapshots.map((snapshot) => snapshot.argv),
    [
      [
        "lvcreate",
        "--snapshot",
        "--extents",
        "256",
        "--name",
        "root-new",
        ...NEW_SET_TAGS,
        "vg0/root",
      ],
      [
        "lvcreate",
        "--snapshot",
        "--setactivationskip",
        "n",
        "--name",
        "data-new",
        ...NEW_SET_TAGS,
        "thinvg/data",
      ],
    ],
  );
});

test("a plan is refused before anything is made", () => {
  const refusals: [Partial<PlanInputs>, number, RegExp][] = [
    [
      { set: { name: "nightly", kind: "manual", created: new Date() } },
      ExitCode.dataError,
      /already exists/,
    ],
    [
      { requests: [{ volume: "vg0/nope", size: policy("1G") }] },
      ExitCode.dataError,
      /not a logical volume/,
    ],
    [
      { requests: [{ volume: "root", size: policy("1G") }] },
      ExitCode.usage,
      /not of the form VG\/LV/,
    ],
    [
      { requests: [{ volume: "vg0/root-nightly", size: policy("1G") }] },
      ExitCode.dataError,
      /itself a snapshot/,
    ],
    [
      { requests: [{ volume: "thinvg/pool", size: policy("1G") }] },
      ExitCode.dataError,
      /thin pool/,
    ],
    [
      {
        requests: [
          { volume: "vg0/root", size: policy("100%ORIGIN") },
          { volume: "vg0/home", size: policy("2G") },
        ],
      },
      ExitCode.noSpace,
      /vg0 needs .* but has 4.00 GiB free/,
    ],
    [
      {
        requests: [
          { volume: "vg0/root", size: policy("1G") },
          { volume: "vg0/root", size: policy("1G") },
        ],
      },
      ExitCode.usage,
      /named twice/,
    ],
  ];
  for (const [overrides, exitCode, message] of refusals) {
    assert.throws(
      () => planCreate(inputs(overrides)),
      (error: Error & { exitCode?: number }) => {
        assert.equal(error.exitCode, exitCode, error.message);
        assert.match(error.message, message);
        return true;
      },
    );
  }
});

test("a thin snapshot is refused when its pool is nearly full", () => {
  const full = editReport(sample(`${SETS}/lvs.json`), (rows) =>
    rows.map((row) => (row.lv_name === "pool" ? { ...row, metadata_percent: "93.10" } : row)),
  );
  const lvs = parseReport(full, "lv").map(toLogicalVolume);
  const requests = [{ volume: "thinvg/data", size: policy("1G") }];
  assert.throws(() => planCreate(inputs({ lvs, requests })), {
    exitCode: ExitCode.noSpace,
    message: "thin pool thinvg/pool is 93.1% full; a snapshot of thinvg/data could fill it",
  });
  assert.equal(planCreate(inputs({ requests })).snapshots[0]?.thin, true);
});

test("an origin with a merge pending cannot be snapshotted", () => {
  const lvs = lvsOf("handwritten-lvm2-2.03.16/two-vgs/merging/lvs.json");
  assert.throws(() => planCreate(inputs({ lvs })), {
    message: "vg0/root has a snapshot merging into it; it cannot be snapshotted",
    hint: "rootsnap status shows the merge; rootsnap repair finishes one an earlier boot left running",
  });
});

test("a failing lvcreate removes the snapshots already made", async () => {
  const plan = planCreate(
    inputs({
      requests: [
        { volume: "vg0/root", size: policy("1G") },
        { volume: "vg0/home", size: policy("1G") },
      ],
    }),
  );
  // lvs after the failure: the first snapshot, and a remnant of the failed lvcreate.
  const tagged = editReport(sample(`${SETS}/lvs.json`), (rows) => [
    ...rows,
    cloneRow(rows, "root-nightly", { lv_name: "root-new", lv_tags: "rootsnap,rootsnap.set=new" }),
    cloneRow(rows, "home-before-upgrade", {
      lv_name: "home-new",
      lv_tags: "rootsnap,rootsnap.set=new",
    }),
  ]);
  const system = fakeLvm({
    lvs: tagged,
    vgs: sample(`${SETS}/vgs.json`),
    dmTables: {},
    failures: {
      "vg0/home": {
        code: 5,
        stderr: '  Volume group "vg0" has insufficient free space (3 extents): 256 required.\n',
      },
    },
  });
  await assert.rejects(
    executeCreate(new Lvm(testEffects(system.runner)), plan),
    (error: Error & { exitCode?: number }) => {
      assert.equal(error.exitCode, ExitCode.noSpace);
      assert.match(
        error.message,
        /creating vg0\/home-new failed, removed vg0\/root-new, vg0\/home-new again/,
      );
      return true;
    },
  );
  assert.deepEqual(
    changes(system.calls).map((argv) => argv.slice(0, 2).concat(argv.at(-1) ?? "")),
    [
      ["lvcreate", "--snapshot", "vg0/root"],
      ["lvcreate", "--snapshot", "vg0/home"],
      ["lvremove", "--yes", "vg0/root-new"],
      ["lvremove", "--yes", "vg0/home-new"],
    ],
  );
});

test("when even the removal fails, the leftovers are named", async () => {
  const plan = planCreate(
    inputs({
      requests: [
        { volume: "vg0/root", size: policy("1G") },
        { volume: "vg0/home", size: policy("1G") },
      ],
    }),
  );
  const system = fakeLvm({
    lvs: "not json",
    vgs: "",
    dmTables: {},
    failures: { "vg0/home": { code: 5 }, "vg0/root-new": { code: 5, stderr: "  device busy\n" } },
  });
  await assert.rejects(
    executeCreate(new Lvm(testEffects(system.runner)), plan),
    (error: Error & { exitCode?: number; hint?: string }) => {
      assert.equal(error.exitCode, ExitCode.failed);
      assert.match(error.message, /could not remove vg0\/root-new/);
      assert.match(error.hint ?? "", /lvremove vg0\/root-new/);
      return true;
    },
  );
});

test("an LV of two segments (a snapshot lvextend grew) is one LV, and its set has each member once", async () => {
  const SETS = "handwritten-lvm2-2.03.31/two-vgs/sets";
  const plain = sample(`${SETS}/lvs.json`);
  // lvs reports one row per segment once the report has segment fields (segtype,
  // chunk_size): seen in a trixie guest after `lvextend -L +64M vgsys/root-a`.
  const grown = editReport(plain, (rows) =>
    rows.flatMap((row) => (row.lv_name === "root-before-upgrade" ? [row, { ...row }] : [row])),
  );
  const lvsOf = async (text: string) => {
    const fake = fakeLvm({
      lvs: text,
      vgs: sample(`${SETS}/vgs.json`),
      dmTables: {},
      failures: {},
    });
    return new Lvm(testEffects(fake.runner)).logicalVolumes();
  };
  const before = await lvsOf(plain);
  const after = await lvsOf(grown);
  assert.equal(parseReport(grown, "lv").length, parseReport(plain, "lv").length + 1);
  assert.deepEqual(after, before);
  const set = collectSets(after).find((s) =>
    s.volumes.some((v) => v.snapshot.endsWith("root-before-upgrade")),
  );
  assert.ok(set !== undefined);
  assert.equal(new Set(set.volumes.map((v) => v.snapshot)).size, set.volumes.length);
});
