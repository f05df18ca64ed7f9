// The metrics file must be valid for node_exporter's textfile collector: checked by a
// strict reading of the exposition format and, where installed, by promtool itself.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { renderMetrics } from "../../src/lifecycle/metrics.ts";
import { toLogicalVolume, toVolumeGroup } from "../../src/lvm/model.ts";
import { parseReport } from "../../src/lvm/report.ts";
import { collectSets } from "../../src/sets/model.ts";
import { promtool } from "../promtool.ts";

const FIXTURE = new URL("../fixtures/lvm2-2.03.16/bookworm-simple/", import.meta.url).pathname;

function render(state: string): string {
  const lvs = parseReport(readFileSync(join(FIXTURE, state, "lvs.json"), "utf8"), "lv").map(
    toLogicalVolume,
  );
  const vgs = parseReport(readFileSync(join(FIXTURE, state, "vgs.json"), "utf8"), "vg").map(
    toVolumeGroup,
  );
  return renderMetrics(collectSets(lvs), vgs, new Date("2026-11-23T12:00:00Z"));
}

const SAMPLE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*\})? (-?[0-9.e+]+|NaN)$/;

function checkExposition(text: string): Map<string, number> {
  assert.ok(text.endsWith("\n"), "ends with a newline");
  const typed = new Set<string>();
  const seen = new Set<string>();
  const values = new Map<string, number>();
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") typed.add(meta[2] ?? "");
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a valid sample line: ${line}`);
    assert.ok(typed.has(m[1] ?? ""), `${m[1]} has no TYPE line before it`);
    const series = line.slice(0, line.lastIndexOf(" "));
    assert.ok(!seen.has(series), `duplicate series ${series}`);
    seen.add(series);
    values.set(series, Number(m[4]));
  }
  return values;
}

for (const state of ["plain", "sets", "inactive-and-invalid", "merging"]) {
  test(`metrics from the recorded ${state} state are valid exposition`, () => {
    const text = render(state);
    const values = checkExposition(text);
    assert.equal(values.get('rootsnap_vg_free_bytes{vg="vg0"}') !== undefined, true);
    const tool = promtool();
    if (tool !== undefined) {
      const r = spawnSync(tool, ["check", "metrics"], { input: text, encoding: "utf8" });
      assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
    }
  });
}

test("a set's fill level and state appear with their labels", () => {
  const values = checkExposition(render("sets"));
  const used = [...values.keys()].filter((k) => k.startsWith("rootsnap_snapshot_used_percent{"));
  assert.ok(
    used.some((k) => k.includes('set="fixture-manual"') && k.includes('origin="vg0/root"')),
    used.join("\n"),
  );
  assert.equal(values.get('rootsnap_sets{kind="manual"}'), 1);
  assert.equal(values.get('rootsnap_sets{kind="boot"}'), 1);
});

test("a merging set is reported as merging", () => {
  const values = checkExposition(render("merging"));
  const merging = [...values.entries()].filter(
    ([k, v]) => k.startsWith("rootsnap_snapshot_merging{") && v === 1,
  );
  assert.equal(merging.length, 1, [...values.keys()].join("\n"));
});

test("label values with quotes, backslashes and newlines are escaped", () => {
  const text = renderMetrics(
    [
      {
        name: 'a"b\\c\nd',
        kind: "manual",
        created: new Date(0),
        volumes: [],
        missing: 0,
        unavailable: [],
        absentVgs: [],
        recordsVolumes: true,
      },
    ],
    [],
    new Date(0),
  );
  assert.ok(text.includes('set="a\\"b\\\\c\\nd"'), text);
  checkExposition(text);
});
