// What verbs print for a given result, their module stood in for by one that returns it:
// each --json document field by field in snake_case, and repair's notes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { main, type Io } from "../../src/cli/app.ts";
import type { RepairResult } from "../../src/commands/repair.ts";
import type { RestoreResult } from "../../src/commands/restore.ts";
import { CommandError } from "../../src/system/runner.ts";
import { fakeLvm, fakeRunner, sample, testIo, type TestIo } from "./helpers.ts";

/** Runs rootsnap with every function of the verb's module returning `result`. */
async function returning(
  argv: string[],
  result: unknown,
  overrides: Partial<Io> = {},
): Promise<TestIo> {
  const io = testIo(fakeRunner(() => ({})).runner, {
    loadVerb: async (_verb, load) => {
      const module = (await load()) as Record<string, unknown>;
      return Object.fromEntries(
        Object.keys(module).map((key) => [key, () => Promise.resolve(result)]),
      );
    },
    ...overrides,
  });
  assert.equal(await main(argv, io), 0, io.stderrText);
  return io;
}

/** Every key of a JSON document, all the way down. */
function keys(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keys);
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, inner]) => [key, ...keys(inner)]);
}

test("restore --json names its time elapsed_ms, as every key is snake_case", async () => {
  const result: RestoreResult = {
    archive: "/b/box.tar",
    dir: "/mnt",
    bytes: 10240,
    elapsedMs: 1500,
  };
  const io = await returning(["restore", "/b/box.tar", "--to", "/mnt", "--json"], result);
  assert.deepEqual(JSON.parse(io.stdoutText), {
    version: 1,
    restore: { archive: "/b/box.tar", dir: "/mnt", bytes: 10240, elapsed_ms: 1500 },
  });
  assert.ok(io.stdoutText.startsWith('{\n  "version": 1,'), "version comes first");
});

const REPAIR: RepairResult = {
  merges: [
    { origin: "vg0/root", snapshot: "vg0/root-before-upgrade", state: "finished" },
    { origin: "vg0/home", snapshot: "vg0/home-nightly", state: "waiting" },
  ],
  leftovers: ["vg0/var-weekly"],
  bootLoader: [],
  warnings: ["vg0/home-nightly merges into vg0/home at its next activation"],
  commands: [
    ["lvchange", "--poll", "y", "vg0/root"],
    ["lvremove", "--yes", "vg0/var-weekly"],
  ],
  dryRun: false,
};

test("repair says which merges it finished and which leftovers it removed", async () => {
  const io = await returning(["repair"], REPAIR);
  assert.equal(io.stdoutText, "");
  assert.deepEqual(io.stderrText.trimEnd().split("\n"), [
    "rootsnap: warning: vg0/home-nightly merges into vg0/home at its next activation",
    "merge of vg0/root-before-upgrade finished",
    "removed vg0/var-weekly, the copy-on-write volume a finished merge left behind",
  ]);
  const dry = await returning(["repair", "--dry-run"], { ...REPAIR, dryRun: true });
  assert.equal(dry.stdoutText, "lvchange --poll y vg0/root\nlvremove --yes vg0/var-weekly\n");
});

test("repair --json follows the contract", async () => {
  const io = await returning(["repair", "--json"], REPAIR);
  const document = JSON.parse(io.stdoutText) as Record<string, unknown>;
  assert.deepEqual(document, {
    version: 1,
    dry_run: false,
    merges: REPAIR.merges,
    leftovers: ["vg0/var-weekly"],
    boot_loader_installed: [],
    warnings: REPAIR.warnings,
    commands: ["lvchange --poll y vg0/root", "lvremove --yes vg0/var-weekly"],
  });
  assert.deepEqual(
    keys(document).filter((key) => /[A-Z]/.test(key)),
    [],
  );
});

test("a verb's result never reaches --json as it is: a field it gains stays out", async () => {
  const result = { ...REPAIR, secretField: "x", merges: [{ ...REPAIR.merges[0], extraKey: 1 }] };
  const io = await returning(["repair", "--json"], result);
  assert.doesNotMatch(io.stdoutText, /secretField|extraKey/);
});

test("<N> prefixes only when main() is told stderr is the journal", async () => {
  const inherited = testIo(fakeRunner(() => ({})).runner, { env: { JOURNAL_STREAM: "8:1234" } });
  assert.equal(await main(["frob"], inherited), 64);
  assert.match(inherited.stderrText, /^rootsnap: error: unknown verb/);
  const journal = testIo(fakeRunner(() => ({})).runner, {
    env: { JOURNAL_STREAM: "8:1234" },
    stderrIsJournal: true,
  });
  assert.equal(await main(["frob"], journal), 64);
  assert.match(journal.stderrText, /^<3>rootsnap: error: unknown verb/);
  const noted = await returning(["repair"], REPAIR, { stderrIsJournal: true });
  assert.match(noted.stderrText, /^<4>rootsnap: warning: .*\n<6>merge of /);
});

test("doctor --json with a failed check prints one document, the checks, and exits 1", async () => {
  const fake = fakeLvm({
    lvs: sample("handwritten-lvm2-2.03.16/two-vgs/sets/lvs.json"),
    vgs: sample("handwritten-lvm2-2.03.16/two-vgs/sets/vgs.json"),
    dmTables: {},
    failures: {},
  });
  const io = testIo(fake.runner);
  assert.equal(await main(["doctor", "--json"], io), 1);
  const document = JSON.parse(io.stdoutText) as {
    version: number;
    checks: { name: string; status: string }[];
  };
  assert.equal(document.version, 1);
  assert.ok(document.checks.some((check) => check.status === "fail"));
  assert.match(io.stderrText, /^rootsnap: error: \d+ check\(s\) failed/m);
});

test("doctor without lvm still runs every check, and its tools check says what to install", async () => {
  const fake = fakeLvm({ lvs: "", vgs: "", dmTables: {}, failures: {} });
  const missing = new Set(["lvm", "lvs", "vgs", "dmsetup", "lvmconfig"]);
  const io = testIo(async (argv, options) => {
    if (missing.has(argv[0] ?? ""))
      throw new CommandError({
        argv,
        code: null,
        signal: null,
        stdout: "",
        stderr: "",
        timedOut: false,
        cause: Object.assign(new Error(`spawn ${argv[0] ?? ""} ENOENT`), { code: "ENOENT" }),
      });
    return fake.runner(argv, options);
  });
  assert.equal(await main(["doctor", "--json"], io), 1);
  const { checks } = JSON.parse(io.stdoutText) as {
    checks: { name: string; status: string; detail: string }[];
  };
  const tools = checks.find((check) => check.name === "tools");
  assert.equal(tools?.status, "fail");
  assert.match(tools?.detail ?? "", /lvm not found: .*lvm2/);
  assert.match(tools?.detail ?? "", /dmsetup not found/);
  assert.equal(checks.find((check) => check.name === "root on LVM")?.detail, "lvs not found");
  for (const name of ["configuration", "space", "fstab", "boot loader", "shutdown"])
    assert.ok(
      checks.some((check) => check.name === name),
      `the ${name} check ran`,
    );
  assert.equal(checks.find((check) => check.name === "configuration")?.status, "ok");
});
