// rootsnap as an admin meets it: apt-get installs the .deb (dependencies from the guest's
// own packages) without touching the boot; man rootsnap, rootsnap help and bash's completion
// work; an upgrade refreshes what setup installed; after setup and an armed next-boot,
// apt-get remove runs uninstall first and the next boot is a normal one; purge keeps the
// sets, across another boot.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  installRootsnap,
  stepLog,
  vmSkip,
  withMachine,
  type LayoutName,
  type Machine,
} from "./rig/index.ts";

const say = stepLog("package");

/** What a package of rootsnap may leave behind, one line per thing found. */
const LEFTOVERS = `
ls -d /etc/systemd/system/rootsnap* /etc/systemd/system/*/rootsnap* /etc/apt/apt.conf.d/*rootsnap* \\
  /etc/grub.d/*rootsnap* /etc/initramfs-tools/scripts/*/rootsnap* /etc/rootsnap/boot-plan.sh 2>/dev/null
systemctl list-unit-files --no-legend 'rootsnap*'
grep -n rootsnap /boot/grub/grub.cfg
grub-editenv list 2>/dev/null | grep rootsnap
true`;

/** The boot configuration and the units: the same before install and after remove. */
const BOOT_FILES =
  "sha256sum /boot/grub/grub.cfg; ls /etc/systemd/system /etc/grub.d /etc/apt/apt.conf.d | sort";

/** What setup installed, with the one-shot next boot: an upgrade keeps it all. */
const INTEGRATION =
  "sha256sum /etc/systemd/system/rootsnap* /etc/grub.d/*rootsnap* /boot/grub/grub.cfg; grub-editenv list";
const FINISH_UNIT = "rootsnap-finish.service";

async function rootsnapSets(m: Machine): Promise<string[]> {
  const out = await m.sh("lvs --noheadings -o vg_name,lv_name @rootsnap");
  return out
    .split("\n")
    .map((line) => line.trim().replace(/\s+/, "/"))
    .filter((line) => line !== "")
    .sort();
}

