// Faults at boot on bookworm-simple: setup cut off between its file writes (power cut,
// SIGKILL), a full VG when the boot-time set is due (no plan
// could be made; and a plan made with room whose second lvcreate finds none), a
// configuration changed after the plan was made, and the power cut while
// rootsnap-boot.service runs. Each must leave a system that reaches its default target
// and a state rootsnap explains.
import assert from "node:assert/strict";
import { test } from "node:test";
import { installRootsnap, type Machine, stepLog, vmSkip, withMachine } from "./rig/index.ts";
import { assertNoRoomBoot, assertSnapshotBoot, bootState } from "./scenarios/boot-flow.ts";

const say = stepLog("boot-faults");

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * systemctl, first on rootsnap's PATH: `enable` comes after setup has written its files and
 * before grub.cfg gets the entry. "power" leaves the run there for a power cut; "kill"
 * kills the rootsnap that called it.
 */
const CUT_SYSTEMCTL = `#!/bin/sh
if [ "$1" = enable ]; then
  case "$(cat /root/cut/how)" in
    power) touch /run/setup-cut; sync; exec sleep 600 ;;
    kill) kill -KILL "$PPID"; exit 1 ;;
  esac
fi
exec /usr/bin/systemctl "$@"
`;

const ROOTSNAP_FILES =
  "ls -d /etc/systemd/system/rootsnap* /etc/grub.d/*rootsnap* /etc/apt/apt.conf.d/*rootsnap* /etc/rootsnap/boot-setup.json 2>/dev/null; true";

/** Setup interrupted between its file writes, by a power cut and by SIGKILL; then finished. */
async function setupCutOff(m: Machine): Promise<void> {
  const grubBefore = await m.sh("sha256sum /boot/grub/grub.cfg; mkdir -p /root/cut");
  await m.writeFile("/root/cut/systemctl", CUT_SYSTEMCTL, 0o755);
  await m.writeFile("/root/cut/how", "power\n");

  say("setup cut off by a power cut after its file writes, before grub.cfg");
  await m.spawn("PATH=/root/cut:$PATH rootsnap setup --yes >/root/setup-cut.log 2>&1");
  await m.sh("for i in $(seq 1 300); do [ -e /run/setup-cut ] && exit 0; sleep 1; done; exit 1", {
    timeoutMs: 330_000,
  });
  await m.powerCut();
  await m.boot();
  const target = await m.sh(
    "systemctl is-system-running --wait || true; systemctl is-active multi-user.target",
  );
  assert.match(target, /^active$/m, "the boot after the cut reaches its target");
  const written = await m.sh(ROOTSNAP_FILES);
  say(`left by the cut: ${written.trim().split("\n").join(" ")}`);
  assert.match(written, /rootsnap-boot\.service/, "the cut came after the unit files");
  assert.equal(await m.sh("sha256sum /boot/grub/grub.cfg"), grubBefore, "grub.cfg untouched");
  const explained = await m.sh(
    "rootsnap status; rootsnap status --json | grep setup_interrupted; rootsnap doctor || true",
    { timeoutMs: 300_000 },
  );
  say(explained.trim());
  const didNotFinish =
    /rootsnap setup did not finish \(.*\): run rootsnap setup again to finish it, or rootsnap uninstall to undo it/;
  assert.match(explained, new RegExp(`^warning: ${didNotFinish.source}`, "m"));
  assert.match(explained, new RegExp(`"setup_interrupted": "${didNotFinish.source}`));
  assert.match(explained, new RegExp(`fail\\s+setup\\s+${didNotFinish.source}`));

  say("uninstall undoes the cut-off setup");
  await m.sh("rootsnap uninstall --yes", { timeoutMs: 600_000 });
  assert.equal(await m.sh(ROOTSNAP_FILES), "", "no file of rootsnap's is left");
  assert.equal(await m.sh("sha256sum /boot/grub/grub.cfg"), grubBefore, "grub.cfg as before");

  say("setup killed after its file writes; setup again finishes it");
  await m.writeFile("/root/cut/how", "kill\n");
  const killed = await m.shResult("PATH=/root/cut:$PATH rootsnap setup --yes", {
    timeoutMs: 600_000,
  });
  assert.equal(killed.code, 137, `setup was killed: ${killed.stderr}`);
  assert.match(await m.sh("rootsnap status"), didNotFinish);
  await m.sh("rm -r /root/cut; rootsnap setup --yes", { timeoutMs: 600_000 });
  const finished = await m.sh(
    "rootsnap status --json | grep setup_interrupted; rootsnap doctor | grep -w setup; systemctl is-enabled rootsnap-boot.service; grep -c rootsnap-boot /boot/grub/grub.cfg",
    { timeoutMs: 300_000 },
  );
  say(finished.trim());
  assert.match(finished, /"setup_interrupted": null/);
  assert.match(finished, /ok\s+setup\s+units installed/);
  assert.match(finished, /^enabled$/m);
}

