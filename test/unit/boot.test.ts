// Boot integration: the generated GRUB script run against a stand-in 10_linux, grub.cfg
// parsing, diffs, /boot copies, and setup then uninstall leaving every byte as it was.
import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { bootLeftOut, filesToDrop } from "../../src/boot/bootcopy.ts";
import { unifiedDiff } from "../../src/boot/diff.ts";
import { defaultKernel, entryForKernel } from "../../src/boot/entries.ts";
import { grubScript, hasRootsnapEntry, nextEntryOf, usesBls } from "../../src/boot/grub.ts";
import { setupBoot, uninstallBoot, SAVED_GRUB_CFG, STATE_PATH } from "../../src/boot/install.ts";
import { INITRAMFS_HOOK, INITRAMFS_HOOK_TEXT } from "../../src/boot/initramfs.ts";
import { unitFiles } from "../../src/boot/units.ts";
import { ambiguousFstab } from "../../src/commands/doctor.ts";
import { parseMountinfo } from "../../src/config/mounts.ts";
import { run } from "../../src/system/runner.ts";
import {
  fakeRunner,
  GRUB,
  GRUB_TOOLS,
  memoryFiles,
  sample,
  tempDir,
  testEffects,
} from "./helpers.ts";

const LINUX_ENTRY = `menuentry 'Debian GNU/Linux' --class debian --class gnu-linux $menuentry_id_option 'gnulinux-simple-abc' {
\tload_video
\tlinux\t/boot/vmlinuz-6.1.0-56-cloud-amd64 root=/dev/mapper/vg0-root ro PARAMS console=ttyS0
\tinitrd\t/boot/initrd.img-6.1.0-56-cloud-amd64
}`;

const GRUB_CFG = `### BEGIN /etc/grub.d/10_linux ###
${LINUX_ENTRY.replace("PARAMS ", "")}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-abc' {
\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-56-cloud-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-56-cloud-amd64-advanced-abc' {
\t\tlinux\t/boot/vmlinuz-6.1.0-56-cloud-amd64 root=/dev/mapper/vg0-root ro
\t}
\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-50-cloud-amd64 (recovery mode)' --class debian $menuentry_id_option 'gnulinux-6.1.0-50-cloud-amd64-recovery-abc' {
\t\tlinux\t/boot/vmlinuz-6.1.0-50-cloud-amd64 root=/dev/mapper/vg0-root ro single
\t}
\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-50-cloud-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-50-cloud-amd64-advanced-abc' {
\t\tlinux\t/boot/vmlinuz-6.1.0-50-cloud-amd64 root=/dev/mapper/vg0-root ro
\t}
}
### END /etc/grub.d/10_linux ###
`;

test("the /etc/grub.d script copies 10_linux's first entry with the parameter and its own id", async () => {
  const dir = tempDir("rootsnap-grubd-");
  const linux = join(dir, "10_linux");
  writeFileSync(
    linux,
    `#!/bin/sh\necho 'function gfxmode {'\necho '}'\ncat <<'X' | sed "s|PARAMS|$GRUB_CMDLINE_LINUX|"\n${LINUX_ENTRY}\nsubmenu 'Advanced' {\n\tmenuentry 'x' {\n\t}\n}\nX\n`,
  );
  chmodSync(linux, 0o755);
  const script = join(dir, "42_rootsnap");
  writeFileSync(script, grubScript().replaceAll("/etc/grub.d/10_linux", linux));
  const { stdout } = await run(["sh", script], { env: { GRUB_CMDLINE_LINUX: "quiet" } });
  assert.equal(
    stdout,
    `menuentry 'Debian GNU/Linux, rootsnap boot-time snapshot' --class debian --class gnu-linux $menuentry_id_option 'rootsnap-boot' {
\tload_video
\tlinux\t/boot/vmlinuz-6.1.0-56-cloud-amd64 root=/dev/mapper/vg0-root ro quiet rootsnap.boot=1 console=ttyS0
\tinitrd\t/boot/initrd.img-6.1.0-56-cloud-amd64
}
`,
  );
  assert.ok(hasRootsnapEntry(stdout));
  // No Linux entry: nothing printed, and exit 0 so update-grub goes on.
  writeFileSync(linux, "#!/bin/sh\nexit 1\n");
  const empty = await run(["sh", script]);
  assert.equal(empty.stdout, "");
  assert.match(empty.stderr, /no Linux entry found/);
});

