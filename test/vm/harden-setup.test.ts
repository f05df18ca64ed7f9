// setup on bookworm-simple: a program another user could replace is refused with nothing
// changed; a setup whose grub-mkconfig fails leaves the system as it found it, also over a
// finished install; and a program at a path with a space is set up, run by systemd and apt,
// and uninstalled without a trace.
import assert from "node:assert/strict";
import { test } from "node:test";
import { installRootsnap, stepLog, vmSkip, withMachine, type Machine } from "./rig/index.ts";
import { APT_INSTALL, makeDeb } from "./scenarios/test-debs.ts";

const say = stepLog("harden-setup");

const CONFIG = "/etc/rootsnap/rootsnap.toml";
/** A failing /etc/grub.d script: grub-mkconfig runs it and exits non-zero. */
const FAIL_SCRIPT = "/etc/grub.d/99_fail";
const WATCHED = "/etc/systemd/system /etc/apt/apt.conf.d /etc/grub.d /etc/rootsnap";

/** Everything setup may touch, with modes, owners, link targets and checksums. */
const LISTING = `
for d in ${WATCHED}; do
  [ -e "$d" ] && find "$d" -path ${FAIL_SCRIPT} -prune -o -printf '%y %m %U %p -> %l\\n'
done | sort
for d in ${WATCHED}; do
  [ -e "$d" ] && find "$d" -path ${FAIL_SCRIPT} -prune -o -type f -exec sha256sum {} +
done | sort
find /boot/grub -maxdepth 1 -printf '%y %m %p\\n' | sort
sha256sum /boot/grub/grub.cfg
echo '--- unit files'; systemctl list-unit-files --no-legend 'rootsnap*'
echo '--- timers'; systemctl list-timers --all --no-legend --plain | awk '{print $(NF-1), $NF}' | sort
echo '--- units'; systemctl list-units --all --no-legend --plain 'rootsnap*'
`;

function listing(m: Machine): Promise<string> {
  return m.sh(LISTING);
}

/** The lines of a listing's section (after `--- name`, up to the next). */
function section(list: string, name: string): string {
  const lines = list.split("\n");
  const start = lines.indexOf(`--- ${name}`) + 1;
  const end = lines.findIndex((line, i) => i >= start && line.startsWith("--- "));
  return lines
    .slice(start, end < 0 ? undefined : end)
    .join("\n")
    .trim();
}

/** `program setup ARGS` exits 77 with one line naming `why`, and changes nothing from `before`. */
async function refusedSetup(
  m: Machine,
  before: string,
  program: string,
  args: string,
  why: RegExp,
): Promise<void> {
  const r = await m.shResult(`${program} setup ${args} </dev/null`, { timeoutMs: 300_000 });
  say(`${program} setup ${args}: ${r.code} ${r.stderr.trim()}`);
  assert.equal(r.code, 77, r.stderr);
  assert.equal(r.stdout, "", "no data");
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, `one line: ${r.stderr}`);
  assert.match(r.stderr, why);
  assert.equal(await listing(m), before, `${program} setup ${args} changed the system`);
}

/** setup --yes fails at grub-mkconfig, and says it undid what it had changed. */
async function failingSetup(m: Machine): Promise<void> {
  const r = await m.shResult("rootsnap setup --yes </dev/null", { timeoutMs: 600_000 });
  say(`failing setup: ${r.code} ${r.stderr.trim()}`);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /^rootsnap: warning: setup failed and undid what it had changed: the system is as it was before$/m,
  );
  assert.match(
    r.stderr,
    /^rootsnap: error: \/usr\/sbin\/grub-mkconfig -o \S+ failed with exit code 1/m,
  );
}

