import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeLvAttr } from "../../src/lvm/attr.ts";
import { LvmError, jsonLogErrors } from "../../src/lvm/errors.ts";
import { lvsArgv, vgsArgv } from "../../src/lvm/fields.ts";
import { toLogicalVolume } from "../../src/lvm/model.ts";
import { flag, parseReport, percentOrNull, timeOrNull } from "../../src/lvm/report.ts";
import { CommandError, run, type RunOptions } from "../../src/system/runner.ts";
import { ExitCode } from "../../src/system/errors.ts";
import { sample } from "./helpers.ts";

test("2.03.16 and 2.03.31 flavours give the same rows", () => {
  const old = parseReport(sample("handwritten-lvm2-2.03.16/two-vgs/sets/lvs.json"), "lv");
  const current = parseReport(sample("handwritten-lvm2-2.03.31/two-vgs/sets/lvs.json"), "lv");
  assert.equal(old.length, 14);
  assert.deepEqual(current, old);
});

test("json_std values (numbers, nulls) read as the strings of the json format", () => {
  const text = JSON.stringify({
    report: [
      { lv: [{ lv_name: "root", lv_size: 3221225472, data_percent: null, snap_percent: 2.5 }] },
    ],
    log: [],
  });
  assert.deepEqual(parseReport(text, "lv"), [
    { lv_name: "root", lv_size: "3221225472", data_percent: "", snap_percent: "2.5" },
  ]);
});

test("rows of every report of a document are joined", () => {
  const text = JSON.stringify({ report: [{ lv: [{ lv_name: "a" }] }, { lv: [{ lv_name: "b" }] }] });
  assert.deepEqual(
    parseReport(text, "lv").map((row) => row.lv_name),
    ["a", "b"],
  );
});

test("output that is no report is refused with exit 65", () => {
  assert.throws(() => parseReport("  WARNING: something\n", "lv"), {
    exitCode: ExitCode.dataError,
  });
  assert.throws(() => parseReport('{"report": {}}', "lv"), /no "report" array/);
});

test("field values: binary flags, percentages in any locale, epoch times", () => {
  assert.equal(flag("merging"), true);
  assert.equal(flag(""), false);
  assert.equal(flag("0"), false);
  assert.equal(flag("unknown"), false);
  assert.equal(percentOrNull("26,16"), 26.16);
  assert.equal(percentOrNull(""), null);
  assert.equal(timeOrNull("1767225600")?.toISOString(), "2026-01-01T00:00:00.000Z");
  assert.equal(timeOrNull("2026-01-01 00:00:00 +0000")?.toISOString(), "2026-01-01T00:00:00.000Z");
});

test("lv_attr characters decode to what lvs(8) says", () => {
  const merging = decodeLvAttr("Swi-a-s---");
  assert.equal(merging.isSnapshot, true);
  assert.equal(merging.isMergingSnapshot, true);
  const invalid = decodeLvAttr("swi-I-s---");
  assert.equal(invalid.invalidSnapshot, true);
  const thinSnapshot = decodeLvAttr("Vwi---tz-k");
  assert.equal(thinSnapshot.isThinVolume, true);
  assert.equal(thinSnapshot.active, false);
  assert.equal(thinSnapshot.skipActivation, true);
  const origin = decodeLvAttr("Owi-aos---");
  assert.equal(origin.isMergingOrigin, true);
  assert.equal(origin.open, true);
  assert.equal(decodeLvAttr("swi-m-s---").mergeFailed, true);
});

test("a hidden merging snapshot keeps its name without brackets", () => {
  const rows = parseReport(sample("handwritten-lvm2-2.03.31/two-vgs/merging/lvs.json"), "lv");
  const snapshot = rows.map(toLogicalVolume).find((lv) => lv.name === "root-before-upgrade");
  assert.ok(snapshot);
  assert.equal(snapshot.hidden, true);
  assert.equal(snapshot.fullName, "vg0/root-before-upgrade");
  assert.equal(snapshot.merging, true);
  assert.equal(snapshot.origin, "root");
});