test("grub.cfg: the default kernel, and the entry path grub-reboot takes for an older one", () => {
  assert.equal(defaultKernel(GRUB_CFG), "/boot/vmlinuz-6.1.0-56-cloud-amd64");
  assert.equal(
    entryForKernel(GRUB_CFG, "/boot/vmlinuz-6.1.0-50-cloud-amd64")?.path,
    "gnulinux-advanced-abc>gnulinux-6.1.0-50-cloud-amd64-advanced-abc",
  );
  assert.equal(entryForKernel(GRUB_CFG, "/boot/vmlinuz-5.10"), undefined);
  assert.equal(hasRootsnapEntry(GRUB_CFG), false);
  assert.equal(nextEntryOf("saved_entry=0\nnext_entry=rootsnap-boot\n"), "rootsnap-boot");
  assert.equal(nextEntryOf("saved_entry=0\n"), undefined);
  assert.ok(usesBls('GRUB_TIMEOUT=5\nGRUB_ENABLE_BLSCFG="true"\n'));
  assert.ok(!usesBls("#GRUB_ENABLE_BLSCFG=true\n"));
});

test("the units keep the default target and never hold up the boot", () => {
  const [boot, finish] = unitFiles(["/usr/bin/node", "/usr/bin/rootsnap"]);
  assert.match(boot?.text ?? "", /^ConditionKernelCommandLine=rootsnap\.boot$/m);
  assert.match(boot?.text ?? "", /^Before=local-fs\.target/m);
  // The boot plan when there is one, else rootsnap itself.
  assert.match(
    boot?.text ?? "",
    /^ExecStart=\/bin\/sh -c "\[ -r \/etc\/rootsnap\/boot-plan\.sh \] && exec \/bin\/sh \/etc\/rootsnap\/boot-plan\.sh; exec \/usr\/bin\/node \/usr\/bin\/rootsnap create --kind boot"$/m,
  );
  assert.doesNotMatch(boot?.text ?? "", /systemd\.unit=|Requires=/);
  assert.equal(boot?.wantedBy, "local-fs.target");
  assert.match(
    finish?.text ?? "",
    /^ExecStart=\/usr\/bin\/node \/usr\/bin\/rootsnap boot-finish$/m,
  );
});

test("unified diff of a new file and of a changed line", () => {
  assert.equal(unifiedDiff("/f", "a\n", "a\n"), "");
  assert.equal(
    unifiedDiff("/f", undefined, "x\ny\n"),
    "--- /dev/null\n+++ /f\n@@ -0,0 +1,2 @@\n+x\n+y\n",
  );
  assert.equal(
    unifiedDiff("/f", "1\n2\n3\n", "1\ntwo\n3\n"),
    "--- /f\n+++ /f\n@@ -1,3 +1,3 @@\n 1\n-2\n+two\n 3\n",
  );
  assert.equal(unifiedDiff("/f", "x\n", undefined), "--- /f\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-x\n");
});

test("/boot copies: needed only when / is in the set and /boot is not; later kernels dropped", () => {
  const mounts = parseMountinfo(sample("handwritten-mountinfo.txt"));
  assert.ok(bootLeftOut(mounts, new Set(["254:0"])));
  assert.ok(!bootLeftOut(mounts, new Set(["254:0", "8:1"])));
  assert.ok(!bootLeftOut(mounts, new Set(["254:1"])));
  assert.deepEqual(
    filesToDrop(
      [
        "vmlinuz-6.12",
        "vmlinuz-7.3",
        "initrd.img-7.3",
        "config-7.3",
        "System.map-7.3",
        "memtest86+.bin",
      ],
      ["vmlinuz-6.12", "grub/grub.cfg"],
    ),
    ["vmlinuz-7.3", "initrd.img-7.3", "config-7.3", "System.map-7.3"],
  );
});

test("doctor names fstab lines that a snapshot makes ambiguous", () => {
  const mounts = parseMountinfo(sample("handwritten-mountinfo.txt"));
  const fstab =
    "# comment\nUUID=1234 / ext4 defaults 0 1\nUUID=abcd /boot ext4 defaults 0 2\n/dev/mapper/vg0-home /home ext4 defaults 0 2\n";
  assert.deepEqual(ambiguousFstab(fstab, mounts, new Set(["254:0", "254:1"])), ["UUID=1234 /"]);
});