test(
  "setup refuses an unsafe program, undoes a failed run, and quotes a path with a space",
  { skip: vmSkip(), timeout: 30 * 60_000 },
  async () => {
    await withMachine("bookworm-simple", async (m) => {
      await installRootsnap(m);
      await m.sh(`mkdir -p /etc/rootsnap && printf '[defaults]\\nsize = "256M"\\n' > ${CONFIG}`);
      const pristine = await listing(m);
      assert.equal(section(pristine, "unit files"), "", "no rootsnap unit yet");

      say("a program in a world-writable directory, in a user's directory, behind a link");
      await m.sh(
        `mkdir -m 1777 /tmp/x && cp /usr/bin/rootsnap /tmp/x/ &&
         mkdir -p /opt/user && chown 1000:1000 /opt/user && cp /usr/bin/rootsnap /opt/user/ &&
         ln -s /tmp/x/rootsnap /usr/local/bin/rootsnap-link`,
      );
      const open =
        /rootsnap will not make root run \/tmp\/x\/rootsnap: \/tmp\/x is writable by group and others, so another user could change what runs \(hint: install it root-owned: install -m 0755 \/tmp\/x\/rootsnap \/usr\/local\/bin\/rootsnap/;
      await refusedSetup(m, pristine, "/tmp/x/rootsnap", "--yes", open);
      await refusedSetup(m, pristine, "/tmp/x/rootsnap", "--dry-run", open);
      await refusedSetup(
        m,
        pristine,
        "/opt/user/rootsnap",
        "--yes",
        /run \/opt\/user\/rootsnap: \/opt\/user is owned by uid 1000, not root/,
      );
      await refusedSetup(
        m,
        pristine,
        "/usr/local/bin/rootsnap-link",
        "--yes",
        // Followed to the file it names: that is what the units would run.
        /run \/tmp\/x\/rootsnap: \/tmp\/x is writable by group and others/,
      );
      await m.sh("rm -r /tmp/x /opt/user /usr/local/bin/rootsnap-link");

      say("grub-mkconfig fails on a first setup");
      await m.writeFile(FAIL_SCRIPT, "#!/bin/sh\nexit 1\n", 0o755);
      await failingSetup(m);
      const after = await listing(m);
      assert.equal(section(after, "unit files"), "", "no rootsnap unit is left");
      assert.doesNotMatch(section(after, "timers"), /rootsnap/, "no rootsnap timer is left");
      assert.equal(after, pristine, "the failed setup left the system as it was");

      say("grub-mkconfig fails on a setup over a finished install");
      await m.sh(`rm ${FAIL_SCRIPT} && rootsnap setup --yes </dev/null`, { timeoutMs: 600_000 });
      const installed = await listing(m);
      assert.match(section(installed, "timers"), /rootsnap-prune\.timer/);
      await m.sh(
        `cp -p ${CONFIG} /root/config && printf '[schedule]\\non-calendar = "daily"\\n' >> ${CONFIG}`,
      );
      await m.writeFile(FAIL_SCRIPT, "#!/bin/sh\nexit 1\n", 0o755);
      await failingSetup(m);
      await m.sh(`rm ${FAIL_SCRIPT} && cp -p /root/config ${CONFIG}`);
      assert.equal(await listing(m), installed, "the finished install is back, byte for byte");
      const working = await m.shResult(
        `rootsnap doctor; echo "doctor=$?"
         systemctl is-enabled rootsnap-boot.service rootsnap-finish.service rootsnap-watch.service rootsnap-prune.timer
         systemctl is-active rootsnap-watch.service rootsnap-prune.timer
         rootsnap status --json | grep setup_interrupted`,
        { timeoutMs: 300_000 },
      );
      say(working.stdout.trim());
      assert.match(working.stdout, /^doctor=0$/m, working.stdout);
      assert.match(working.stdout, /^ok\s+setup\s+units installed/m);
      assert.match(working.stdout, /^(enabled\n){4}(active\n){2}/m);
      assert.match(working.stdout, /"setup_interrupted": null/);
      await m.sh("rootsnap uninstall --yes </dev/null", { timeoutMs: 600_000 });
      assert.equal(await listing(m), pristine, "uninstall leaves nothing");

      say("a program at /opt/root snap/rootsnap");
      const program = "'/opt/root snap/rootsnap'";
      await m.sh(
        `mkdir -p '/opt/root snap' && install -m 0755 /usr/bin/rootsnap ${program} &&
         mv /usr/bin/rootsnap /root/rootsnap.packaged && ${program} setup --yes </dev/null`,
        { timeoutMs: 600_000 },
      );
      const quoted = await m.sh(
        `systemd-analyze verify /etc/systemd/system/rootsnap-*.service /etc/systemd/system/rootsnap-*.timer && echo verified
         systemctl show -p ExecStart rootsnap-finish.service rootsnap-boot.service rootsnap-watch.service
         apt-config dump DPkg::Pre-Invoke
         grep '^rootsnap()' /etc/rootsnap/boot-plan.sh
         systemctl start rootsnap-finish.service; systemctl show -p Result rootsnap-finish.service`,
        { timeoutMs: 300_000 },
      );
      say(quoted.trim());
      assert.match(quoted, /^verified$/m);
      assert.match(quoted, /argv\[\]=\/usr\/bin\/node \/opt\/root snap\/rootsnap boot-finish ;/);
      assert.match(quoted, /argv\[\]=\/usr\/bin\/node \/opt\/root snap\/rootsnap watch --follow ;/);
      assert.match(
        quoted,
        /argv\[\]=\/bin\/sh -c \[ -r \/etc\/rootsnap\/boot-plan\.sh \] && exec \/bin\/sh \/etc\/rootsnap\/boot-plan\.sh; exec \/usr\/bin\/node '\/opt\/root snap\/rootsnap' create --kind boot ;/,
      );
      assert.match(
        quoted,
        /^DPkg::Pre-Invoke:: "if \[ -x \/usr\/bin\/node \] && \[ -f '\/opt\/root snap\/rootsnap' \]; then \/usr\/bin\/node '\/opt\/root snap\/rootsnap' hook apt; fi";$/m,
      );
      assert.match(
        quoted,
        /^rootsnap\(\) \{ \/usr\/bin\/node '\/opt\/root snap\/rootsnap' "\$@"; \}$/m,
      );
      assert.match(quoted, /^Result=success$/m, "systemd ran the program");

      const deb = await makeDeb(m, "rootsnap-harden");
      const update = await m.sh(`${APT_INSTALL} ${deb} 2>&1`, { timeoutMs: 300_000 });
      assert.match(update, /took set pre-update-/, update);
      const { sets } = JSON.parse(await m.sh(`${program} list --json`)) as {
        sets: { kind: string }[];
      };
      assert.deepEqual(
        sets.map((set) => set.kind),
        ["pre-update"],
        "the hook ran the program",
      );
      await m.sh(
        `${program} uninstall --yes </dev/null && mv /root/rootsnap.packaged /usr/bin/rootsnap`,
        {
          timeoutMs: 600_000,
        },
      );
      assert.equal(await listing(m), pristine, "uninstall leaves nothing");
    });
  },
);
