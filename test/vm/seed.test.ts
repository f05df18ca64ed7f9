// The seed article by hand on bookworm-simple: proves the rig, and is the baseline later
// scenarios compare rootsnap with.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkLayout } from "./rig/checks.ts";
import { stepLog, vmSkip, withMachine } from "./rig/index.ts";
import { seedFlow } from "./scenarios/seed-flow.ts";

test(
  "seed article flow on bookworm-simple: boot snapshot, read-only backup, merge",
  {
    skip: vmSkip(),
    timeout: 40 * 60_000,
  },
  async () => {
    await withMachine("bookworm-simple", async (m) => {
      await checkLayout(m);
      const r = await seedFlow(m, stepLog("seed"));
      assert.equal(r.boots.length, 2);
      process.stderr.write(
        `[seed] boot times: ${r.boots.map((b) => `${b.toFixed(1)} s`).join(", ")}\n`,
      );
    });
  },
);