async function packageScenario(layout: LayoutName): Promise<void> {
  await withMachine(layout, async (m) => {
    const pristine = await m.sh(BOOT_FILES);
    say(`${layout}: apt-get install ./rootsnap_*.deb`);
    await installRootsnap(m);
    assert.equal(await m.sh(BOOT_FILES), pristine, "installing the package changes no boot file");
    assert.equal((await m.sh(LEFTOVERS)).trim(), "", "no unit, hook or entry before setup");
    const status = await m.sh("dpkg-query -W -f '${Status} ${Version}' rootsnap");
    assert.match(status, /^install ok installed /);

    say(`${layout}: man rootsnap, man rootsnap.toml, rootsnap help create`);
    const man = await m.sh("MANWIDTH=80 man -P cat rootsnap 2>&1");
    assert.match(man, /^NAME\n\s+rootsnap\s+-\s+LVM\s+snapshot\s+sets/m, man.slice(0, 400));
    for (const section of ["SYNOPSIS", "VERBS", "EXIT STATUS", "FILES", "EXAMPLES", "SAFETY"])
      assert.match(man, new RegExp(`^${section}$`, "m"), `rootsnap(8) has ${section}`);
    assert.match(man, /^ {3}revert\b/m, "rootsnap(8) describes revert");
    const toml = await m.sh("MANWIDTH=80 man -P cat 5 rootsnap.toml 2>&1");
    assert.match(toml, /keep-last/, "rootsnap.toml(5) names its keys");
    const help = await m.sh("rootsnap help create");
    assert.match(help, /^Usage: rootsnap create /);
    assert.match(help, /^Examples:$/m);
    assert.match(help, /^Exit codes:$/m);
    assert.equal(await m.sh("rootsnap create --help"), help);

    say(`${layout}: bash completion from bash-completion's own loader`);
    const completion = await m.sh(
      `bash --norc --noprofile -c '
        . /usr/share/bash-completion/bash_completion
        __load_completion rootsnap 2>/dev/null || _comp_load rootsnap
        f=$(complete -p rootsnap | sed -n "s/.*-F \\([^ ]*\\) .*/\\1/p")
        COMP_WORDS=(rootsnap rev); COMP_CWORD=1; COMP_LINE="rootsnap rev"; COMP_POINT=12
        "$f" rootsnap rev rootsnap; printf "%s\\n" "\${COMPREPLY[@]}"
        COMP_WORDS=(rootsnap hook ""); COMP_CWORD=2; COMP_LINE="rootsnap hook "; COMP_POINT=14
        "$f" rootsnap "" hook; printf "%s\\n" "\${COMPREPLY[@]}" | sort | tr "\\n" " "'`,
    );
    assert.equal(completion.trim(), "revert\napt dnf pacman", completion);

    say(`${layout}: a set, setup, next-boot armed, then apt-get remove`);
    await m.sh("rootsnap create before-remove --size 256M");
    await m.sh("rootsnap setup --yes </dev/null", { timeoutMs: 600_000 });
    await m.sh("rootsnap next-boot </dev/null", { timeoutMs: 300_000 });
    const installed = (await m.sh(LEFTOVERS)).trim();
    assert.notEqual(installed, "", "setup installed its units and entry");

    say(`${layout}: an upgrade brings what setup installed up to the package's version`);
    const integration = await m.sh(INTEGRATION);
    await m.sh(`echo '# written by an older rootsnap' >> /etc/systemd/system/${FINISH_UNIT}`);
    const upgrade = await installRootsnap(m, { reinstall: true });
    assert.doesNotMatch(upgrade, /boot integration is removed/, "an upgrade does not uninstall");
    assert.doesNotMatch(upgrade, /could not be updated/, upgrade);
    assert.equal(await m.sh(INTEGRATION), integration, "the unit is the package's again");
    assert.equal((await m.sh(LEFTOVERS)).trim(), installed, "the next boot is still armed");
    const removal = await m.sh(
      "DEBIAN_FRONTEND=noninteractive apt-get remove -y rootsnap 2>&1 </dev/null",
      { timeoutMs: 600_000 },
    );
    say(
      removal
        .split(/[\r\n]+/)
        .filter((line) => line !== "" && !line.startsWith("(Reading database"))
        .slice(-4)
        .join(" | "),
    );
    assert.match(removal, /boot integration is removed/, "prerm ran rootsnap uninstall");
    assert.equal((await m.sh(LEFTOVERS)).trim(), "", "remove left no unit, hook or entry");
    assert.equal(await m.sh(BOOT_FILES), pristine, "the boot files are as before the install");
    const gone = await m.shResult("test ! -e /usr/bin/rootsnap && ! command -v rootsnap");
    assert.equal(gone.code, 0, "the program is gone");
    const kept = await rootsnapSets(m);
    assert.ok(kept.length >= 1, `the sets are kept: ${kept.join(" ")}`);

    say(`${layout}: the boot after remove is a normal one`);
    await m.reboot();
    const after = await stateWithoutRootsnap(m);
    assertNormalBootWithout(after);

    say(`${layout}: apt-get purge keeps the sets and says so`);
    const purge = await m.sh(
      "DEBIAN_FRONTEND=noninteractive apt-get purge -y rootsnap 2>&1 </dev/null",
      { timeoutMs: 300_000 },
    );
    assert.match(purge, /snapshot sets are kept/, purge);
    assert.equal((await m.shResult("dpkg-query -W rootsnap")).code, 1, "purged: dpkg knows none");
    assert.equal((await m.shResult("test -e /etc/rootsnap")).code, 1, "no /etc/rootsnap");
    assert.deepEqual(await rootsnapSets(m), kept, "purge removed no snapshot");
    await m.reboot();
    assertNormalBootWithout(await stateWithoutRootsnap(m));
    assert.deepEqual(await rootsnapSets(m), kept, "the sets outlive the next boot too");
    assert.equal((await m.sh(LEFTOVERS)).trim(), "");
  });
}

interface PlainBoot {
  cmdline: string;
  system: string;
  failed: string;
  defaultActive: string;
}

/** What a boot did, with rootsnap gone (bootState reads rootsnap list). */
async function stateWithoutRootsnap(m: Machine): Promise<PlainBoot> {
  const out = await m.sh(
    `systemctl is-system-running --wait >/dev/null 2>&1 || true
     echo "@cmdline"; cat /proc/cmdline
     echo "@system"; systemctl is-system-running || true
     echo "@failed"; systemctl list-units --failed --no-legend --plain
     echo "@active"; systemctl is-active "$(systemctl get-default)" || true`,
    { timeoutMs: 300_000 },
  );
  const part = (name: string): string =>
    new RegExp(`^@${name}\\n([\\s\\S]*?)(?=^@|(?![\\s\\S]))`, "m").exec(out)?.[1]?.trim() ?? "";
  return {
    cmdline: part("cmdline"),
    system: part("system"),
    failed: part("failed"),
    defaultActive: part("active"),
  };
}

function assertNormalBootWithout(state: PlainBoot): void {
  assert.doesNotMatch(state.cmdline, /rootsnap/, "the default entry booted, not rootsnap's");
  assert.equal(state.defaultActive, "active", "the default target is reached");
  assert.equal(state.failed, "", `no unit failed: ${state.failed}`);
  assert.equal(state.system, "running");
}

for (const layout of ["bookworm-simple", "trixie-split"] as const)
  test(
    `${layout}: the .deb installs, documents, completes, and removes and purges to a normal boot`,
    { skip: vmSkip(), timeout: 30 * 60_000 },
    () => packageScenario(layout),
  );
