// The boot plan: rendered from create's own plan, and the generated script run for real
// under sh with stand-ins for lvm's programs, date and rootsnap on PATH.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { acquireLock, DEFAULT_LOCK_PATH } from "../../src/system/lock.ts";
import {
  BOOT_FAILURE_PATH,
  BOOT_PLAN_PATH,
  placeholderSet,
  renderBootPlan,
  shellWord,
  unplannedReason,
} from "../../src/boot/plan.ts";
import { toLogicalVolume, toVolumeGroup } from "../../src/lvm/model.ts";
import { parseReport } from "../../src/lvm/report.ts";
import { run } from "../../src/system/runner.ts";
import { defaultSetName, defaultSetNameFormat } from "../../src/sets/names.ts";
import { planCreate, type CreatePlan } from "../../src/sets/plan.ts";
import { parseSizePolicy, type SizePolicy } from "../../src/sets/size.ts";
import type { BootFiles } from "../../src/system/files.ts";
import { refreshBootPlan } from "../../src/lifecycle/boot-plan.ts";
import type { Context } from "../../src/system/context.ts";
import {
  editReport,
  fakeLvm,
  memoryFiles,
  memoryFs,
  sample,
  tempDir,
  testContext,
  type FakeSystem,
} from "./helpers.ts";

const SETS = "handwritten-lvm2-2.03.16/two-vgs/sets";
const EPOCH = 1767607200;
const AT = new Date(EPOCH * 1000);

function policy(text: string): SizePolicy {
  const parsed = parseSizePolicy(text);
  assert.ok(parsed, text);
  return parsed;
}

/** create's plan of vg0/root and thinvg/data for the identity `set`. */
function planFor(set: { name: string; created: Date }): CreatePlan {
  return planCreate({
    set: { ...set, kind: "boot" },
    requests: [
      { volume: "vg0/root", size: policy("1G") },
      { volume: "thinvg/data", size: policy("1G") },
    ],
    lvs: parseReport(sample(`${SETS}/lvs.json`), "lv").map(toLogicalVolume),
    vgs: parseReport(sample(`${SETS}/vgs.json`), "vg").map(toVolumeGroup),
    usedBytes: new Map(),
  });
}

interface Guest {
  readonly dir: string;
  readonly config: string;
  readonly rootsnap: string;
}

/**
 * A directory with stand-ins on PATH for lvcreate, lvremove, lvs, date and rootsnap (each
 * logs its argv, one word per line, then "--"), and a configuration file.
 */
function setUp(tools: Record<string, string>): Guest {
  const dir = tempDir("rootsnap-plan-");
  mkdirSync(join(dir, "bin"));
  const bodies: Record<string, string> = {
    date: `exec /bin/date -d @${EPOCH} "$@"`,
    lvcreate: 'echo "  Logical volume created."',
    lvremove: "exit 0",
    lvs: "exit 5",
    rootsnap: "exit 0",
    ...tools,
  };
  for (const [name, body] of Object.entries(bodies)) {
    const path = join(dir, "bin", name);
    writeFileSync(
      path,
      `#!/bin/sh\n{ printf '%s\\n' ${name} "$@"; echo --; } >>${dir}/calls\n${body}\n`,
    );
    chmodSync(path, 0o755);
  }
  const config = join(dir, "rootsnap.toml");
  writeFileSync(config, '[defaults]\nsize = "1G"\n');
  return { dir, config, rootsnap: join(dir, "bin", "rootsnap") };
}

/** The generated script, with its /run paths moved into the guest's directory. */
function script(g: Guest, plan: CreatePlan | undefined, unplanned?: string): string {
  const sources = [g.config, g.rootsnap].map((path) => ({
    path,
    sha256: existsSync(path)
      ? createHash("sha256").update(readFileSync(path)).digest("hex")
      : undefined,
  }));
  const text = renderBootPlan({
    plan,
    ...(unplanned === undefined ? {} : { unplanned }),
    // Run as Node runs rootsnap's script: an interpreter, then the file.
    program: ["/bin/sh", g.rootsnap],
    sources,
  })
    .replaceAll(BOOT_FAILURE_PATH, join(g.dir, "failure"))
    .replaceAll(DEFAULT_LOCK_PATH, join(g.dir, "lock"));
  const path = join(g.dir, "boot-plan.sh");
  writeFileSync(path, text);
  return path;
}

