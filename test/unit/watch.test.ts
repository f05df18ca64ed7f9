// The watchdog: its interval within what a timer can hold, passes that leave nothing behind,
// and rootsnap's lock taken only for a removal.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { getEventListeners } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mock, test } from "node:test";
import { main } from "../../src/cli/app.ts";
import { watchFollow } from "../../src/commands/watch.ts";
import { parseConfig } from "../../src/config/config.ts";
import { ConfigError, ExitCode } from "../../src/system/errors.ts";
import { acquireLock } from "../../src/system/lock.ts";
import { changes, fakeLvm, memoryFs, sample, testContext, testIo } from "./helpers.ts";

const SETS = "handwritten-lvm2-2.03.16/two-vgs/sets";
const CONFIG = "/etc/rootsnap/rootsnap.toml";
const MOUNTINFO = { "/proc/self/mountinfo": sample("handwritten-mountinfo.txt") };

function system(): Parameters<typeof fakeLvm>[0] {
  return {
    lvs: sample(`${SETS}/lvs.json`),
    vgs: sample(`${SETS}/vgs.json`),
    dmTables: {},
    failures: {},
  };
}

async function intervalError(interval: string): Promise<string | undefined> {
  try {
    await parseConfig(CONFIG, `[watchdog]\ninterval = ${interval}\n`);
    return undefined;
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.exitCode, ExitCode.config);
    return error.message;
  }
}

test("an interval a timer cannot hold (over 24 days), zero or not whole is refused with file:line", async () => {
  const range = `${CONFIG}:2: interval in [watchdog] must be from 1s to 24d`;
  assert.equal(await intervalError('"25d"'), range);
  assert.equal(await intervalError('"4w"'), range);
  assert.equal(await intervalError('"99999999999999999999s"'), range);
  assert.equal(await intervalError('"0s"'), range);
  const notDuration = `${CONFIG}:2: interval in [watchdog] is not a duration`;
  assert.equal(await intervalError('"1.5s"'), notDuration);
  assert.equal(await intervalError('"-10s"'), notDuration);
  assert.equal(await intervalError("10"), notDuration);
  assert.equal(await intervalError('"24d"'), undefined);
  assert.equal(await intervalError('"1s"'), undefined);
});

test("rootsnap watch with such an interval exits 78 naming the file and line", async () => {
  const fake = fakeLvm(system());
  const dir = mkdtempSync(join(tmpdir(), "rootsnap-watch-"));
  try {
    const io = testIo(fake.runner, {
      fs: memoryFs({ ...MOUNTINFO, [CONFIG]: `[watchdog]\ninterval = "30d"\n` }),
      lockPath: join(dir, "rootsnap.lock"),
    });
    const code = await main(["watch", "--follow"], { ...io, signal: new AbortController().signal });
    assert.equal(code, ExitCode.config, io.stderrText);
    assert.match(
      io.stderrText,
      /rootsnap\.toml:2: interval in \[watchdog\] must be from 1s to 24d/,
    );
    assert.deepEqual(changes(fake.calls), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("watch --follow leaves no abort listener behind a pass: no MaxListenersExceededWarning", async (t) => {
  const controller = new AbortController();
  const listeners: number[] = [];
  const PASSES = 15;
  const fake = fakeLvm(system());
  const runner: typeof fake.runner = (argv, options) => {
    if (argv[0] === "lvs") {
      listeners.push(getEventListeners(controller.signal, "abort").length);
      if (listeners.length === PASSES) controller.abort("SIGTERM");
    }
    return fake.runner(argv, options);
  };
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => {
    warnings.push(warning);
  };
  process.on("warning", onWarning);
  // Node 20 reads the array form @types/node 18 knows as "every timer API", setImmediate too.
  mock.timers.enable({ apis: ["setTimeout"] } as never);
  t.after(() => {
    mock.timers.reset();
    process.off("warning", onWarning);
  });
  const context = testContext(runner, {
    fs: memoryFs({ [CONFIG]: `[watchdog]\naction = "warn"\ninterval = "10s"\n` }),
    configPath: CONFIG,
    configNamed: true,
  });
  let finished = false;
  const watching = watchFollow(context, {}, controller.signal).then(() => {
    finished = true;
  });
  // The mocked clock leaves Date alone: a real bound, in case a pass never ends.
  for (const start = Date.now(); !finished && Date.now() - start < 10_000;) {
    await new Promise((resolve) => setImmediate(resolve));
    mock.timers.tick(10_000);
  }
  await watching;
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(listeners.length, PASSES);
  assert.deepEqual(
    listeners,
    listeners.map(() => 0),
    "each pass starts with no listener left by the last wait",
  );
  assert.equal(getEventListeners(controller.signal, "abort").length, 0);
  assert.deepEqual(
    warnings.filter((w) => w.name === "MaxListenersExceededWarning").map((w) => w.message),
    [],
  );
});

/** `rootsnap watch` once, root-nightly at 85 %, with rootsnap's lock held by a live run or free. */
async function watchWith(config: string, held: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "rootsnap-watch-"));
  const lockPath = join(dir, "rootsnap.lock");
  const lockDuringChange: string[] = [];
  const fake = fakeLvm({
    ...system(),
    afterChange: () => {
      lockDuringChange.push(existsSync(lockPath) ? readFileSync(lockPath, "utf8").trim() : "");
    },
  });
  const holder = held ? await acquireLock(lockPath, 999) : undefined;
  try {
    const io = testIo(fake.runner, {
      fs: memoryFs({ ...MOUNTINFO, [CONFIG]: config }),
      lockPath,
    });
    const code = await main(["watch"], io);
    const lockLeft = spawnSync("flock", ["--nonblock", lockPath, "true"]).status !== 0;
    return { code, io, changed: changes(fake.calls), lockLeft, lockDuringChange };
  } finally {
    holder?.release();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a watch pass that would remove a set takes rootsnap's lock, and releases it", async () => {
  const run = await watchWith(`[watchdog]\naction = "remove"\n`, false);
  assert.equal(run.code, 0, run.io.stderrText);
  assert.deepEqual(run.changed, [["lvremove", "--yes", "vg0/root-nightly"]]);
  assert.deepEqual(
    run.lockDuringChange,
    ["4242"],
    "the lock, with this run's pid, during lvremove",
  );
  assert.equal(run.lockLeft, false, "the lock is released after the pass");
});

test("while another rootsnap holds the lock, watch does not remove, says why, and still extends", async () => {
  const refused = await watchWith(`[watchdog]\naction = "remove"\n`, true);
  assert.equal(refused.code, 0, refused.io.stderrText);
  assert.deepEqual(refused.changed, [], "nothing removed");
  assert.match(
    refused.io.stderrText,
    /warning: set nightly: vg0\/root-nightly is 85\.0% full \(\[watchdog\] action is remove; not removed: another rootsnap \(pid 999\) is running: .*rootsnap\.lock is still held\)/,
  );
  assert.equal(refused.lockLeft, true, "the other run's lock stays");
  const extended = await watchWith(`[watchdog]\naction = "extend"\n`, true);
  assert.equal(extended.code, 0, extended.io.stderrText);
  assert.deepEqual(extended.changed, [["lvextend", "-L", "+29360128b", "vg0/root-nightly"]]);
});
