import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig, parseConfig } from "../../src/config/config.ts";
import { DEFAULT_RETENTION, parseDuration } from "../../src/config/lifecycle.ts";
import { ConfigError } from "../../src/system/errors.ts";
import { memoryFs } from "./helpers.ts";

const P = "/etc/rootsnap/rootsnap.toml";

test("durations read s, m, h, d and w", () => {
  assert.equal(parseDuration("90s"), 90);
  assert.equal(parseDuration("15m"), 900);
  assert.equal(parseDuration("36h"), 129_600);
  assert.equal(parseDuration("30d"), 2_592_000);
  assert.equal(parseDuration("2w"), 1_209_600);
  assert.equal(parseDuration("3 days"), undefined);
  assert.equal(parseDuration("-1d"), undefined);
});

test("retention tables per kind, with the others keeping their defaults", async () => {
  const c = await parseConfig(
    P,
    `[retention.manual]\nkeep-last = 2\nkeep-within = "7d"\ndaily = 3\n`,
  );
  assert.deepEqual(c.retention.manual, {
    keepLast: 2,
    keepWithin: 604_800,
    timeline: { daily: 3 },
  });
  assert.deepEqual(c.retention.boot, DEFAULT_RETENTION.boot);
});

test("no file: manual sets are never pruned, the watchdog extends at 80 %", async () => {
  const c = await loadConfig(memoryFs({}), P, false);
  assert.equal(c.retention.manual, undefined);
  assert.equal(c.watchdog.threshold, 80);
  assert.equal(c.watchdog.action, "extend");
  assert.equal(c.watchdog.metrics, undefined);
});

async function configError(source: string): Promise<string> {
  try {
    await parseConfig(P, source);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail("the config was accepted");
}

test("bad lifecycle settings name the file, the line and the key", async () => {
  assert.equal(
    await configError(`[retention.manual]\nkeep-within = "a month"\n`),
    `${P}:2: keep-within in [retention.manual] is not a duration`,
  );
  assert.equal(
    await configError(`[retention.manual]\nkeep-last = -1\n`),
    `${P}:2: keep-last in [retention.manual] must be a whole number from 0 to 100000`,
  );
  assert.equal(
    await configError(`[retention.nightly]\nkeep-last = 1\n`),
    `${P}: unknown key "nightly" in [retention]`,
  );
  assert.equal(
    await configError(`\n[watchdog]\naction = "panic"\n`),
    `${P}:3: action in [watchdog] must be one of extend, remove, warn`,
  );
  assert.equal(
    await configError(`[watchdog]\nthreshold = 5\n`),
    `${P}:2: threshold in [watchdog] must be from 10 to 99 (percent)`,
  );
  assert.equal(
    await configError(`[watchdog]\nmetrics = "rootsnap.txt"\n`),
    `${P}:2: metrics in [watchdog] must be an absolute path ending in .prom`,
  );
  assert.equal(
    await configError(`[watchdog]\ninterval = "0s"\n`),
    `${P}:2: interval in [watchdog] must be from 1s to 24d`,
  );
});
