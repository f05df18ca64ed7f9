// GRUB with Boot Loader Spec entries (Fedora, RHEL and their clones), on recorded Fedora
// files (samples/fedora-37-bls, origin in its ORIGIN.md): rpm's version order as blscfg
// sorts the menu, the default grubenv names, rootsnap's entry beside it, setup, next-boot
// with grub2-reboot, and an uninstall that leaves every byte as it was.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { blsField, isRootsnapEntry, parseBlsEntry } from "../../src/boot/bls.ts";
import { detectGrub, isGrubBls, type GrubBls } from "../../src/boot/grub.ts";
import {
  compareGrubBlsEntries,
  compareRpmVersions,
  grubBlsDefault,
  parseGrubEnv,
  planGrubBlsEntry,
  readGrubBlsEntries,
} from "../../src/boot/grubbls.ts";
import { bootArea, bootFilesToCopy } from "../../src/boot/bootcopy.ts";
import { setupBoot, STATE_PATH, uninstallBoot } from "../../src/boot/install.ts";
import { KERNEL_INSTALL_PLUGIN } from "../../src/boot/sdboot.ts";
import { detectStack } from "../../src/boot/stack.ts";
import { parseMountinfo } from "../../src/config/mounts.ts";
import { fakeRunner, memoryFiles, testEffects, testIo } from "./helpers.ts";

const SAMPLE = fileURLToPath(new URL("samples/fedora-37-bls/", import.meta.url));
const KERNEL = "ffffffffffffffffffffffffffffffff-6.4.4-100.fc37.x86_64";
const RESCUE = "ffffffffffffffffffffffffffffffff-0-rescue-ffffffffffffffffffffffffffffffff";
const OURS = `${KERNEL}-rootsnap`;
const PROGRAM = ["/usr/bin/node", "/usr/lib/rootsnap/rootsnap.mjs"];
const GRUB2_TOOLS = Object.fromEntries(
  ["grub2-mkconfig", "grub2-reboot", "grub2-editenv", "grub2-script-check", "grub2-install"].map(
    (tool) => [`/usr/sbin/${tool}`, ""],
  ),
);

/** The recorded Fedora tree, path by path as the system has it. */
function fedoraTree(): Record<string, string> {
  const tree: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name !== "ORIGIN.md")
        tree[`/${relative(SAMPLE, path)}`] = readFileSync(path, "utf8");
    }
  };
  walk(SAMPLE);
  return { ...tree, ...GRUB2_TOOLS };
}

/** An in-memory tree of `files`, with the directories that hold them. */
async function treeOf(files: Record<string, string>): Promise<ReturnType<typeof memoryFiles>> {
  const tree = memoryFiles(files);
  for (const path of Object.keys(files)) {
    const parts = path.split("/").slice(1, -1);
    for (let i = 1; i <= parts.length; i += 1) {
      await tree.files.makeDirectory(`/${parts.slice(0, i).join("/")}`);
    }
  }
  return tree;
}

async function fedora(): Promise<{ tree: ReturnType<typeof memoryFiles>; grub: GrubBls }> {
  const tree = await treeOf(fedoraTree());
  const grub = await detectGrub(tree.files);
  assert.ok(isGrubBls(grub), "GRUB_ENABLE_BLSCFG=true: a GRUB that reads BLS entries");
  return { tree, grub };
}

test("rpm's version order, as blscfg sorts its menu: ~ below all, numbers above letters", () => {
  const older: [string, string][] = [
    ["6.4.4-100.fc37.x86_64~rootsnap", "6.4.4-100.fc37.x86_64"],
    ["0-rescue-ffffffffffffffffffffffffffffffff", "6.4.4-100.fc37.x86_64"],
    ["6.4.4-100.fc37.x86_64", "6.4.10-100.fc37.x86_64"],
    ["6.4.4-100.fc37.x86_64", "6.4.4-200.fc38.x86_64"],
    ["1.0~rc1", "1.0"],
    ["1.0a", "1.0.1"],
    ["5.14.0-362.el9", "5.14.0-427.13.1.el9_4"],
    ["1.0", "1.0.0"],
  ];
  for (const [a, b] of older) {
    assert.ok(compareRpmVersions(a, b) < 0, `${a} < ${b}`);
    assert.ok(compareRpmVersions(b, a) > 0, `${b} > ${a}`);
  }
  assert.equal(compareRpmVersions("1.0", "1.0"), 0);
  assert.equal(compareRpmVersions("1_0", "1.0"), 0, "separators are all alike");
  assert.equal(compareRpmVersions("007", "7"), 0, "leading zeros do not count");
});