test("setup installs, is idempotent, and uninstall leaves every byte as before", async () => {
  const { files, data } = memoryFiles({
    "/boot/grub/grub.cfg": GRUB_CFG,
    "/etc/default/grub": "GRUB_DEFAULT=0\n",
  });
  const before = new Map(data);
  const withEntry = `${GRUB_CFG}menuentry 'x' $menuentry_id_option 'rootsnap-boot' {\n}\n`;
  const fake = fakeRunner((argv) => {
    if (argv[0] === GRUB.mkconfig) {
      const out = argv[2] ?? "";
      data.set(out, Buffer.from(data.has("/etc/grub.d/42_rootsnap") ? withEntry : GRUB_CFG));
    }
    return {};
  });
  const dry = await setupBoot(
    files,
    testEffects(fake.runner, { dryRun: true, files: files }),
    GRUB,
    ["/usr/bin/node", "/usr/bin/rootsnap"],
  );
  assert.equal(dry.changes.length, 3);
  assert.deepEqual([...data.keys()].sort(), [...before.keys()].sort(), "a dry run writes nothing");
  const made = await setupBoot(
    files,
    testEffects(fake.runner, { dryRun: false, files: files }),
    GRUB,
    ["/usr/bin/node", "/usr/bin/rootsnap"],
  );
  assert.equal(made.unchanged, false);
  assert.ok(hasRootsnapEntry(data.get(GRUB.config)?.toString() ?? ""));
  assert.ok(data.has(STATE_PATH) && data.has(SAVED_GRUB_CFG));
  assert.ok(
    fake.calls.some(
      (argv) => argv.join(" ") === "systemctl enable rootsnap-boot.service rootsnap-finish.service",
    ),
  );
  const again = await setupBoot(
    files,
    testEffects(fake.runner, { dryRun: false, files: files }),
    GRUB,
    ["/usr/bin/node", "/usr/bin/rootsnap"],
  );
  assert.equal(again.unchanged, true);
  // A revert since setup installed the initramfs hook: uninstall takes it away too.
  data.set(INITRAMFS_HOOK, Buffer.from(INITRAMFS_HOOK_TEXT));
  await uninstallBoot(files, testEffects(fake.runner, { dryRun: false, files: files }), GRUB);
  assert.deepEqual(
    [...data.entries()].sort(),
    [...before.entries()].sort(),
    "uninstall leaves exactly the files there were",
  );
});

async function runCli(
  argv: string[],
  initial: Record<string, string>,
  reply: (argv: readonly string[]) => { stdout?: string; code?: number } = () => ({}),
) {
  const { main } = await import("../../src/cli/app.ts");
  const { testIo } = await import("./helpers.ts");
  const { files } = memoryFiles({ ...GRUB_TOOLS, ...initial });
  const fake = fakeRunner(reply);
  const io = testIo(fake.runner, { bootFiles: files });
  const code = await main(argv, io);
  return { code, io, calls: fake.calls };
}

test("next-boot needs the entry setup makes, then runs grub-reboot; --cancel unsets only ours", async () => {
  const missing = await runCli(["next-boot"], { "/boot/grub/grub.cfg": GRUB_CFG });
  assert.equal(missing.code, 78);
  assert.match(missing.io.stderrText, /has no rootsnap entry \(hint: run rootsnap setup first/);
  assert.deepEqual(missing.calls, []);

  const withEntry = `${GRUB_CFG}menuentry 'x' $menuentry_id_option 'rootsnap-boot' {\n}\n`;
  const set = await runCli(["--json", "next-boot"], { "/boot/grub/grub.cfg": withEntry });
  assert.equal(set.code, 0);
  assert.deepEqual(set.calls, [["/usr/sbin/grub-reboot", "rootsnap-boot"]]);
  assert.equal((JSON.parse(set.io.stdoutText) as { next_boot: string }).next_boot, "rootsnap-boot");

  const env = { "/boot/grub/grub.cfg": withEntry, "/boot/grub/grubenv": "" };
  const ours = await runCli(["next-boot", "--cancel"], env, (argv) =>
    argv.includes("list") ? { stdout: "next_entry=rootsnap-boot\n" } : {},
  );
  assert.equal(ours.code, 0);
  assert.ok(
    ours.calls.some(
      (argv) => argv.join(" ") === "/usr/sbin/grub-editenv /boot/grub/grubenv unset next_entry",
    ),
  );
  const theirs = await runCli(["next-boot", "--cancel"], env, () => ({
    stdout: "next_entry=1>2\n",
  }));
  assert.equal(theirs.code, 0);
  assert.ok(!theirs.calls.some((argv) => argv.includes("unset")), "another one-shot is left alone");
  assert.match(theirs.io.stderrText, /starts entry 1>2, not rootsnap's/);
});

test("setup refuses GRUB with BLSCFG but no entry directory with exit 69 and changes nothing", async () => {
  const bls = await runCli(["setup"], {
    "/boot/grub2/grub.cfg": "blscfg\n",
    "/etc/default/grub": 'GRUB_ENABLE_BLSCFG="true"\n',
  });
  assert.equal(bls.code, 69);
  assert.match(
    bls.io.stderrText,
    /^rootsnap: error: \/etc\/default\/grub sets GRUB_ENABLE_BLSCFG=true, but \/boot\/loader\/entries does not exist/m,
  );
  assert.deepEqual(bls.calls, []);
});
