// Package-manager hooks and timers installed by setup: apt makes a pre-update set, a
// revert undoes the package and leaves apt working, an interrupted apt run is undone, a
// full VG lets the update go on with a clear warning, and the timers take and prune sets.
import assert from "node:assert/strict";
import { test } from "node:test";
import { installRootsnap, vmSkip, withMachine, type Machine } from "./rig/index.ts";
import { APT_INSTALL as APT, makeDeb } from "./scenarios/test-debs.ts";

interface ListJson {
  sets: { name: string; kind: string; label: string | null }[];
}

async function sets(m: Machine): Promise<ListJson["sets"]> {
  return (JSON.parse(await m.sh("rootsnap list --json")) as ListJson).sets;
}

const CONFIG = '[defaults]\nsize = "512M"\n\n[retention.scheduled]\nkeep-last = 2\n';

test(
  "apt hook, revert of an update, interrupted apt, full VG, timers",
  { skip: vmSkip(), timeout: 40 * 60_000 },
  async () => {
    await withMachine("bookworm-simple", async (m) => {
      const vg = m.layout.expect.vg;
      await installRootsnap(m);
      await m.sh("mkdir -p /etc/rootsnap && cat > /etc/rootsnap/rootsnap.toml", {
        input: CONFIG,
      });
      await m.sh("rootsnap setup --yes", { timeoutMs: 300_000 });
      assert.match(await m.sh("cat /etc/apt/apt.conf.d/80rootsnap"), /DPkg::Pre-Invoke/);

      // An update through apt takes exactly one labelled pre-update set.
      const demo = await makeDeb(m, "rootsnap-demo");
      const install = await m.sh(`${APT} ${demo} 2>&1`, { timeoutMs: 300_000 });
      assert.match(install, /took set pre-update-/);
      const pre = (await sets(m)).filter((s) => s.kind === "pre-update");
      assert.equal(pre.length, 1, JSON.stringify(pre));
      assert.match(pre[0]?.label ?? "", /apt-get install -y -q .*rootsnap-demo_1\.0_all\.deb/);
      assert.equal((await m.sh("cat /usr/share/rootsnap-demo/payload")).trim(), "rootsnap-demo");

      // Reverting it removes the package, and apt works afterwards.
      await m.sh(`rootsnap revert ${pre[0]?.name ?? ""} --yes`, { timeoutMs: 600_000 });
      await m.reboot();
      assert.notEqual((await m.shResult("dpkg -s rootsnap-demo")).code, 0, "the package is gone");
      assert.equal(
        (await m.sh("dpkg --audit; apt-get check -q 2>&1; echo rc=$?")).trim().split("\n").at(-1),
        "rc=0",
      );
      await m.sh(`${APT} ${demo}`, { timeoutMs: 300_000 });
      assert.equal(
        (await m.sh("dpkg-query -W -f '${Status}' rootsnap-demo")).trim(),
        "install ok installed",
      );

      // An apt run killed in the middle of a maintainer script is undone by its set.
      const slow = await makeDeb(m, "rootsnap-slow", "sleep 600");
      await m.sh(`systemd-run --unit=slow-apt sh -c '${APT} ${slow}'`);
      // -x matches the maintainer script's own `sleep 600`, never the shell that looks for it.
      await m.sh(
        "for i in $(seq 1 120); do pgrep -x -f 'sleep 600' && exit 0; sleep 1; done; exit 1",
        { timeoutMs: 150_000 },
      );
      await m.sh("systemctl kill -s KILL slow-apt; sleep 1; pkill -9 -x -f 'sleep 600' || true");
      assert.match(
        await m.sh("dpkg --audit 2>&1 || true"),
        /rootsnap-slow/,
        "dpkg shows the half-installed package",
      );
      const slowSet = (await sets(m)).find(
        (s) => s.kind === "pre-update" && (s.label ?? "").includes("rootsnap-slow"),
      );
      assert.ok(slowSet, "the interrupted run took its set");
      await m.sh(`rootsnap revert ${slowSet.name} --yes`, { timeoutMs: 600_000 });
      await m.reboot();
      assert.equal(
        (await m.sh("dpkg --audit 2>&1; echo done")).trim(),
        "done",
        "dpkg is consistent again",
      );
      assert.notEqual((await m.shResult("dpkg -s rootsnap-slow")).code, 0);

      // Timers: setup again with a schedule adds its timer; sets every 20 s, three made and
      // pruned to two.
      // Setup runs right after the boot, while boot-finish still has the revert's merge to
      // finish: boot-finish waits for setup's lock, the scheduled sets wait for boot-finish.
      await m.sh("cat > /etc/rootsnap/rootsnap.toml && rootsnap setup --yes", {
        input: `${CONFIG}\n[schedule]\non-calendar = "*:*:0/20"\n`,
        timeoutMs: 300_000,
      });
      const took = await m.shResult(
        `for i in $(seq 1 90); do
           made=$(journalctl -b -o cat -u rootsnap-scheduled.service | grep -c '^created set scheduled-')
           [ "$made" -ge 3 ] && break; sleep 2
         done
         systemctl stop rootsnap-scheduled.timer
         while systemctl -q is-active rootsnap-scheduled.service; do sleep 1; done
         systemctl start rootsnap-prune.service
         echo "made=$made"
         echo "refused=$(journalctl -b -o cat -u rootsnap-scheduled.service | grep -c 'merging into it')"
         systemctl show -p Result rootsnap-finish.service
         systemctl show -p After rootsnap-scheduled.service rootsnap-prune.service`,
        { timeoutMs: 400_000 },
      );
      const scheduled = (await sets(m)).filter((s) => s.kind === "scheduled");
      const journal =
        scheduled.length === 2
          ? ""
          : await m.sh(
              "journalctl -b -o short-monotonic --no-pager -u rootsnap-finish -u rootsnap-scheduled -u rootsnap-prune | tail -40",
            );
      assert.equal(scheduled.length, 2, `${JSON.stringify(scheduled)}\n${journal}`);
      assert.match(took.stdout, /^Result=success$/m, "boot-finish finished the merge");
      const made = Number(/^made=(\d+)$/m.exec(took.stdout)?.[1]);
      assert.ok(made >= 3, `three scheduled runs made a set: ${took.stdout}`);
      // Ordered after boot-finish, no scheduled run met the merge still pending.
      assert.match(took.stdout, /^refused=0$/m, took.stdout);
      const afters = took.stdout.split("\n").filter((line) => line.startsWith("After="));
      assert.equal(afters.length, 2, took.stdout);
      for (const after of afters) {
        assert.match(after, /\brootsnap-finish\.service\b/, "the timers' services come after it");
      }
      assert.equal(took.code, 0, took.stderr);

      // A full VG: the update goes on, and apt's output says why no set was taken.
      await m.sh(`lvcreate -y -l 100%FREE -n filler ${vg}`);
      const other = await makeDeb(m, "rootsnap-other");
      const full = await m.shResult(`${APT} ${other} 2>&1`, { timeoutMs: 300_000 });
      assert.equal(full.code, 0, full.stdout);
      assert.match(
        full.stdout,
        /rootsnap: warning: no pre-update set was taken: .*; the update goes on/,
      );
      assert.equal(
        (await m.sh("dpkg-query -W -f '${Status}' rootsnap-other")).trim(),
        "install ok installed",
      );
    });
  },
);