test("Fedora's tree: GRUB 2 found in /boot/grub2 with its grubenv and the BLS directory", async () => {
  const { grub } = await fedora();
  assert.equal(grub.config, "/boot/grub2/grub.cfg");
  assert.equal(grub.env, "/boot/grub2/grubenv");
  assert.equal(grub.entries, "/boot/loader/entries");
  assert.equal(grub.reboot, "/usr/sbin/grub2-reboot");
  assert.equal(grub.editenv, "/usr/sbin/grub2-editenv");
  const noEntries = memoryFiles({
    "/etc/default/grub": "GRUB_ENABLE_BLSCFG=true\n",
    "/boot/grub2/grub.cfg": "blscfg\n",
    ...GRUB2_TOOLS,
  });
  await assert.rejects(detectGrub(noEntries.files), /\/boot\/loader\/entries does not exist/);
});

test("the menu in blscfg's order, the default from saved_entry, rootsnap's copy after it", async () => {
  const { tree, grub } = await fedora();
  const entries = await readGrubBlsEntries(tree.files, grub);
  assert.deepEqual(
    entries.map((placed) => placed.entry.id),
    [`${KERNEL}.conf`, `${RESCUE}.conf`],
  );
  const env = parseGrubEnv(tree.data.get(grub.env)?.toString());
  assert.equal(env.get("saved_entry"), KERNEL);
  assert.equal(grubBlsDefault(entries, env)?.entry.id, `${KERNEL}.conf`);
  // saved_entry naming the rescue entry, by id or by menu index, makes it the default.
  assert.equal(
    grubBlsDefault(entries, new Map([["saved_entry", RESCUE]]))?.entry.id,
    `${RESCUE}.conf`,
  );
  assert.equal(
    grubBlsDefault(entries, new Map([["saved_entry", "1"]]))?.entry.id,
    `${RESCUE}.conf`,
  );
  assert.equal(grubBlsDefault(entries, new Map())?.entry.id, `${KERNEL}.conf`);

  const plan = await planGrubBlsEntry(tree.files, grub);
  assert.equal(plan.wanted?.path, `/boot/loader/entries/${OURS}.conf`);
  const copy = parseBlsEntry(`${OURS}.conf`, plan.wanted.text);
  assert.ok(isRootsnapEntry(copy));
  assert.equal(
    blsField(copy, "options"),
    "root=UUID=6e4ff95f-f662-45ee-a82a-bdf44a2d0b75 ro no_timer_check console=ttyS0,115200n8 biosdevname=0 net.ifnames=0 debug rootsnap.boot=1",
  );
  for (const key of ["linux", "initrd", "grub_users", "grub_arg", "grub_class"]) {
    assert.equal(blsField(copy, key), blsField(entries[0]?.entry ?? copy, key), key);
  }
  // In blscfg's order the copy comes right after the kernel it copies, never first.
  const menu = [...entries.map((placed) => placed.entry), copy].sort(compareGrubBlsEntries);
  assert.deepEqual(
    menu.map((entry) => entry.id),
    [`${KERNEL}.conf`, `${OURS}.conf`, `${RESCUE}.conf`],
  );
  const withCopy = [...entries, { dir: grub.entries, entry: copy }].sort((a, b) =>
    compareGrubBlsEntries(a.entry, b.entry),
  );
  assert.equal(grubBlsDefault(withCopy, new Map())?.entry.id, `${KERNEL}.conf`);
  assert.equal(
    grubBlsDefault(withCopy, new Map([["saved_entry", OURS]]))?.entry.id,
    `${KERNEL}.conf`,
    "a saved_entry left on rootsnap's entry does not make it the default",
  );
});

