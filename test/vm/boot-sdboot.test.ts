// Boot integration on trixie-sdboot (UEFI, systemd-boot with kernel-install's Boot Loader
// Spec entries on the ESP at /efi, dracut, / on XFS and /var on ext4): setup writes a copy
// of the default entry, next-boot sets the one-shot variable, a kernel install moves the
// copy to the new default and a removal takes the removed kernel's entry away, a revert of
// / and /var brings back the set's kernel and entries, and uninstall leaves the ESP exact.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkLayout } from "./rig/checks.ts";
import type { Machine } from "./rig/machine.ts";
import { installRootsnap, stepLog, vmSkip, withMachine } from "./rig/index.ts";
import {
  assertNormalBoot,
  assertSnapshotBoot,
  bootState,
  bootUnitSeconds,
  revertAlone,
} from "./scenarios/boot-flow.ts";
import { newerTrixieKernel } from "./scenarios/kernel-debs.ts";

const say = stepLog("boot-sdboot");
const LOADER = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

/** Everything setup may touch and uninstall must put back: the ESP, /etc's units and plugins. */
async function bootDigest(m: Machine): Promise<string> {
  return m.sh(`cd / && {
    find efi etc/kernel etc/systemd/system -printf '%y %p %l\\n' | grep -v '^f efi/loader/random-seed' | sort
    find efi etc/kernel etc/systemd/system -type f ! -path efi/loader/random-seed -exec sha256sum {} + | sort
  }`);
}

interface Entries {
  /** File names in /efi/loader/entries. */
  names: string[];
  /** The entry bootctl marks as the default, and the one it says the next boot starts once. */
  defaultId: string;
  oneShot: string;
  /** rootsnap's entry's text. */
  ours: string;
}

