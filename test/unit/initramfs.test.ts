// The initramfs hook that keeps lvm's merge poller out of the initramfs: run for real
// under sh against the udev rules and lvm2 hooks recorded on Debian 12 and 13, and the
// decision of when revert rebuilds the initramfs.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  INITRAMFS_HOOK,
  INITRAMFS_HOOK_TEXT,
  initramfsPolling,
  prepareInitramfsForMerge,
  rulesStartPoller,
} from "../../src/boot/initramfs.ts";
import { run } from "../../src/system/runner.ts";
import { fakeRunner, memoryFiles, tempDir, testEffects } from "./helpers.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
const RECORDED = [
  { system: "Debian 12", dir: "lvm2-2.03.16/bookworm-simple/initramfs", rulesDir: "lib" },
  { system: "Debian 13", dir: "lvm2-2.03.31/trixie-split/initramfs", rulesDir: "usr/lib" },
];

function recorded(dir: string, file: string): string {
  return readFileSync(join(FIXTURES, dir, file), "utf8");
}

const RULES = "usr_lib_udev_rules.d_69-lvm.rules";
const LVM_HOOK = "usr_share_initramfs-tools_hooks_lvm2";

/** The RUN lines of a rules file that start vgchange, as text. */
function vgchangeRuns(rules: string): string[] {
  return rules.split("\n").filter((line) => /RUN\+=.*vgchange/.test(line));
}

for (const { system, dir, rulesDir } of RECORDED) {
  test(`${system}: the hook gives the initramfs copy of lvm's rule --poll n, and only the direct one`, async () => {
    const rules = recorded(dir, RULES);
    assert.ok(rulesStartPoller(rules), "the recorded rule polls");
    const root = tempDir("rootsnap-initramfs-");
    const destdir = join(root, "dest");
    const copied = join(destdir, rulesDir, "udev", "rules.d", "69-lvm.rules");
    mkdirSync(join(copied, ".."), { recursive: true });
    writeFileSync(copied, rules);
    const hook = join(root, "hook");
    writeFileSync(hook, INITRAMFS_HOOK_TEXT);
    const prereqs = await run(["sh", hook, "prereqs"]);
    assert.equal(prereqs.stdout.trim(), "lvm2", "runs after lvm2's hook has copied the rules");
    for (let pass = 0; pass < 2; pass += 1) {
      const result = await run(["sh", hook], { env: { DESTDIR: destdir } });
      assert.equal(result.code, 0);
    }
    const after = readFileSync(copied, "utf8");
    assert.ok(!rulesStartPoller(after), "the initramfs copy no longer polls");
    const [systemdRun, direct] = vgchangeRuns(after);
    assert.equal(systemdRun, vgchangeRuns(rules)[0], "the systemd-run rule is left as it was");
    assert.match(
      direct ?? "",
      /RUN\+="\/(usr\/)?sbin\/lvm vgchange --poll n -aay --autoactivation event /,
    );
    assert.equal(
      after.split("\n").length,
      rules.split("\n").length,
      "one line changed, run twice, nothing else",
    );
  });
}

test("rules that poll nothing or go through systemd-run need no hook", () => {
  assert.ok(!rulesStartPoller('RUN+="/usr/sbin/lvm vgchange -aay --sysinit $env{X}"'));
  assert.ok(!rulesStartPoller('RUN+="/usr/sbin/lvm vgchange --poll n -aay $env{X}"'));
  assert.ok(
    !rulesStartPoller('RUN+="/usr/bin/systemd-run --no-block /usr/sbin/lvm vgchange -aay $env{X}"'),
  );
  assert.ok(!rulesStartPoller('# RUN+="/usr/sbin/lvm vgchange -aay $env{X}"'));
});

function trixieFiles() {
  const dir = RECORDED[1]?.dir ?? "";
  return memoryFiles({
    "/usr/sbin/update-initramfs": "#!/bin/sh\n",
    "/usr/share/initramfs-tools/hooks/lvm2": recorded(dir, LVM_HOOK),
    "/usr/lib/udev/rules.d/69-lvm.rules": recorded(dir, RULES),
    "/boot/initrd.img-6.12.117+deb13-cloud-amd64": "old image",
    "/boot/vmlinuz-6.12.117+deb13-cloud-amd64": "kernel",
    "/boot/initrd.img-6.12.99+deb13-cloud-amd64": "image of a removed kernel",
  });
}

