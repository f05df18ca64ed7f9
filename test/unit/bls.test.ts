// Boot Loader Spec entries: systemd's version order, systemd-boot's entry order and its
// default, and rootsnap's copy of the default entry, which must sort right after it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { test } from "node:test";
import {
  compareBlsEntries,
  compareVersions,
  defaultBlsEntry,
  globMatches,
  isRootsnapEntry,
  parseBlsEntry,
  rootsnapEntry,
  serializeBlsEntry,
  type BlsEntry,
} from "../../src/boot/bls.ts";
import { isSystemdBoot, setupBoot, STATE_PATH, uninstallBoot } from "../../src/boot/install.ts";
import { detectMenu, refreshEntry } from "../../src/boot/menu.ts";
import {
  findSystemdBoot,
  KERNEL_INSTALL_PLUGIN,
  LOADER_GUID,
  type SystemdBoot,
} from "../../src/boot/sdboot.ts";
import { RootsnapError } from "../../src/system/errors.ts";
import { fakeRunner, memoryFiles, testEffects } from "./helpers.ts";

test("versions compare as systemd's strverscmp_improved does", () => {
  const older: [string, string][] = [
    ["5.2~rc1", "5.2"],
    ["6.1.0-50-cloud-amd64", "6.1.0-57-cloud-amd64"],
    ["6.9", "6.12"],
    ["6.12.48+deb13-amd64", "6.12.48+deb13-amd64.1"],
    ["123-9", "123.1-1"],
    ["1.0", "1.0^post"],
    ["abc", "abcde"],
    ["a", "1"],
    ["00123", "124"],
    ["6.12.48~rootsnap", "6.12.48"],
    ["x-6.12-rootsnap.conf", "x-6.12.conf"],
  ];
  for (const [a, b] of older) {
    assert.equal(compareVersions(a, b), -1, `${a} < ${b}`);
    assert.equal(compareVersions(b, a), 1, `${b} > ${a}`);
  }
  assert.equal(compareVersions("00123", "123"), 0);
  assert.equal(
    compareVersions("6.12+deb13", "6.12deb13"),
    0,
    "characters outside the format are skipped",
  );
});

const entry = (id: string, text: string): BlsEntry => parseBlsEntry(id, text);

/** What kernel-install's 90-loaderentry.install writes on Debian 13 (systemd 257). */
const DEBIAN_ENTRY = `# Boot Loader Specification type#1 entry
# File created by /usr/lib/kernel/install.d/90-loaderentry.install (systemd 257.13-1~deb13u1)
title      Debian GNU/Linux 13 (trixie)
version    6.12.48+deb13-cloud-amd64
machine-id 3a1f6c5d2b0e4c2f9a7d8e6b5c4a3f21
sort-key   debian
options    root=/dev/mapper/sdvg-root ro console=ttyS0,115200
linux      /3a1f6c5d2b0e4c2f9a7d8e6b5c4a3f21/6.12.48+deb13-cloud-amd64/linux
initrd     /3a1f6c5d2b0e4c2f9a7d8e6b5c4a3f21/6.12.48+deb13-cloud-amd64/initrd.img-6.12.48+deb13-cloud-amd64
`;
const MID = "3a1f6c5d2b0e4c2f9a7d8e6b5c4a3f21";