async function entries(m: Machine): Promise<Entries> {
  const out = await m.sh(`echo @names; ls /efi/loader/entries
    echo @list; bootctl list --json=short --no-pager
    echo @oneshot; f=/sys/firmware/efi/efivars/LoaderEntryOneShot-${LOADER}; [ -e $f ] && cat $f | tail -c +5 | tr -d '\\000'; echo
    echo @ours; cat /efi/loader/entries/*-rootsnap.conf 2>/dev/null || true`);
  const part = (name: string): string =>
    new RegExp(`^@${name}\\n([\\s\\S]*?)(?=^@|(?![\\s\\S]))`, "m").exec(out)?.[1]?.trim() ?? "";
  const list = JSON.parse(part("list")) as { id: string; isDefault?: boolean }[];
  return {
    names: part("names").split("\n").filter(Boolean),
    defaultId: list.find((entry) => entry.isDefault === true)?.id ?? "",
    oneShot: part("oneshot"),
    ours: part("ours"),
  };
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

test(
  "trixie-sdboot: systemd-boot and dracut; setup, next-boot, kernel install and removal, revert of / and /var, uninstall",
  { skip: vmSkip(), timeout: 45 * 60_000 },
  async () => {
    await withMachine("trixie-sdboot", async (m) => {
      await checkLayout(m);
      const oldRelease = (await m.sh("uname -r")).trim();
      const before = await entries(m);
      say(`entries as built: ${before.names.join(" ")}; default ${before.defaultId}`);
      assert.ok(before.defaultId.endsWith(".conf"), "bootctl names a default entry");
      await installRootsnap(m);
      const doctor = JSON.parse(
        (await m.shResult("rootsnap doctor --json", { timeoutMs: 300_000 })).stdout,
      ) as { checks: { name: string; status: string; detail: string }[] };
      const detail = (name: string): string =>
        doctor.checks.find((check) => check.name === name)?.detail ?? "";
      say(doctor.checks.map((c) => `${c.status} ${c.name}: ${c.detail}`).join("\n  "));
      assert.match(detail("firmware"), /^UEFI, secure boot off; ESP \/dev\/vda1 at \/efi/);
      assert.match(detail("boot loader"), /^systemd-boot, reading \/efi\/loader\/entries$/);
      assert.match(detail("initramfs generator"), /^dracut$/);
      assert.match(detail("initramfs"), /has what snapshots and merges need/);
      assert.match(detail("merges at boot"), /--sysinit/);
      assert.equal(
        doctor.checks.find((check) => check.name === "stack")?.status,
        "ok",
        detail("stack"),
      );
      await m.sh(
        `mkdir -p /etc/rootsnap && printf '[[volumes]]\\nlv = "vgsys/root"\\n\\n[[volumes]]\\nlv = "vgsys/var"\\n' > /etc/rootsnap/rootsnap.toml`,
      );
      const original = await bootDigest(m);

      say("setup --dry-run changes nothing; setup; setup again is idempotent");
      const dry = await m.sh("rootsnap setup --dry-run");
      assert.match(dry, /\+\+\+ \/etc\/kernel\/install\.d\/95-rootsnap\.install/);
      assert.equal(await bootDigest(m), original);
      await m.sh("rootsnap setup", { timeoutMs: 600_000 });
      const again = (await m.shResult("rootsnap setup")).stderr;
      assert.match(again, /nothing to do/);
      assert.match(again, /^boot stack: UEFI, systemd-boot, dracut$/m);
      let now = await entries(m);
      assert.equal(now.defaultId, before.defaultId, "rootsnap's entry never becomes the default");
      assert.match(now.ours, /^options .*rootsnap\.boot=1$/m);
      assert.match(now.ours, new RegExp(`^linux .*/${escaped(oldRelease)}/linux$`, "m"));
      const ourId = now.names.find((name) => name.endsWith("-rootsnap.conf")) ?? "";
      assert.equal(ourId, before.defaultId.replace(/\.conf$/, "-rootsnap.conf"));

      say("next-boot sets the one-shot variable; the snapshot boot takes a set of / and /var");
      await m.sh("rootsnap next-boot");
      assert.equal((await entries(m)).oneShot, ourId);
      await m.reboot();
      let state = await bootState(m);
      const first = assertSnapshotBoot(state, 0);
      say(`set ${first}; rootsnap-boot.service ran ${bootUnitSeconds(state).toFixed(2)} s`);
      assert.equal((await entries(m)).oneShot, "", "systemd-boot cleared its one-shot");
      const members = await m.sh(`rootsnap show ${first}`);
      assert.match(members, /vgsys\/root/);
      assert.match(members, /vgsys\/var/);
      const copied = await m.sh(`tar -tf /var/lib/rootsnap/boot/${first}.tar`);
      assert.match(copied, new RegExp(`^loader/entries/${escaped(before.defaultId)}$`, "m"));
      assert.match(copied, new RegExp(`/${escaped(oldRelease)}/linux$`, "m"));
      await m.sh("echo before > /root/marker; echo before > /var/lib/marker");

      const kernel = await newerTrixieKernel();
      say(`kernel install (${kernel.release}): kernel-install adds its entry; rootsnap's follows`);
      const debs = kernel.debs.map((deb) => `/root/${deb.split("/").pop() ?? "x.deb"}`);
      for (const [index, deb] of kernel.debs.entries()) await m.copyIn(deb, debs[index] ?? "");
      const installed = Date.now();
      await m.sh(
        `apt-get install -y ${debs.join(" ")} >/root/apt.log 2>&1 || { tail -30 /root/apt.log; exit 1; }; rm -f ${debs.join(" ")}`,
        { timeoutMs: 1_200_000 },
      );
      say(`apt-get install took ${((Date.now() - installed) / 1000).toFixed(0)} s`);
      now = await entries(m);
      say(`entries: ${now.names.join(" ")}; default ${now.defaultId}`);
      assert.ok(
        now.names.some((name) => name.includes(kernel.release) && !name.endsWith("-rootsnap.conf")),
      );
      assert.match(now.ours, new RegExp(`^linux .*/${escaped(kernel.release)}/linux$`, "m"));
      assert.equal(
        now.names.filter((name) => name.endsWith("-rootsnap.conf")).length,
        1,
        "one rootsnap entry, beside the new default",
      );

      say("reboot: a normal boot on the new kernel");
      await m.reboot();
      state = await bootState(m);
      assertNormalBoot(state);
      assert.equal(state.release, kernel.release);

      say(
        `removal of ${oldRelease}: its entry and files go, rootsnap's entry stays on the default`,
      );
      const oldPackage = (
        await m.sh(`dpkg-query -S /boot/vmlinuz-${oldRelease} | cut -d: -f1`)
      ).trim();
      await m.sh(
        `DEBIAN_FRONTEND=noninteractive apt-get remove -y ${oldPackage} >/root/apt.log 2>&1 || { tail -30 /root/apt.log; exit 1; }`,
        { timeoutMs: 1_200_000 },
      );
      now = await entries(m);
      assert.ok(!now.names.some((name) => name.includes(oldRelease)), now.names.join(" "));
      assert.equal(await m.sh(`find /efi -path '*/${oldRelease}/*' | wc -l`), "0\n");
      assert.match(now.ours, new RegExp(`^linux .*/${escaped(kernel.release)}/linux$`, "m"));

      // A snapshot grown by lvextend has two segments, so lvs reports it in two rows.
      await m.sh(`lvextend -q -L +32M vgsys/root-${first} >/dev/null`);
      say(`revert to ${first} (/ and /var, with ${oldRelease}): the merge boot`);
      const revert = await revertAlone(m, first);
      say(revert.trim().replace(/\n/g, " / "));
      assert.match(revert, /\/efi restored from/);
      now = await entries(m);
      assert.ok(
        now.names.some((name) => name === before.defaultId),
        now.names.join(" "),
      );
      assert.ok(!now.names.some((name) => name.includes(kernel.release)), now.names.join(" "));
      await m.reboot();
      state = await bootState(m);
      assertNormalBoot(state);
      assert.equal(state.release, oldRelease, "the set's kernel boots");
      const after = await m.sh(`cat /root/marker /var/lib/marker 2>&1 || true
        echo @lvs; lvs -a --noheadings -o lv_name,lv_attr vgsys
        echo @dm; dmsetup info -c --noheadings -o name,attr
        echo @dpkg; dpkg-query -W -f '\${Package} \${Status}\\n' 'linux-image-*' | grep ' installed$' || true
        echo @finish; journalctl -b -u rootsnap-finish.service -o cat
        echo @lvm; journalctl -b -o cat | grep -i -E 'merge|lvm' | head -40`);
      say(after.trim().replace(/\n/g, "\n  "));
      assert.doesNotMatch(after, /^before$/m, "the markers written after the set are gone");
      const lvs = /@lvs\n([\s\S]*?)@dm/.exec(after)?.[1] ?? "";
      assert.doesNotMatch(lvs, /Swi|\[|-boot-/, `merges finished: ${lvs}`);
      const dm = /@dm\n([\s\S]*?)@dpkg/.exec(after)?.[1] ?? "";
      assert.ok(
        dm.split("\n").every((line) => !/:..s/.test(line)),
        `nothing suspended: ${dm}`,
      );
      const dpkg = /@dpkg\n([\s\S]*?)@finish/.exec(after)?.[1] ?? "";
      assert.match(dpkg, new RegExp(escaped(oldRelease)));
      assert.doesNotMatch(dpkg, new RegExp(escaped(kernel.release)), "/ and /var agree");
      now = await entries(m);
      assert.equal(now.defaultId, before.defaultId);
      assert.match(now.ours, new RegExp(`^linux .*/${escaped(oldRelease)}/linux$`, "m"));

      say("uninstall: the ESP, /etc/kernel and the units exactly as before setup");
      await m.sh("rootsnap uninstall", { timeoutMs: 600_000 });
      assert.equal(await bootDigest(m), original, "uninstall restores the boot files");
    });
  },
);
