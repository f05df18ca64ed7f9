// A failed program is described once, from how it really ended: real processes, spawned.
import assert from "node:assert/strict";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { describeEnd, startPipeline } from "../../src/backup/pipeline.ts";
import { LvmError } from "../../src/lvm/errors.ts";
import { commandFailure } from "../../src/system/effects.ts";
import { ExitCode } from "../../src/system/errors.ts";
import { installHint } from "../../src/system/failure.ts";
import { CommandError, run, type RunOptions } from "../../src/system/runner.ts";
import { tempDir, testEffects } from "./helpers.ts";

async function failureOf(argv: string[], options?: RunOptions): Promise<CommandError> {
  try {
    await run(argv, options);
  } catch (error) {
    assert.ok(error instanceof CommandError, String(error));
    return error;
  }
  return assert.fail(`${argv.join(" ")} should have failed`);
}

for (const blocking of [false, true]) {
  const how = blocking ? " (blocking run)" : "";

  test(`an exit code: the argv, the code, then stderr's last lines${how}`, async () => {
    const error = await failureOf(["sh", "-c", "echo one >&2; echo two >&2; echo 3 >&2; exit 3"], {
      blocking,
    });
    assert.equal(
      error.message,
      "sh -c 'echo one >&2; echo two >&2; echo 3 >&2; exit 3' failed with exit code 3: two / 3",
    );
  });

  test(`a time limit: "timed out after N s", never an exit code${how}`, async () => {
    const error = await failureOf(["sleep", "5"], { timeoutMs: 100, blocking });
    assert.equal(error.message, "sleep 5 timed out after 0.1 s");
    assert.equal(error.timedOutAfterMs, 100);
  });

  test(`a signal: "was killed by SIGTERM", never "exit code SIGTERM"${how}`, async () => {
    const error = await failureOf(["sh", "-c", "kill -TERM $$"], { blocking });
    assert.equal(error.message, "sh -c 'kill -TERM $$' was killed by SIGTERM");
  });

  test(`a missing program could not be started, exit 69, with its own install hint${how}`, async () => {
    const error = await failureOf(["rootsnap-no-such-program", "x"], { blocking });
    assert.equal(error.message, "rootsnap-no-such-program not found");
    const reported = commandFailure(error);
    assert.equal(reported.exitCode, ExitCode.unavailable);
    assert.equal(reported.message, error.message);
    assert.equal(reported.hint, "install the package that provides rootsnap-no-such-program");
  });
}

test('an abort of rootsnap\'s own signal: "was cancelled"', async () => {
  const controller = new AbortController();
  setTimeout(() => {
    controller.abort();
  }, 50);
  const error = await failureOf(["sleep", "5"], { signal: controller.signal });
  assert.equal(error.message, "sleep 5 was cancelled");
});

/** Programs in a directory of their own, each the shell script `body`, on a PATH of just it. */
function onPath(names: readonly string[], body: string): Record<string, string> {
  const dir = tempDir("rootsnap-programs-");
  for (const name of names) {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  }
  return { PATH: dir };
}

test("a missing program is named with the package that has it, for this system's manager", async () => {
  const nothing = { env: { PATH: tempDir("rootsnap-empty-path-") } };
  const as = async (argv: string[]) => new LvmError(await failureOf(argv, nothing));
  const apt = existsSync("/usr/bin/apt-get");
  for (const argv of [["lvcreate", "-n", "x"], ["lvs"]]) {
    const error = await as(argv);
    assert.equal(error.message, `${argv[0] ?? ""} not found`, "the name, not the command line");
    if (apt) assert.equal(error.hint, "apt-get install lvm2", argv[0]);
  }
  const mount = await as(["mount", "-o", "ro", "/dev/vg0/x", "/mnt"]);
  assert.equal(mount.exitCode, ExitCode.unavailable);
  assert.equal(mount.message, "mount not found");
  const only = (manager: string) => (path: string) => path === `/usr/bin/${manager}`;
  assert.equal(installHint("lvs", only("apt-get")), "apt-get install lvm2");
  assert.equal(installHint("/usr/sbin/lvs", only("dnf")), "dnf install lvm2");
  assert.equal(installHint("thin_check", only("dnf")), "dnf install device-mapper-persistent-data");
  assert.equal(installHint("thin_check", only("pacman")), "pacman -S thin-provisioning-tools");
  assert.equal(installHint("mount", only("apt-get")), "apt-get install mount");
  assert.equal(installHint("grub-mkconfig", only("pacman")), "pacman -S grub");
  assert.equal(
    installHint("zstd", () => false),
    "install zstd",
  );
  assert.equal(
    installHint("frobnicate", only("apt-get")),
    "install the package that provides frobnicate",
  );
  assert.doesNotMatch(installHint("lvs", only("apt-get")), /sudo/);
});

test("lvm's exit codes get their meaning; another program's do not", async () => {
  const env = onPath(["lvremove", "umount"], `echo '  Volume group "vg0" not found' >&2; exit 5`);
  const of = async (argv: string[]) => new LvmError(await failureOf(argv, { env }));
  assert.equal(
    (await of(["lvremove", "vg0/x"])).message,
    'lvremove vg0/x failed with exit code 5 (command failed): Volume group "vg0" not found',
  );
  assert.equal(
    (await of(["umount", "/mnt"])).message,
    'umount /mnt failed with exit code 5: Volume group "vg0" not found',
  );
});

test("a program through the effects gate fails with the one description", async () => {
  const effects = testEffects(run);
  await assert.rejects(effects.run(["sh", "-c", "echo broke >&2; exit 4"]), {
    exitCode: ExitCode.failed,
    message: "sh -c 'echo broke >&2; exit 4' failed with exit code 4: broke",
  });
  await assert.rejects(effects.read(["sleep", "5"], { timeoutMs: 100 }), {
    message: "sleep 5 timed out after 0.1 s",
  });
});

test("a pipeline stage's end is described the same way", async () => {
  const failed = startPipeline([["sh", "-c", "echo gone >&2; exit 3"]]);
  const [end] = await failed.ended;
  assert.ok(end !== undefined);
  assert.equal(describeEnd(end), "sh -c 'echo gone >&2; exit 3' failed with exit code 3: gone");

  const missing = startPipeline([["rootsnap-no-such-program"]]);
  const [notFound] = await missing.ended;
  assert.ok(notFound !== undefined);
  assert.equal(describeEnd(notFound), "rootsnap-no-such-program not found");

  const killed = startPipeline([["sh", "-c", "kill -TERM $$"]]);
  const [signalled] = await killed.ended;
  assert.ok(signalled !== undefined);
  assert.equal(describeEnd(signalled), "sh -c 'kill -TERM $$' was killed by SIGTERM");

  const stopped = startPipeline([["sleep", "5"]]);
  setTimeout(() => {
    stopped.kill();
  }, 50);
  const [cancelled] = await stopped.ended;
  assert.ok(cancelled !== undefined);
  assert.equal(describeEnd(cancelled), "sleep 5 was cancelled");
});