test("rootsnap's entry: the default's lines, the title marked, the parameter added, sorted right after it", () => {
  const source = entry(`${MID}-6.12.48+deb13-cloud-amd64.conf`, DEBIAN_ENTRY);
  const copy = rootsnapEntry(source);
  assert.equal(copy.id, `${MID}-6.12.48+deb13-cloud-amd64-rootsnap.conf`);
  assert.ok(isRootsnapEntry(copy));
  assert.ok(!isRootsnapEntry(source));
  const text = serializeBlsEntry(copy);
  assert.match(text, /^# Written by rootsnap setup/);
  assert.match(text, /^title {6}Debian GNU\/Linux 13 \(trixie\), rootsnap boot-time snapshot$/m);
  assert.match(text, /^version {4}6\.12\.48\+deb13-cloud-amd64~rootsnap$/m);
  assert.match(
    text,
    /^options {4}root=\/dev\/mapper\/sdvg-root ro console=ttyS0,115200 rootsnap\.boot=1$/m,
  );
  assert.match(text, new RegExp(`^linux {6}/${MID}/6\\.12\\.48\\+deb13-cloud-amd64/linux$`, "m"));
  assert.match(text, /^sort-key {3}debian$/m);
  const older = entry(
    `${MID}-6.12.41+deb13-cloud-amd64.conf`,
    DEBIAN_ENTRY.replace(/6\.12\.48/g, "6.12.41"),
  );
  const sorted = [copy, older, source].sort(compareBlsEntries).map((e) => e.id);
  assert.deepEqual(sorted, [source.id, copy.id, older.id], "new-style entries: by version");
});

test("entries without a sort-key sort by file name, newest first; the copy still after its default", () => {
  const plain = (id: string): BlsEntry =>
    entry(
      id,
      `title Arch Linux\nlinux /vmlinuz-linux\ninitrd /initramfs-linux.img\noptions root=/dev/vg/root rw\n`,
    );
  const arch = plain("arch.conf");
  const fallback = plain("arch-fallback.conf");
  const copy = rootsnapEntry(arch);
  assert.equal(copy.id, "arch-rootsnap.conf");
  const order = [fallback, copy, arch].sort(compareBlsEntries).map((e) => e.id);
  assert.deepEqual(order, ["arch.conf", "arch-rootsnap.conf", "arch-fallback.conf"]);
  assert.equal(defaultBlsEntry([fallback, copy, arch], {})?.id, "arch.conf");
  // A boot-counted entry's copy carries no counter.
  assert.equal(rootsnapEntry(plain("arch+3-0.conf")).id, "arch-rootsnap.conf");
});

test("the default: bootctl set-default's variable, then loader.conf's glob or @saved, then the first", () => {
  const source = entry(`${MID}-6.12.48+deb13-cloud-amd64.conf`, DEBIAN_ENTRY);
  const older = entry(
    `${MID}-6.12.41+deb13-cloud-amd64.conf`,
    DEBIAN_ENTRY.replace(/6\.12\.48/g, "6.12.41"),
  );
  const copy = rootsnapEntry(source);
  const all = [older, copy, source];
  assert.equal(defaultBlsEntry(all, {})?.id, source.id);
  assert.equal(
    defaultBlsEntry(all, { loaderConf: "timeout 3\ndefault *6.12.41*\n" })?.id,
    older.id,
  );
  assert.equal(
    defaultBlsEntry(all, { loaderConf: "default *6.12.41*\n", efiDefault: source.id })?.id,
    source.id,
    "the EFI variable wins over loader.conf",
  );
  assert.equal(
    defaultBlsEntry(all, { loaderConf: "default @saved\n", lastBooted: older.id })?.id,
    older.id,
  );
  assert.equal(
    defaultBlsEntry(all, { loaderConf: "default @saved\n", lastBooted: copy.id })?.id,
    source.id,
    "a one-shot boot of rootsnap's entry never makes it the default",
  );
  assert.equal(
    defaultBlsEntry(all, { loaderConf: `default ${MID}-*\n` })?.id,
    source.id,
    "a glob that matches the copy too picks the first match, never the copy",
  );
  assert.equal(defaultBlsEntry([copy], {}), undefined);
});

test("loader.conf globs: *, ? and classes", () => {
  assert.ok(globMatches("debian-*", "debian-6.12.conf"));
  assert.ok(globMatches("arch?.conf", "arch1.conf"));
  assert.ok(globMatches("[ab]rch.conf", "arch.conf"));
  assert.ok(!globMatches("[!a]rch.conf", "arch.conf"));
  assert.ok(!globMatches("debian-*", "fedora.conf"));
  assert.ok(globMatches("a.b", "a.b") && !globMatches("a.b", "axb"));
});

const SD: SystemdBoot = {
  esp: "/efi",
  boot: "/efi",
  loaderConf: "/efi/loader/loader.conf",
  bootctl: "/usr/bin/bootctl",
};
const PROGRAM = ["/usr/bin/node", "/usr/bin/rootsnap"];

test("setup on systemd-boot: the plugin, the units and a copy of the default entry; again nothing; uninstall leaves every byte", async () => {
  const defaultId = `${MID}-6.12.48+deb13-cloud-amd64.conf`;
  const { files, data } = memoryFiles({
    "/efi/loader/loader.conf": "timeout 1\n",
    "/efi/EFI/systemd/systemd-bootx64.efi": "",
    [`/efi/loader/entries/${defaultId}`]: DEBIAN_ENTRY,
    "/usr/bin/bootctl": "",
  });
  await files.makeDirectory("/etc/kernel/install.d");
  const before = new Map(data);
  const fake = fakeRunner(() => ({}));
  const effects = (dryRun: boolean): ReturnType<typeof testEffects> =>
    testEffects(fake.runner, { dryRun, files });
  assert.ok(isSystemdBoot(await detectMenu(files)), "no GRUB: systemd-boot's menu");
  const dry = await setupBoot(files, effects(true), SD, PROGRAM);
  assert.ok(dry.changes.some((change) => change.path === KERNEL_INSTALL_PLUGIN));
  assert.deepEqual([...data.keys()].sort(), [...before.keys()].sort(), "a dry run writes nothing");
  await setupBoot(files, effects(false), SD, PROGRAM);
  const ours = `/efi/loader/entries/${MID}-6.12.48+deb13-cloud-amd64-rootsnap.conf`;
  assert.match(data.get(ours)?.toString() ?? "", /^options .* rootsnap\.boot=1$/m);
  assert.match(
    data.get(KERNEL_INSTALL_PLUGIN)?.toString() ?? "",
    /^\/usr\/bin\/node \/usr\/bin\/rootsnap boot-entry \|\|$/m,
  );
  assert.match(data.get(STATE_PATH)?.toString() ?? "", /"loader": "systemd-boot"/);
  assert.equal((await setupBoot(files, effects(false), SD, PROGRAM)).unchanged, true);

  // kernel-install adds a newer kernel: the plugin's boot-entry moves the copy to it.
  const newer = `${MID}-6.12.57+deb13-cloud-amd64.conf`;
  data.set(
    `/efi/loader/entries/${newer}`,
    Buffer.from(DEBIAN_ENTRY.replace(/6\.12\.48/g, "6.12.57")),
  );
  const refreshed = await refreshEntry(files, effects(false), SD);
  assert.equal(refreshed.id, newer.replace(/\.conf$/, "-rootsnap.conf"));
  assert.deepEqual(refreshed.removed, [ours]);
  assert.ok(!data.has(ours));
  // ... and its removal moves it back.
  data.delete(`/efi/loader/entries/${newer}`);
  assert.equal((await refreshEntry(files, effects(false), SD)).written, ours);

  // next-boot sets the one-shot to rootsnap's entry; uninstall cancels it and removes it all.
  data.set(
    `/sys/firmware/efi/efivars/LoaderEntryOneShot-${LOADER_GUID}`,
    Buffer.concat([Buffer.from([7, 0, 0, 0]), Buffer.from(`${basename(ours)}\0`, "utf16le")]),
  );
  await uninstallBoot(files, effects(false), SD);
  assert.ok(
    fake.calls.some((argv) => argv.join(" ") === "/usr/bin/bootctl set-oneshot "),
    "the one-shot is cancelled",
  );
  data.delete(`/sys/firmware/efi/efivars/LoaderEntryOneShot-${LOADER_GUID}`);
  assert.deepEqual(
    [...data.entries()].sort(),
    [...before.entries()].sort(),
    "uninstall leaves exactly the files there were",
  );
});

test("setup on systemd-boot with no entry to copy is refused with exit 69 before anything is written", async () => {
  const { files, data } = memoryFiles({
    "/efi/loader/loader.conf": "timeout 1\n",
    "/efi/EFI/systemd/systemd-bootx64.efi": "",
    "/usr/bin/bootctl": "",
  });
  const before = new Map(data);
  await assert.rejects(
    setupBoot(
      files,
      testEffects(fakeRunner(() => ({})).runner, { dryRun: false, files }),
      SD,
      PROGRAM,
    ),
    (error: unknown) =>
      error instanceof RootsnapError &&
      error.exitCode === 69 &&
      /systemd-boot has no entry to copy/.test(error.message),
  );
  assert.deepEqual([...data.keys()].sort(), [...before.keys()].sort());
});

test("on Debian 13's own entry (recorded): both initrd lines kept, the parameter last, sorted after it", () => {
  const id = "b4627646a5fe4caebcce2c4de851ec84-6.12.117+deb13-cloud-amd64.conf";
  const text = readFileSync(new URL(`samples/debian-13-sdboot/${id}`, import.meta.url), "utf8");
  const source = parseBlsEntry(id, text);
  const copy = rootsnapEntry(source);
  assert.equal(copy.id, id.replace(/\.conf$/, "-rootsnap.conf"));
  const made = serializeBlsEntry(copy);
  assert.equal(made.match(/^initrd /gm)?.length, 2);
  assert.match(
    made,
    /^options .* systemd\.machine_id=b4627646a5fe4caebcce2c4de851ec84 rootsnap\.boot=1$/m,
  );
  assert.deepEqual(
    [copy, source].sort(compareBlsEntries).map((e) => e.id),
    [id, copy.id],
  );
  assert.equal(defaultBlsEntry([copy, source], {})?.id, id);
});

test("$BOOT: an XBOOTLDR /boot beside the ESP at /efi, or the ESP itself at /boot (Arch)", async () => {
  const xbootldr = memoryFiles({
    "/efi/loader/loader.conf": "timeout 3\n",
    "/efi/EFI/systemd/systemd-bootx64.efi": "",
    "/boot/loader/entries/fedora-6.11.conf": "title Fedora\n",
  });
  await xbootldr.files.makeDirectory("/boot/loader/entries");
  assert.deepEqual(await findSystemdBoot(xbootldr.files), {
    esp: "/efi",
    boot: "/boot",
    loaderConf: "/efi/loader/loader.conf",
  });
  const arch = memoryFiles({
    "/boot/loader/loader.conf": "default arch.conf\n",
    "/boot/EFI/systemd/systemd-bootx64.efi": "",
    "/boot/loader/entries/arch.conf": "title Arch Linux\n",
  });
  assert.deepEqual(await findSystemdBoot(arch.files), {
    esp: "/boot",
    boot: "/boot",
    loaderConf: "/boot/loader/loader.conf",
  });
  assert.equal(await findSystemdBoot(memoryFiles({ "/boot/grub/grub.cfg": "" }).files), undefined);
});