async function runPlan(
  g: Guest,
  path: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const result = await run(["sh", path], {
    env: { PATH: `${g.dir}/bin:/usr/bin:/bin` },
    okCodes: [0, 1, 73],
  });
  return { code: result.code, stdout: result.stdout, stderr: result.stderr };
}

/** The argv lists the stand-ins saw, in order. */
function calls(g: Guest): string[][] {
  const text = existsSync(join(g.dir, "calls")) ? readFileSync(join(g.dir, "calls"), "utf8") : "";
  return text
    .split("--\n")
    .filter((block) => block !== "")
    .map((block) => block.replace(/\n$/, "").split("\n"));
}

const NAME = defaultSetName("boot", AT);

/** The script's lock is let go (flock finds it free) and its pid cleared. */
function assertLockFree(g: Guest): void {
  const lock = join(g.dir, "lock");
  assert.equal(spawnSync("flock", ["--nonblock", lock, "true"]).status, 0, "the lock is released");
  assert.equal(readFileSync(lock, "utf8"), "", "its pid cleared");
}

test("the script's name format is create's default name", async () => {
  const { stdout } = await run([
    "date",
    "-u",
    "-d",
    `@${EPOCH + 3661}`,
    `+${defaultSetNameFormat("boot")}`,
  ]);
  assert.equal(stdout.trim(), defaultSetName("boot", new Date((EPOCH + 3661) * 1000)));
});

test("every word of the script reads back exactly under sh, the set's name and time filled in", async () => {
  const placeholder = placeholderSet();
  const words = [
    "plain",
    "it's",
    'a "quoted" $HOME `x` \\ & # ! ; | * ? [a]',
    "",
    "new\nline",
    `pre-${placeholder.name}-post`,
    `rootsnap.created=${Math.floor(placeholder.created.getTime() / 1000)}`,
  ];
  const script = `set -f; name=${NAME} created=${EPOCH}\nprintf '<%s>\\n' ${words.map((w) => shellWord(w, placeholder)).join(" ")}\n`;
  const { stdout } = await run(["sh", "-c", script]);
  assert.equal(
    stdout,
    [
      "plain",
      "it's",
      'a "quoted" $HOME `x` \\ & # ! ; | * ? [a]',
      "",
      "new\nline",
      `pre-${NAME}-post`,
      `rootsnap.created=${EPOCH}`,
    ]
      .map((w) => `<${w}>\n`)
      .join(""),
  );
});

test("the script runs create's exact lvcreate commands and prints the set's name", async () => {
  const g = setUp({});
  const result = await runPlan(g, script(g, planFor(placeholderSet())));
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `${NAME}\n`);
  const made = calls(g).filter((argv) => argv[0] === "lvcreate");
  assert.deepEqual(
    made,
    planFor({ name: NAME, created: AT }).snapshots.map((s) => [...s.argv]),
  );
  assert.ok(!existsSync(join(g.dir, "failure")), "no failure recorded");
  assertLockFree(g);
});

test("a failed lvcreate removes the snapshots made, records why and exits 73 for lack of space", async () => {
  const g = setUp({
    lvcreate: `case "$*" in *thinvg/data) echo '  Volume group "thinvg" has insufficient free space (0 extents): 1 required.' >&2; exit 5;; esac`,
  });
  const result = await runPlan(g, script(g, planFor(placeholderSet())));
  assert.equal(result.code, 73, result.stderr);
  assert.equal(result.stdout, "");
  const removals = calls(g).filter((argv) => argv[0] === "lvremove");
  assert.deepEqual(removals, [["lvremove", "--yes", `vg0/root-${NAME}`]]);
  const message = `creating thinvg/data-${NAME} failed, removed vg0/root-${NAME} again: lvcreate failed with exit code 5: Volume group "thinvg" has insufficient free space (0 extents): 1 required.`;
  assert.equal(result.stderr, `rootsnap: error: ${message}\n`);
  assert.equal(readFileSync(join(g.dir, "failure"), "utf8"), `${message}\n`);
  assertLockFree(g);
});

