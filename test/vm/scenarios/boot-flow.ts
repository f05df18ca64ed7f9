// Boot integration driven from outside, as an admin would: setup, next-boot, reboots,
// kernel upgrades, revert and uninstall, with every check of a boot in one guest command.
import assert from "node:assert/strict";
import type { Machine } from "../rig/machine.ts";

export type Say = (step: string) => void;

/**
 * Removes every set but `name` (the package-manager hooks may have taken pre-update sets
 * too), then reverts to it; returns what revert printed.
 */
export async function revertAlone(m: Machine, name: string): Promise<string> {
  return m.sh(
    `for set in $(rootsnap list --json | sed -n 's/^ *"name": "\\(.*\\)",$/\\1/p'); do
       [ "$set" = ${name} ] || rootsnap remove --yes "$set" || exit 1
     done
     rootsnap revert --yes ${name} 2>&1`,
    { timeoutMs: 600_000 },
  );
}

/** Everything of the boot configuration that uninstall must leave as it was. */
export async function bootConfigDigest(m: Machine): Promise<string> {
  return m.sh(`cd / && {
    sha256sum boot/grub/grub.cfg etc/default/grub
    find etc/grub.d etc/systemd/system -printf '%y %m %p %l\\n' | sort
    find etc/grub.d etc/systemd/system -type f -exec sha256sum {} + | sort
    if [ -d boot/efi/EFI ]; then find boot/efi -type f -exec sha256sum {} + | sort; fi
  }`);
}

export interface BootState {
  cmdline: string;
  release: string;
  modules: string[];
  defaultTarget: string;
  defaultTargetActive: string;
  systemState: string;
  bootUnit: Record<string, string>;
  finishUnit: Record<string, string>;
  localFsActive: number;
  nextEntry: string;
  sets: { name: string; kind: string; created: string }[];
  btime: number;
}