test(
  "bookworm-simple: a full VG and a power cut at boot leave a bootable system",
  { skip: vmSkip(), timeout: 40 * 60_000 },
  async () => {
    await withMachine("bookworm-simple", async (m) => {
      await installRootsnap(m);
      await setupCutOff(m);

      say("full VG, then a snapshot boot");
      await m.sh("lvcreate -y -l 100%FREE -n filler vg0 >/dev/null && rootsnap next-boot");
      await m.reboot();
      let state = await bootState(m);
      assertNoRoomBoot(state);
      const why = await m.sh(
        "journalctl -b -u rootsnap-boot.service --no-pager -o cat | grep 'rootsnap: error' ; rootsnap doctor || true",
        { timeoutMs: 300_000 },
      );
      say(why.trim());
      assert.match(why, /rootsnap: error: .*(space|free)/i);
      assert.match(why, /warn\s+boot-time set\s+this boot's set was not made/);
      assert.match(
        await m.sh("rootsnap status", { timeoutMs: 300_000 }),
        /warning: this boot's set was not made: rootsnap create --kind boot failed with exit code 73/,
      );

      say("a plan of two snapshots made with room, then room for one only: no partial set");
      await m.sh(`lvremove -y vg0/filler >/dev/null
        lvcreate -y -L 64M -n data vg0 >/dev/null && mkfs.ext4 -q /dev/vg0/data
        printf '[[volumes]]\nlv = "vg0/root"\nsize = "32M"\n\n[[volumes]]\nlv = "vg0/data"\nsize = "32M"\n' >/etc/rootsnap/rootsnap.toml
        rootsnap next-boot
        [ "$(grep -c '^snapshot ' /etc/rootsnap/boot-plan.sh)" = 2 ]
        free=$(vgs --noheadings -o vg_free_count vg0 | tr -d " ")
        lvcreate -y -l $((free - 8)) -n filler vg0 >/dev/null`);
      await m.reboot();
      state = await bootState(m);
      assertNoRoomBoot(state);
      const rolledBack = await m.sh(
        `journalctl -b -u rootsnap-boot.service --no-pager -o cat | grep 'rootsnap: error'
         rootsnap status; rootsnap status --json | grep boot_failure`,
        { timeoutMs: 300_000 },
      );
      say(rolledBack.trim());
      const failed =
        /rootsnap: error: creating vg0\/data-boot-\S+ failed, removed vg0\/root-boot-\S+ again: lvcreate failed with exit code \d+: .*insufficient free space/;
      assert.match(rolledBack, failed);
      assert.match(rolledBack, /warning: this boot's set was not made: creating vg0\/data-boot-/);
      assert.match(rolledBack, /"boot_failure": "creating vg0\/data-boot-/);
      const lvs = await m.sh("lvs --noheadings -o lv_name,lv_tags vg0");
      assert.doesNotMatch(lvs, /-boot-|rootsnap\.set=/, `no snapshot is left: ${lvs}`);

      say("the configuration changed after next-boot: the boot honours it");
      await m.sh(`lvremove -y vg0/filler >/dev/null && rootsnap next-boot
        printf '[[volumes]]\nlv = "vg0/root"\nsize = "48M"\n' >/etc/rootsnap/rootsnap.toml`);
      await m.reboot();
      state = await bootState(m);
      assertSnapshotBoot(state, 0);
      const honoured = await m.sh(
        `journalctl -b -u rootsnap-boot.service --no-pager -o cat | grep 'boot plan is stale'
         lvs --noheadings --units m -o lv_name,lv_size @rootsnap
         grep -c '^snapshot ' /etc/rootsnap/boot-plan.sh; grep '^# vg0/' /etc/rootsnap/boot-plan.sh`,
      );
      say(honoured.trim());
      assert.match(honoured, /running rootsnap create --kind boot/);
      assert.match(honoured, /^\s+root-boot-\S+\s+48\.00m$/m, "the snapshot has the new size");
      assert.doesNotMatch(honoured, /data-boot-/, "vg0/data is no longer in the set");
      assert.match(
        honoured,
        /^1\n# vg0\/root: 48M, 12 extents$/m,
        "boot-finish made the plan anew",
      );

      say("after a boot the plan made, boot-finish applies the boot sets' retention");
      const older = state.sets.map((set) => set.name);
      assert.equal(older.length, 1);
      await m.sh(`printf '[[volumes]]\nlv = "vg0/root"\nsize = "48M"\n\n[retention.boot]\nkeep-last = 1\n' >/etc/rootsnap/rootsnap.toml
        rootsnap next-boot`);
      await m.reboot();
      state = await bootState(m);
      // The older set is gone, so this boot's is the only boot set.
      const newest = assertSnapshotBoot(state, 0);
      const journal = await m.sh(
        "journalctl -b -u rootsnap-boot.service -u rootsnap-finish.service --no-pager -o cat",
      );
      say(journal.trim());
      assert.match(journal, new RegExp(`created set ${newest}`), "the plan made the set");
      assert.doesNotMatch(journal, /running rootsnap create/, "not rootsnap create");
      assert.deepEqual(
        state.sets.map((set) => set.name),
        [newest],
        `boot-finish removed ${older.join(", ")}`,
      );

      say("power cut while rootsnap-boot.service runs");
      await m.sh("rootsnap next-boot");
      await m.spawn("systemctl poweroff");
      await m.waitForPowerOff();
      const booting = m.boot().catch((error: unknown) => error);
      const started = Date.now();
      // The unit has started once systemd names it on the console.
      await m.waitForConsole(/rootsnap boot-time snapshot set/, 600_000);
      // The plan takes about as long as its lvcreate: cut while it runs.
      await sleep(800);
      await m.powerCut();
      say(`power cut ${((Date.now() - started) / 1000).toFixed(1)} s after power-on`);
      await booting;
      await m.boot();
      state = await bootState(m);
      assert.equal(
        state.defaultTargetActive,
        "active",
        "the boot after the cut reaches its target",
      );
      const after = await m.sh(
        "rootsnap status; echo rc=$?; lvs -a --noheadings -o lv_name,lv_attr,lv_tags vg0",
        { timeoutMs: 300_000 },
      );
      say(after.trim());
      assert.match(after, /rc=0/);
      for (const line of after.split("\n").filter((l) => /^\s+\S+\s+s/.test(l))) {
        assert.match(line, /rootsnap\.set=/, `every snapshot belongs to a set: ${line}`);
      }
      assert.ok(state.sets.every((set) => set.kind === "boot"));
    });
  },
);