test("revert installs the hook and rebuilds the images once; later reverts rebuild nothing", async () => {
  const { files, data, times } = trixieFiles();
  await files.makeDirectory("/lib/modules/6.12.117+deb13-cloud-amd64");
  const fake = fakeRunner((argv) => {
    // update-initramfs writes a newer image.
    if (argv[0] === "/usr/sbin/update-initramfs") {
      times.set("/boot/initrd.img-6.12.117+deb13-cloud-amd64", Number.MAX_SAFE_INTEGER);
    }
    return {};
  });
  const dry = testEffects(fake.runner, { dryRun: true, files });
  assert.deepEqual(await prepareInitramfsForMerge(files, dry), {
    rebuilt: ["/boot/initrd.img-6.12.117+deb13-cloud-amd64"],
    skipped: ["/boot/initrd.img-6.12.99+deb13-cloud-amd64"],
    leftAlone: [],
  });
  assert.deepEqual(dry.changes, [
    ["write", INITRAMFS_HOOK],
    ["/usr/sbin/update-initramfs", "-u", "-k", "6.12.117+deb13-cloud-amd64"],
  ]);
  assert.ok(!data.has(INITRAMFS_HOOK) && fake.calls.length === 0, "a dry run changes nothing");

  const first = testEffects(fake.runner, { dryRun: false, files });
  await prepareInitramfsForMerge(files, first);
  assert.equal(data.get(INITRAMFS_HOOK)?.toString(), INITRAMFS_HOOK_TEXT);
  assert.deepEqual(fake.calls, [
    ["/usr/sbin/update-initramfs", "-u", "-k", "6.12.117+deb13-cloud-amd64"],
  ]);
  assert.deepEqual((await initramfsPolling(files)).stale, [
    "/boot/initrd.img-6.12.99+deb13-cloud-amd64",
  ]);

  data.delete("/boot/initrd.img-6.12.99+deb13-cloud-amd64");
  const second = testEffects(fake.runner, { dryRun: false, files });
  assert.deepEqual(await prepareInitramfsForMerge(files, second), {
    rebuilt: [],
    skipped: [],
    leftAlone: [],
  });
  assert.deepEqual(second.changes, [], "images built with the hook are not rebuilt");

  // A kernel installed by a tool that bypassed the hook's mtime (an image older than it).
  times.set("/boot/initrd.img-6.12.117+deb13-cloud-amd64", 1);
  const third = testEffects(fake.runner, { dryRun: false, files });
  assert.deepEqual((await prepareInitramfsForMerge(files, third)).rebuilt, [
    "/boot/initrd.img-6.12.117+deb13-cloud-amd64",
  ]);
  assert.deepEqual(third.changes, [
    ["/usr/sbin/update-initramfs", "-u", "-k", "6.12.117+deb13-cloud-amd64"],
  ]);
});

test("with /boot inside the reverted volume, only the set's kernels are rebuilt", async () => {
  const { files } = trixieFiles();
  await files.makeDirectory("/lib/modules/6.12.117+deb13-cloud-amd64");
  await files.makeDirectory("/lib/modules/6.12.99+deb13-cloud-amd64");
  const steps = testEffects(fakeRunner(() => ({})).runner, { dryRun: true, files });
  // The set has the older kernel only: the newer one and its modules go with the merge.
  const result = await prepareInitramfsForMerge(
    files,
    steps,
    new Set(["6.12.99+deb13-cloud-amd64"]),
  );
  assert.deepEqual(result, {
    rebuilt: ["/boot/initrd.img-6.12.99+deb13-cloud-amd64"],
    skipped: [],
    leftAlone: ["/boot/initrd.img-6.12.117+deb13-cloud-amd64"],
  });
  assert.deepEqual(steps.changes, [
    ["write", INITRAMFS_HOOK],
    ["/usr/sbin/update-initramfs", "-u", "-k", "6.12.99+deb13-cloud-amd64"],
  ]);
});

test("no initramfs-tools, or rules that do not poll: nothing is written or run", async () => {
  const { files, data } = trixieFiles();
  data.delete("/usr/sbin/update-initramfs");
  const steps = testEffects(fakeRunner(() => ({})).runner, { dryRun: false, files });
  const none = { rebuilt: [], skipped: [], leftAlone: [] };
  assert.deepEqual(await prepareInitramfsForMerge(files, steps), none);
  assert.deepEqual(steps.changes, []);
  const polled = trixieFiles();
  polled.data.set(
    "/usr/lib/udev/rules.d/69-lvm.rules",
    Buffer.from('RUN+="/usr/sbin/lvm vgchange -aay --sysinit $env{X}"\n'),
  );
  assert.deepEqual(
    await prepareInitramfsForMerge(
      polled.files,
      testEffects(steps.runner, { files: polled.files }),
    ),
    none,
  );
  assert.ok(!polled.data.has(INITRAMFS_HOOK));
});

test("a failing update-initramfs is reported with its command", async () => {
  const { files } = trixieFiles();
  await files.makeDirectory("/lib/modules/6.12.117+deb13-cloud-amd64");
  const fake = fakeRunner((argv) =>
    argv[0] === "/usr/sbin/update-initramfs" ? { code: 1, stderr: "E: no space left\n" } : {},
  );
  await assert.rejects(
    prepareInitramfsForMerge(files, testEffects(fake.runner, { dryRun: false, files: files })),
    (error) => {
      assert.match(
        String(error),
        /update-initramfs -u -k 6\.12\.117\+deb13-cloud-amd64.*no space left/,
      );
      return true;
    },
  );
});