test("report commands are JSON, in bytes, with epoch times, and name every field", () => {
  const lvs = lvsArgv();
  assert.equal(lvs[0], "lvs");
  assert.ok(lvs.includes("-a"));
  for (const argv of [lvs, vgsArgv()]) {
    assert.deepEqual(
      argv.slice(argv.indexOf("--reportformat"), argv.indexOf("--reportformat") + 2),
      ["--reportformat", "json"],
    );
    assert.ok(argv.includes("--nosuffix"));
    assert.ok(argv.includes('report/time_format="%s"'));
  }
});

test("an lvm failure names the command, the exit code's meaning and lvm's complaint", () => {
  const failure = new LvmError(
    new CommandError({
      argv: ["lvcreate", "--snapshot", "--name", "root-x", "vg0/root"],
      code: 5,
      signal: null,
      stdout: "",
      stderr: '  Volume group "vg0" has insufficient free space (10 extents): 20 required.\n',
      timedOut: false,
    }),
  );
  assert.equal(failure.exitCode, ExitCode.failed);
  assert.equal(
    failure.message,
    'lvcreate --snapshot --name root-x vg0/root failed with exit code 5 (command failed): Volume group "vg0" has insufficient free space (10 extents): 20 required.',
  );
});

test("errors that lvm 2.03.26+ puts in the JSON log are found", () => {
  const stdout = JSON.stringify({
    report: [{ lv: [] }],
    log: [
      { log_type: "status", log_message: "" },
      { log_type: "error", log_message: 'Volume group "nope" not found' },
    ],
  });
  assert.deepEqual(jsonLogErrors(stdout), ['Volume group "nope" not found']);
});

test("a missing program is exit 69 with an install hint", () => {
  const cause = Object.assign(new Error("spawn lvs ENOENT"), { code: "ENOENT" });
  const failure = new LvmError(
    new CommandError({
      argv: ["lvs"],
      code: null,
      signal: null,
      stdout: "",
      stderr: "",
      timedOut: false,
      cause,
    }),
  );
  assert.equal(failure.exitCode, ExitCode.unavailable);
  assert.match(failure.hint ?? "", /apt-get install lvm2/);
});

test("the runner ends a program when its signal is aborted, and can run without a time limit", async () => {
  const ending = new AbortController();
  const started = Date.now();
  const sleeping = run(["sleep", "30"], { timeoutMs: Infinity, signal: ending.signal });
  setTimeout(() => {
    ending.abort();
  }, 100);
  await assert.rejects(sleeping, (e: CommandError) => e.signal === "SIGTERM" && !e.timedOut);
  assert.ok(Date.now() - started < 10_000, "sleep 30 ended by the abort, not by itself");
  assert.equal((await run(["echo", "done"], { timeoutMs: Infinity })).stdout, "done\n");
});

test("a blocking run ends, fails and times out as the asynchronous one does", async () => {
  const outcome = async (argv: readonly string[], options: RunOptions) => {
    try {
      const { code, stdout, stderr } = await run(argv, options);
      return { code, stdout, stderr };
    } catch (error) {
      assert.ok(error instanceof CommandError);
      const { message, code, signal, stdout, stderr, timedOut, notFound } = error;
      return { message, code, signal, stdout, stderr, timedOut, notFound };
    }
  };
  const cases: [readonly string[], RunOptions][] = [
    [["sh", "-c", 'printf "%s\\n" "$LC_ALL" "$EXTRA"; echo said >&2'], { env: { EXTRA: "x" } }],
    [["sh", "-c", "echo out; echo complaint >&2; exit 5"], {}],
    [["sh", "-c", "exit 3"], { okCodes: [0, 3] }],
    [["cat"], { input: "fed\n" }],
    [["cat"], {}],
    [["pwd"], { cwd: "/" }],
    [["rootsnap-no-such-program"], {}],
    [["sleep", "30"], { timeoutMs: 200 }],
  ];
  for (const [argv, options] of cases) {
    assert.deepEqual(
      await outcome(argv, { ...options, blocking: true }),
      await outcome(argv, options),
      argv.join(" "),
    );
  }
});

test("a signal that comes during a blocking run reaches its handler before the result", async () => {
  let handled = false;
  const handler = (): void => {
    handled = true;
  };
  process.on("SIGUSR2", handler);
  try {
    const result = run(["sh", "-c", 'kill -USR2 "$PPID"; sleep 0.1'], { blocking: true });
    assert.equal(handled, false);
    await result;
    assert.equal(handled, true);
  } finally {
    process.off("SIGUSR2", handler);
  }
});
