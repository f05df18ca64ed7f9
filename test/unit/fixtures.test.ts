// Parses every recorded lvm2 report under test/fixtures/ (real systems) and every
// hand-written sample under test/unit/samples/, and checks what each state must show.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { toLogicalVolume, toVolumeGroup, type LogicalVolume } from "../../src/lvm/model.ts";
import { parseReport } from "../../src/lvm/report.ts";
import { collectSets } from "../../src/sets/model.ts";
import { SAMPLES } from "./helpers.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;

function reportDirs(root: string): string[] {
  if (!existsSync(root)) return [];
  const found: string[] = [];
  for (const name of readdirSync(root).sort()) {
    const path = join(root, name);
    if (!statSync(path).isDirectory()) continue;
    if (existsSync(join(path, "lvs.json"))) found.push(path);
    found.push(...reportDirs(path));
  }
  return found;
}

function checkState(state: string, lvs: readonly LogicalVolume[]): void {
  const sets = collectSets(lvs);
  const volumes = sets.flatMap((set) => set.volumes);
  if (state === "snapshots" || state === "thin-snapshots" || state === "sets") {
    assert.ok(volumes.length > 0, "a set is found");
  }
  if (state === "merging") {
    assert.ok(
      lvs.some((lv) => lv.merging),
      "a merging LV is found",
    );
    assert.ok(
      volumes.some((volume) => volume.state === "merging"),
      "the set shows the merge",
    );
  }
  if (state === "inactive-and-invalid") {
    assert.ok(
      lvs.some((lv) => lv.snapshotInvalid),
      "an invalid snapshot is found",
    );
    assert.ok(
      lvs.some((lv) => lv.origin !== null && !lv.active),
      "an inactive snapshot is found",
    );
  }
  if (state === "thin-snapshots") {
    assert.ok(
      volumes.some((volume) => volume.thin),
      "a thin snapshot is in the set",
    );
  }
}

const dirs = [...reportDirs(FIXTURES), ...reportDirs(SAMPLES)];

test("there is at least one report to parse", () => {
  assert.ok(dirs.length > 0);
});

for (const dir of dirs) {
  const name = relative(join(FIXTURES, ".."), dir);
  test(`parses ${name}`, () => {
    const lvs = parseReport(readFileSync(join(dir, "lvs.json"), "utf8"), "lv").map(toLogicalVolume);
    assert.ok(lvs.length > 0);
    for (const lv of lvs) {
      assert.equal(lv.attr.raw.length, 10, `${lv.fullName} lv_attr`);
      assert.ok(lv.sizeBytes > 0, `${lv.fullName} size`);
      assert.match(lv.fullName, /^[^/]+\/[^/[\]]+$/);
      if (lv.attr.isSnapshot) assert.notEqual(lv.origin, null, `${lv.fullName} origin`);
    }
    if (existsSync(join(dir, "vgs.json"))) {
      const vgs = parseReport(readFileSync(join(dir, "vgs.json"), "utf8"), "vg").map(toVolumeGroup);
      assert.ok(vgs.length > 0);
      for (const vg of vgs)
        assert.equal(vg.freeBytes, vg.freeExtents * vg.extentSizeBytes, vg.name);
    }
    checkState(dir.split("/").at(-1) ?? "", lvs);
  });
}
