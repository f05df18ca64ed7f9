// Arch's stack, on its own files (samples/arch, origin in its ORIGIN.md): systemd-boot with
// the ESP at /boot and an entry the admin wrote, mkinitcpio building the initramfs. setup's
// entry and commands are compared with hand-checked ones, and uninstall puts back every byte.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { setupBoot, uninstallBoot } from "../../src/boot/install.ts";
import { detectMenu } from "../../src/boot/menu.ts";
import { isSystemdBoot } from "../../src/boot/install.ts";
import { mkinitcpioConfig, mkinitcpioHooks } from "../../src/boot/images.ts";
import { detectStack, stackSummary } from "../../src/boot/stack.ts";
import { parseMountinfo } from "../../src/config/mounts.ts";
import { fakeRunner, memoryFiles, testEffects } from "./helpers.ts";

const SAMPLE = fileURLToPath(new URL("samples/arch/", import.meta.url));
const PROGRAM = ["/usr/bin/node", "/usr/lib/rootsnap/rootsnap.mjs"];

/** Arch's files as the system has them: /boot is the ESP, mkinitcpio.conf with lvm2 added. */
async function archTree(): Promise<ReturnType<typeof memoryFiles>> {
  const tree: Record<string, string> = {
    "/usr/bin/bootctl": "",
    "/usr/bin/mkinitcpio": "",
    "/boot/EFI/systemd/systemd-bootx64.efi": "",
    "/boot/vmlinuz-linux": "kernel",
    "/boot/initramfs-linux.img": "initramfs",
  };
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        if (name !== "expected") walk(path);
      } else if (name !== "ORIGIN.md" && name !== "mkinitcpio.conf") {
        tree[`/${relative(SAMPLE, path)}`] = readFileSync(path, "utf8");
      }
    }
  };
  walk(SAMPLE);
  // The admin adds lvm2 before filesystems, as the file's own comments show.
  tree["/etc/mkinitcpio.conf"] = readFileSync(join(SAMPLE, "mkinitcpio.conf"), "utf8").replace(
    /^HOOKS=\((.*) filesystems (.*)\)$/m,
    "HOOKS=($1 lvm2 filesystems $2)",
  );
  const files = memoryFiles(tree);
  for (const dir of ["/boot", "/boot/loader", "/boot/loader/entries", "/boot/EFI", "/etc"]) {
    await files.files.makeDirectory(dir);
  }
  return files;
}

test("Arch: systemd-boot on the ESP at /boot, the admin's entry copied with the parameter; uninstall restores every byte", async () => {
  const tree = await archTree();
  const before = new Map(tree.data);
  const menu = await detectMenu(tree.files);
  assert.ok(isSystemdBoot(menu));
  assert.equal(menu.esp, "/boot");
  assert.equal(menu.boot, "/boot");
  const fake = fakeRunner(() => ({}));
  const effects = (): ReturnType<typeof testEffects> =>
    testEffects(fake.runner, { dryRun: false, files: tree.files });
  await setupBoot(tree.files, effects(), menu, PROGRAM);
  assert.equal(
    tree.data.get("/boot/loader/entries/arch-rootsnap.conf")?.toString(),
    readFileSync(join(SAMPLE, "expected", "arch-rootsnap.conf"), "utf8"),
  );
  assert.deepEqual(
    fake.calls.map((argv) => argv.join(" ").replace(/rootsnap-verify-\d+/g, "rootsnap-verify-PID")),
    [
      "systemd-analyze verify /run/rootsnap-verify-PID/rootsnap-boot.service /run/rootsnap-verify-PID/rootsnap-finish.service",
      "systemctl daemon-reload",
      "systemctl enable rootsnap-boot.service rootsnap-finish.service",
    ],
  );
  await uninstallBoot(tree.files, effects(), menu);
  assert.deepEqual([...tree.data.entries()].sort(), [...before.entries()].sort());
});

test("Arch: the stack is UEFI, systemd-boot, mkinitcpio; HOOKS as mkinitcpio reads it has lvm2", async () => {
  const tree = await archTree();
  await tree.files.makeDirectory("/sys/firmware/efi");
  const mountinfo =
    "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/vg0-lv_root rw\n" +
    "23 22 259:1 / /boot rw,relatime shared:2 - vfat /dev/nvme0n1p1 rw,fmask=0077,dmask=0077\n";
  const stack = await detectStack(tree.files, tree.files, parseMountinfo(mountinfo));
  assert.equal(stackSummary(stack), "UEFI, systemd-boot, mkinitcpio");
  assert.equal(stack.unsupported, undefined);
  assert.ok(mkinitcpioHooks(await mkinitcpioConfig(tree.files)).includes("lvm2"));
});
