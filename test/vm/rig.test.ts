// The rig's own failure modes end with a clear message within their timeout.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { run } from "../../src/system/runner.ts";
import { Machine, getLayout, vmSkip } from "./rig/index.ts";

test("an unknown layout name is refused with the list of layouts", () => {
  assert.throws(
    () => getLayout("sid-zfs"),
    /unknown VM layout "sid-zfs": choose one of bookworm-simple, trixie-split, trixie-thin/,
  );
});

test("a missing QEMU is reported with how to install it", async () => {
  const saved = process.env.ROOTSNAP_QEMU;
  process.env.ROOTSNAP_QEMU = "/nonexistent/qemu-system-x86_64";
  try {
    await assert.rejects(
      Machine.create("bookworm-simple"),
      /qemu-system-x86_64 not found: install it with "apt-get install qemu-system-x86 qemu-utils"/,
    );
  } finally {
    if (saved === undefined) delete process.env.ROOTSNAP_QEMU;
    else process.env.ROOTSNAP_QEMU = saved;
  }
});

test(
  "a guest that never answers ends the boot with a clear error",
  { skip: vmSkip(), timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "rsvm-blank-"));
    try {
      const blank = join(dir, "blank.qcow2");
      await run(["qemu-img", "create", "-q", "-f", "qcow2", blank, "1G"]);
      const started = Date.now();
      await assert.rejects(
        Machine.create("bookworm-simple", { baseImage: blank, bootTimeoutMs: 10_000 }),
        /guest agent of bookworm-simple did not answer within 10 s/,
      );
      assert.ok(Date.now() - started < 40_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
