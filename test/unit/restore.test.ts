// restore's guard against the running system: / under another name is still /.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { restore } from "../../src/commands/restore.ts";
import { ExitCode, RootsnapError } from "../../src/system/errors.ts";
import { fakeRunner, testContext } from "./helpers.ts";

test("a target that is / through a bind mount (same device and inode) is refused with exit 65", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rootsnap-restore-"));
  try {
    const archive = join(dir, "some.tar");
    writeFileSync(archive, Buffer.alloc(10240));
    const target = join(dir, "b");
    mkdirSync(target);
    const fake = fakeRunner(() => ({}));
    const context = testContext(fake.runner);
    // What stat says of `mount --bind / DIR`: DIR is the root directory of /'s file system.
    const identify = (path: string) =>
      Promise.resolve(path === "/" || path === target ? { dev: 2049, ino: 2 } : { dev: 1, ino: 9 });
    await assert.rejects(
      restore(context, archive, target, { identify }),
      (error: unknown) =>
        error instanceof RootsnapError &&
        error.exitCode === ExitCode.dataError &&
        /^refusing to restore over the running system's \/ \(.*\/b is \/ itself/.test(
          error.message,
        ),
    );
    assert.deepEqual(fake.calls, [], "nothing run");
    assert.deepEqual(readdirSync(target), [], "nothing written");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