test("an LV a failed lvcreate left is removed too; one that cannot be is named with a hint", async () => {
  const g = setUp({
    lvcreate: `case "$*" in *thinvg/data) echo '  device busy' >&2; exit 5;; esac`,
    lvs: "exit 0",
    lvremove: `case "$*" in *vg0/root-*) exit 5;; esac`,
  });
  const result = await runPlan(g, script(g, planFor(placeholderSet())));
  assert.equal(result.code, 1, result.stderr);
  const removals = calls(g).filter((argv) => argv[0] === "lvremove");
  assert.deepEqual(removals, [
    ["lvremove", "--yes", `thinvg/data-${NAME}`],
    ["lvremove", "--yes", `vg0/root-${NAME}`],
  ]);
  assert.match(
    readFileSync(join(g.dir, "failure"), "utf8"),
    new RegExp(
      `could not remove vg0/root-${NAME}: lvcreate failed with exit code 5: device busy \\(hint: remove them by hand: lvremove vg0/root-${NAME}\\)`,
    ),
  );
});

test("a changed configuration or rootsnap hands the set over to rootsnap create", async () => {
  const g = setUp({});
  const path = script(g, planFor(placeholderSet()));
  writeFileSync(g.config, '[defaults]\nsize = "2G"\n');
  const result = await runPlan(g, path);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(
    calls(g).filter((argv) => argv[0] !== "date"),
    [["rootsnap", "create", "--kind", "boot"]],
  );
  assert.match(result.stderr, /the boot plan is stale/);
  // A configuration made after the plan counts as a change too.
  const fresh = setUp({});
  rmSync(fresh.config);
  const plan = script(fresh, planFor(placeholderSet()));
  writeFileSync(fresh.config, "");
  assert.equal((await runPlan(fresh, plan)).code, 0);
  assert.deepEqual(calls(fresh), [["rootsnap", "create", "--kind", "boot"]]);
});