test("setup writes the entry and the kernel-install plugin, nothing of grub.cfg; uninstall restores every byte", async () => {
  const { tree, grub } = await fedora();
  const before = new Map(tree.data);
  const fake = fakeRunner(() => ({}));
  const effects = (): ReturnType<typeof testEffects> =>
    testEffects(fake.runner, { dryRun: false, files: tree.files });
  const made = await setupBoot(tree.files, effects(), grub, PROGRAM);
  assert.equal(made.unchanged, false);
  assert.equal(
    tree.data.get(`/boot/loader/entries/${OURS}.conf`)?.toString(),
    readFileSync(new URL(`samples/fedora-37-bls-expected/${OURS}.conf`, import.meta.url), "utf8"),
  );
  // Checked by hand: the units verified, systemd told, the two boot units enabled; no
  // grub2-mkconfig, no grub2-install.
  assert.deepEqual(
    fake.calls.map((argv) => argv.join(" ").replace(/rootsnap-verify-\d+/g, "rootsnap-verify-PID")),
    [
      "systemd-analyze verify /run/rootsnap-verify-PID/rootsnap-boot.service /run/rootsnap-verify-PID/rootsnap-finish.service",
      "systemctl daemon-reload",
      "systemctl enable rootsnap-boot.service rootsnap-finish.service",
    ],
  );
  assert.match(tree.data.get(KERNEL_INSTALL_PLUGIN)?.toString() ?? "", / boot-entry /);
  assert.ok(!tree.data.has("/etc/grub.d/42_rootsnap"), "no grub.d script: blscfg reads the entry");
  assert.equal(tree.data.get(grub.config)?.toString(), before.get(grub.config)?.toString());
  assert.ok(!fake.calls.some((argv) => argv[0] === grub.mkconfig), "grub2-mkconfig never runs");
  const state = JSON.parse(tree.data.get(STATE_PATH)?.toString() ?? "{}") as { loader?: string };
  assert.equal(state.loader, "grub-bls");
  assert.equal((await setupBoot(tree.files, effects(), grub, PROGRAM)).unchanged, true);

  await uninstallBoot(tree.files, effects(), grub);
  assert.deepEqual(
    [...tree.data.entries()].sort(),
    [...before.entries()].sort(),
    "uninstall leaves exactly the files there were",
  );
});

test("next-boot runs grub2-reboot with the entry's id; --cancel unsets only rootsnap's", async () => {
  const { main } = await import("../../src/cli/app.ts");
  const { tree, grub } = await fedora();
  await setupBoot(
    tree.files,
    testEffects(fakeRunner(() => ({})).runner, { dryRun: false, files: tree.files }),
    grub,
    PROGRAM,
  );
  const run = async (argv: string[], next: string) => {
    const fake = fakeRunner((args) =>
      args.includes("list") ? { stdout: `saved_entry=${KERNEL}\nnext_entry=${next}\n` } : {},
    );
    const io = testIo(fake.runner, { bootFiles: tree.files });
    const code = await main(argv, io);
    return { code, io, calls: fake.calls };
  };
  const set = await run(["--json", "next-boot"], "");
  assert.equal(set.code, 0, set.io.stderrText);
  assert.ok(set.calls.some((argv) => argv.join(" ") === `/usr/sbin/grub2-reboot ${OURS}`));
  assert.equal((JSON.parse(set.io.stdoutText) as { next_boot: string }).next_boot, OURS);

  const ours = await run(["next-boot", "--cancel"], OURS);
  assert.equal(ours.code, 0, ours.io.stderrText);
  assert.ok(
    ours.calls.some(
      (argv) => argv.join(" ") === "/usr/sbin/grub2-editenv /boot/grub2/grubenv unset next_entry",
    ),
  );
  const theirs = await run(["next-boot", "--cancel"], RESCUE);
  assert.equal(theirs.code, 0);
  assert.ok(!theirs.calls.some((argv) => argv.includes("unset")), "another one-shot is left alone");
});

test("doctor's stack on Fedora's tree: GRUB with BLS entries and dracut, supported", async () => {
  const tree = await treeOf({ ...fedoraTree(), "/usr/bin/dracut": "" });
  const mountinfo =
    "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/rootvg-rootlv rw\n" +
    "23 22 252:3 / /boot rw,relatime shared:2 - ext4 /dev/vda3 rw\n";
  const stack = await detectStack(tree.files, tree.files, parseMountinfo(mountinfo));
  assert.equal(stack.loader, "grub-bls");
  assert.equal(stack.loaderConfig, "/boot/grub2/grub.cfg (blscfg: /boot/loader/entries)");
  assert.equal(stack.initramfs, "dracut");
  assert.equal(stack.unsupported, undefined);
});

test("a set's copy of /boot holds the BLS entries and grub.cfg beside the kernels, with owners and modes", async () => {
  const tree = await treeOf({
    ...fedoraTree(),
    "/boot/vmlinuz-6.4.4-100.fc37.x86_64": "kernel",
    "/boot/initramfs-6.4.4-100.fc37.x86_64.img": "initramfs",
  });
  const area = await bootArea(tree.files);
  assert.deepEqual(area, { root: "/boot", bls: true, owners: true });
  assert.deepEqual((await bootFilesToCopy(tree.files, area)).sort(), [
    "grub2/grub.cfg",
    "initramfs-6.4.4-100.fc37.x86_64.img",
    `loader/entries/${RESCUE}.conf`,
    `loader/entries/${KERNEL}.conf`,
    "vmlinuz-6.4.4-100.fc37.x86_64",
  ]);
});