function properties(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

/** One guest command: what this boot did, once it has finished booting. */
export async function bootState(m: Machine): Promise<BootState> {
  const out = await m.sh(
    `systemctl is-system-running --wait >/dev/null 2>&1 || true
     echo "@cmdline"; cat /proc/cmdline
     echo "@release"; uname -r
     echo "@modules"; ls /lib/modules
     echo "@default"; systemctl get-default
     echo "@active"; systemctl is-active "$(systemctl get-default)" || true
     echo "@system"; systemctl is-system-running || true
     echo "@boot"; systemctl show -p ConditionResult,Result,ExecMainStatus,ExecMainStartTimestampMonotonic,ExecMainExitTimestampMonotonic,InactiveExitTimestampMonotonic,ActiveEnterTimestampMonotonic rootsnap-boot.service
     echo "@finish"; systemctl show -p Result,ExecMainStatus rootsnap-finish.service
     echo "@localfs"; systemctl show -p ActiveEnterTimestampMonotonic --value local-fs.target
     echo "@env"; grub-editenv list 2>/dev/null | sed -n 's/^next_entry=//p'
     echo "@sets"; rootsnap list --json
     echo "@btime"; sed -n 's/^btime //p' /proc/stat`,
    { timeoutMs: 300_000 },
  );
  const part = (name: string): string =>
    new RegExp(`^@${name}\\n([\\s\\S]*?)(?=^@|(?![\\s\\S]))`, "m").exec(out)?.[1]?.trim() ?? "";
  const sets = (JSON.parse(part("sets")) as { sets: BootState["sets"] }).sets;
  return {
    cmdline: part("cmdline"),
    release: part("release"),
    modules: part("modules").split(/\s+/),
    defaultTarget: part("default"),
    defaultTargetActive: part("active"),
    systemState: part("system"),
    bootUnit: properties(part("boot")),
    finishUnit: properties(part("finish")),
    localFsActive: Number(part("localfs")),
    nextEntry: part("env"),
    sets,
    btime: Number(part("btime")),
  };
}

/** Seconds the boot-time unit ran, from systemd's monotonic timestamps. */
export function bootUnitSeconds(state: BootState): number {
  const start = Number(state.bootUnit.ExecMainStartTimestampMonotonic);
  const exit = Number(state.bootUnit.ExecMainExitTimestampMonotonic);
  return (exit - start) / 1e6;
}

/** A snapshot boot: the set was taken before local-fs.target and the normal target reached. */
export function assertSnapshotBoot(state: BootState, before: number): string {
  assert.match(state.cmdline, /rootsnap\.boot=1/, "booted the rootsnap entry");
  assert.equal(state.bootUnit.ConditionResult, "yes");
  assert.equal(state.bootUnit.Result, "success", JSON.stringify(state.bootUnit));
  assert.ok(
    Number(state.bootUnit.ExecMainExitTimestampMonotonic) <= state.localFsActive,
    "the set is made before local-fs.target",
  );
  assert.equal(state.defaultTargetActive, "active", `${state.defaultTarget} reached`);
  assert.equal(state.finishUnit.Result, "success", JSON.stringify(state.finishUnit));
  assert.equal(state.nextEntry, "", "the one-shot entry is cleared after the boot");
  const boot = state.sets.filter((set) => set.kind === "boot");
  assert.equal(boot.length, before + 1, `one more boot set: ${JSON.stringify(state.sets)}`);
  const newest = boot[0];
  assert.ok(newest !== undefined && Date.parse(newest.created) / 1000 >= state.btime);
  return newest.name;
}

/** A normal boot: no parameter, the unit skipped, no set taken during this boot. */
export function assertNormalBoot(state: BootState): void {
  assert.doesNotMatch(state.cmdline, /rootsnap\.boot/);
  assert.equal(state.bootUnit.ConditionResult, "no");
  assert.equal(state.defaultTargetActive, "active");
  assert.ok(
    state.sets.every((set) => Date.parse(set.created) / 1000 < state.btime),
    `no set taken during a normal boot: ${JSON.stringify(state.sets)}`,
  );
  assert.equal(state.nextEntry, "");
}

/** A snapshot boot whose set found no room: exit 73, and the boot went on without a set. */
export function assertNoRoomBoot(state: BootState): void {
  assert.match(state.cmdline, /rootsnap\.boot=1/);
  assert.equal(state.bootUnit.Result, "exit-code", JSON.stringify(state.bootUnit));
  assert.equal(state.bootUnit.ExecMainStatus, "73", "exit 73: not enough space");
  assert.equal(state.defaultTargetActive, "active", "the boot went on");
  assert.equal(state.sets.length, 0, "no set, not part of one");
  assert.equal(state.nextEntry, "", "the one-shot entry is cleared even so");
}

/** The rootsnap entry of grub.cfg, after the first line of the default entry. */
const ENTRY_OF_GRUB_CFG =
  "grep -m1 '^menuentry ' /boot/grub/grub.cfg; awk \"/'rootsnap-boot'/{p=1} p{print} p&&/^}/{exit}\" /boot/grub/grub.cfg";

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** doctor names the layout's stack: its firmware, GRUB, initramfs-tools, and LUKS if any. */
export function assertStack(
  m: Machine,
  checks: readonly { name: string; status: string; detail: string }[],
): void {
  const detail = (name: string): string =>
    checks.find((check) => check.name === name)?.detail ?? "";
  const uefi = m.layout.firmware === "uefi";
  assert.match(
    detail("firmware"),
    uefi ? /^UEFI, secure boot off; ESP \/dev\/vda1 at \/boot\/efi/ : /^BIOS$/,
  );
  assert.match(detail("boot loader"), /^GRUB, reading \/boot\/grub\/grub\.cfg$/);
  assert.match(detail("initramfs generator"), /^initramfs-tools$/);
  if (m.layout.expect.encrypted === true) {
    assert.match(detail("encryption"), /^\/ is on LUKS \(vda2_crypt\)/);
  } else {
    assert.match(detail("encryption"), /no encrypted device/);
  }
  const separateBoot = m.layout.expect.mounts.some((mount) => mount.target === "/boot");
  assert.match(detail("grubenv"), separateBoot ? /GRUB clears a one-shot entry itself/ : /on LVM/);
  assert.equal(checks.find((check) => check.name === "stack")?.status, "ok", detail("stack"));
}

export interface KernelUpgrade {
  /** .deb files on the host, installed together. */
  readonly debs: readonly string[];
  /** uname -r of the kernel they install. */
  readonly release: string;
}

export interface BootScenarioResult {
  /** Seconds from power-on to a usable guest agent, per reboot. */
  readonly boots: number[];
  /** How long rootsnap-boot.service ran, per snapshot boot (journal timestamps). */
  readonly unitSeconds: number[];
}

/**
 * setup (dry run, then twice), next-boot and a snapshot boot, a kernel
 * upgrade and a snapshot boot on it, a revert to the set from before the upgrade, and
 * uninstall: every claim of the boot integration, on one machine, in three reboots.
 */
export async function bootScenario(
  m: Machine,
  upgrade: (running: string) => Promise<KernelUpgrade>,
  say: Say,
  options: {
    /** Cut the power during the boot that merges; the boot after it must finish the revert. */
    cutMergeBoot?: boolean;
  } = {},
): Promise<BootScenarioResult> {
  const boots: number[] = [];
  const unitSeconds: number[] = [];
  const original = await bootConfigDigest(m);
  const oldRelease = (await m.sh("uname -r")).trim();
  const kernel = await upgrade(oldRelease);
  const separateBoot = m.layout.expect.mounts.some((mount) => mount.target === "/boot");

  say("setup --dry-run changes nothing and shows the files");
  const dry = await m.sh("rootsnap setup --dry-run");
  assert.match(dry, /\+\+\+ \/etc\/grub\.d\/42_rootsnap/);
  assert.match(dry, /grub-mkconfig -o/);
  assert.equal(await bootConfigDigest(m), original);

  say("setup, and setup again (idempotent)");
  const started = Date.now();
  await m.sh("rootsnap setup", { timeoutMs: 600_000 });
  say(`setup took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const again = await m.shResult("rootsnap setup");
  assert.equal(again.code, 0);
  assert.match(again.stderr, /nothing to do/);
  // setup names the stack it drives, as doctor does.
  const firmware = m.uefi ? "UEFI" : "BIOS";
  const luks = m.layout.expect.encrypted === true ? ", LUKS" : "";
  assert.match(
    again.stderr,
    new RegExp(`^boot stack: ${firmware}, GRUB, initramfs-tools${luks}$`, "m"),
  );
  const cfg = await m.sh(ENTRY_OF_GRUB_CFG);
  say(`default and rootsnap entries: ${cfg.split("\n").slice(0, 2).join(" / ")}`);
  assert.match(cfg, new RegExp(`vmlinuz-${escaped(oldRelease)} .*rootsnap\\.boot=1`));

  say("next-boot, reboot: a snapshot boot");
  await m.sh("rootsnap next-boot");
  assert.match(await m.sh("grub-editenv list"), /^next_entry=rootsnap-boot$/m);
  boots.push(await m.reboot());
  let state = await bootState(m);
  const first = assertSnapshotBoot(state, 0);
  unitSeconds.push(bootUnitSeconds(state));
  assert.equal(state.release, oldRelease);
  if (separateBoot) {
    await m.sh(`tar -tf /var/lib/rootsnap/boot/${first}.tar | grep -x 'vmlinuz-${oldRelease}'`);
  }

  say("doctor after setup");
  const doctor = await m.shResult("rootsnap doctor --json", { timeoutMs: 300_000 });
  const checks = (
    JSON.parse(doctor.stdout) as { checks: { name: string; status: string; detail: string }[] }
  ).checks;
  say(checks.map((check) => `${check.status} ${check.name}: ${check.detail}`).join("\n  "));
  const status = (name: string): string | undefined =>
    checks.find((check) => check.name === name)?.status;
  assert.equal(status("root on LVM"), "ok");
  assert.equal(status("initramfs"), "ok");
  assert.equal(status("setup"), "ok");
  assertStack(m, checks);
  assert.equal(doctor.code, checks.some((check) => check.status === "fail") ? 1 : 0);

  say(`kernel upgrade to ${kernel.release}: update-grub regenerates the entry`);
  const debs = kernel.debs.map((deb) => `/root/${deb.split("/").pop() ?? "x.deb"}`);
  for (const [index, deb] of kernel.debs.entries()) await m.copyIn(deb, debs[index] ?? "");
  await m.sh(
    `apt-get install -y ${debs.join(" ")} >/root/apt.log 2>&1 || { tail -30 /root/apt.log; exit 1; }`,
    { timeoutMs: 1_200_000 },
  );
  const upgraded = await m.sh(ENTRY_OF_GRUB_CFG);
  assert.match(upgraded, new RegExp(`vmlinuz-${escaped(kernel.release)} .*rootsnap\\.boot=1`));

  say("next-boot, reboot: a snapshot boot on the new kernel");
  await m.sh("rootsnap next-boot");
  boots.push(await m.reboot());
  state = await bootState(m);
  const second = assertSnapshotBoot(state, 1);
  unitSeconds.push(bootUnitSeconds(state));
  assert.equal(state.release, kernel.release);

  say(`revert to ${first} (taken before the upgrade, ${second} after it), reboot: a normal boot`);
  const revert = await revertAlone(m, first);
  say(revert.trim().replace(/\n/g, " / "));
  // Only the kernel the merge leaves gets an image without lvm's poller.
  const rebuilt = /rebuilt (.*) so that lvm finishes/.exec(revert)?.[1] ?? "";
  assert.match(rebuilt, new RegExp(`initrd\\.img-${escaped(oldRelease)}`), revert);
  assert.doesNotMatch(rebuilt, new RegExp(escaped(kernel.release)), "not the upgrade's image");
  if (options.cutMergeBoot === true) {
    await m.spawn("systemctl poweroff");
    await m.waitForPowerOff();
    const booting = m.boot().catch((error: unknown) => error);
    const started = Date.now();
    // The initramfs has activated the VG, and so started the merges, once the real root runs.
    await m.waitForConsole(/Welcome to .*Debian/, 600_000);
    await m.powerCut();
    say(`power cut ${((Date.now() - started) / 1000).toFixed(1)} s into the boot that merges`);
    await booting;
    boots.push(await m.boot());
  } else {
    boots.push(await m.reboot());
  }
  state = await bootState(m);
  assertNormalBoot(state);
  if (options.cutMergeBoot === true) {
    const suspended = await m.sh(
      "dmsetup info -c --noheadings -o name,attr | awk -F: '$2 ~ /^..s/'",
    );
    assert.equal(suspended, "", "no device is left suspended");
    say(
      `status after the cut: ${(await m.sh("rootsnap status 2>&1")).trim().replace(/\n/g, " / ")}`,
    );
  }
  assert.equal(state.release, oldRelease, "the reverted system runs its own kernel");
  assert.ok(state.modules.includes(oldRelease), `modules: ${state.modules.join(" ")}`);
  assert.ok(!state.modules.includes(kernel.release), "the upgrade's modules are gone");
  const { vg } = m.layout.expect;
  const lvs = await m.sh(
    `lvs -a --noheadings -o lv_name,lv_attr ${vg}; ls /boot; ls /var/lib/rootsnap/boot 2>/dev/null || true`,
  );
  assert.doesNotMatch(lvs, /Swi|snap|\.tar/, `merge finished and copies pruned at boot: ${lvs}`);
  assert.doesNotMatch(lvs, new RegExp(`vmlinuz-${escaped(kernel.release)}`));
  assert.equal(state.sets.length, 0);

  say("uninstall after the revert: byte for byte as before setup");
  await m.sh("rootsnap uninstall", { timeoutMs: 600_000 });
  assert.equal(await bootConfigDigest(m), original, "uninstall restores the boot configuration");
  return { boots, unitSeconds };
}