test("without a plan, or with the lock held, rootsnap create runs; its failure is recorded", async () => {
  const g = setUp({ rootsnap: "exit 73" });
  const path = script(g, undefined, "not enough space for the set: vg0 needs 1 GiB");
  assert.equal(
    unplannedReason(readFileSync(path, "utf8")),
    "not enough space for the set: vg0 needs 1 GiB",
  );
  const result = await runPlan(g, path);
  assert.equal(result.code, 73);
  assert.deepEqual(calls(g), [["rootsnap", "create", "--kind", "boot"]]);
  assert.match(
    readFileSync(join(g.dir, "failure"), "utf8"),
    /^rootsnap create --kind boot failed with exit code 73 \(no boot plan could be made \(not enough space/,
  );
});

test("with the lock held by another rootsnap, the script hands over without its own descriptor of it", async () => {
  const held = setUp({
    rootsnap: `[ -e /proc/$$/fd/9 ] && echo fd9 >>"$(dirname "$0")/../seen"; exit 0`,
  });
  const holder = await acquireLock(join(held.dir, "lock"), 1);
  try {
    const locked = await runPlan(held, script(held, planFor(placeholderSet())));
    assert.equal(locked.code, 0, locked.stderr);
    assert.match(locked.stderr, /lock is held: running rootsnap create --kind boot/);
    assert.deepEqual(calls(held), [["rootsnap", "create", "--kind", "boot"]]);
    assert.equal(readFileSync(join(held.dir, "lock"), "utf8"), "1\n", "another's lock is left");
    assert.ok(!existsSync(join(held.dir, "seen")), "rootsnap create gets no fd 9 to wait on");
  } finally {
    holder.release();
  }
});

test("a symbolic link where the lock belongs is not followed: the script hands over", async () => {
  const g = setUp({});
  symlinkSync(join(g.dir, "elsewhere"), join(g.dir, "lock"));
  const result = await runPlan(g, script(g, planFor(placeholderSet())));
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /lock cannot be opened: running rootsnap create --kind boot/);
  assert.deepEqual(calls(g), [["rootsnap", "create", "--kind", "boot"]]);
  assert.ok(!existsSync(join(g.dir, "elsewhere")), "nothing made through the link");
});

test("the script holds rootsnap's lock while lvcreate runs, and lvm gets no copy of it", async () => {
  const here = '"$(dirname "$0")/.."';
  const g = setUp({
    lvcreate: `if flock -n ${here}/lock true; then echo free; else echo held; fi >>${here}/seen
[ -e /proc/$$/fd/9 ] && echo fd9 >>${here}/seen
echo "  Logical volume created."`,
  });
  const result = await runPlan(g, script(g, planFor(placeholderSet())));
  assert.equal(result.code, 0, result.stderr);
  assert.equal(readFileSync(join(g.dir, "seen"), "utf8"), "held\nheld\n");
  assertLockFree(g);
});

/** Files in memory, and each one's text. */
function planFiles(initial: Record<string, string>): {
  files: BootFiles;
  data: { get(path: string): string | undefined; has(path: string): boolean };
} {
  const tree = memoryFiles(initial);
  const data = {
    get: (path: string) => tree.data.get(path)?.toString("utf8"),
    has: (path: string) => tree.data.has(path),
  };
  return { files: tree.files, data };
}

function planContext(system: FakeSystem, dryRun = false, bootFiles?: BootFiles): Context {
  return testContext(fakeLvm(system).runner, {
    fs: memoryFs({ "/proc/self/mountinfo": sample("handwritten-mountinfo.txt") }),
    clock: () => AT,
    dryRun,
    configPath: "/elsewhere.toml",
    configNamed: true,
    bootFiles,
  });
}

test("the plan is regenerated from create's planning, and a set that cannot be planned hands over", async () => {
  const system: FakeSystem = {
    lvs: sample(`${SETS}/lvs.json`),
    vgs: sample(`${SETS}/vgs.json`),
    dmTables: {},
    failures: {},
  };
  const { files, data } = planFiles({ "/usr/bin/rootsnap": "program" });
  const dry = await refreshBootPlan(planContext(system, true, files), files, [
    "/usr/bin/node",
    "/usr/bin/rootsnap",
  ]);
  assert.equal(dry.change?.before, undefined);
  assert.ok(!data.has(BOOT_PLAN_PATH), "a dry run writes nothing");
  const made = await refreshBootPlan(planContext(system, false, files), files, [
    "/usr/bin/node",
    "/usr/bin/rootsnap",
  ]);
  const text = data.get(BOOT_PLAN_PATH) ?? "";
  assert.equal(made.change?.after, text);
  assert.equal(made.unplanned, undefined);
  // The default configuration (none here): the LV at /, 20%ORIGIN; --config is not the boot's.
  assert.match(text, /^# vg0\/root: 20%ORIGIN, 154 extents$/m);
  assert.match(text, /^snapshot vg0\/root-"\$name" lvcreate --snapshot --extents 154 /m);
  // rootsnap's script is a source of the plan; the Node that runs it is not.
  assert.match(text, /sha256sum -- \/etc\/rootsnap\/rootsnap\.toml \/usr\/bin\/rootsnap /);
  assert.match(text, /^rootsnap\(\) \{ \/usr\/bin\/node \/usr\/bin\/rootsnap "\$@"; \}$/m);
  const again = await refreshBootPlan(planContext(system, false, files), files, [
    "/usr/bin/node",
    "/usr/bin/rootsnap",
  ]);
  assert.equal(again.change, undefined, "nothing changed, nothing written");
  const full: FakeSystem = {
    ...system,
    vgs: editReport(system.vgs, (rows) =>
      rows.map((row) => ({ ...row, vg_free: "0", vg_free_count: "0" })),
    ),
  };
  const none = await refreshBootPlan(planContext(full, false, files), files, [
    "/usr/bin/node",
    "/usr/bin/rootsnap",
  ]);
  assert.match(none.unplanned ?? "", /not enough space/);
  assert.match(unplannedReason(data.get(BOOT_PLAN_PATH) ?? "") ?? "", /not enough space/);
  assert.doesNotMatch(data.get(BOOT_PLAN_PATH) ?? "", /lvcreate/);
});
