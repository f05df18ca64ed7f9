// Faults at boot on bookworm-simple: a full VG when the boot-time set is due, and the
// power cut while rootsnap-boot.service runs. Each must leave a system that reaches its
// default target and a state rootsnap explains.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { installRootsnap, vmSkip, withMachine } from "./rig/index.ts";
import { bootState } from "./scenarios/boot-flow.ts";

const say = (step: string): void => {
  process.stderr.write(`[boot-faults] ${step}\n`);
};

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

test(
  "bookworm-simple: a full VG and a power cut at boot leave a bootable system",
  { skip: vmSkip(), timeout: 40 * 60_000 },
  async () => {
    await withMachine("bookworm-simple", async (m) => {
      await installRootsnap(m);
      await m.sh("rootsnap setup", { timeoutMs: 600_000 });

      say("full VG, then a snapshot boot");
      await m.sh("lvcreate -y -l 100%FREE -n filler vg0 >/dev/null && rootsnap next-boot");
      await m.reboot();
      let state = await bootState(m);
      assert.match(state.cmdline, /rootsnap\.boot=1/);
      assert.equal(state.bootUnit.Result, "exit-code", JSON.stringify(state.bootUnit));
      assert.equal(state.bootUnit.ExecMainStatus, "73", "exit 73: not enough space");
      assert.equal(state.defaultTargetActive, "active", "the boot went on");
      assert.equal(state.sets.length, 0);
      assert.equal(state.nextEntry, "", "the one-shot entry is cleared even so");
      const why = await m.sh(
        "journalctl -b -u rootsnap-boot.service --no-pager -o cat | grep 'rootsnap: error' ; rootsnap doctor || true",
        { timeoutMs: 300_000 },
      );
      say(why.trim());
      assert.match(why, /rootsnap: error: .*(space|free)/i);
      assert.match(why, /warn\s+boot-time set\s+this boot's set was not made/);

      say("power cut while rootsnap-boot.service runs");
      await m.sh("lvremove -y vg0/filler >/dev/null && rootsnap next-boot");
      await m.spawn("systemctl poweroff");
      await m.waitForPowerOff();
      const booting = m.boot().catch((error: unknown) => error);
      const started = Date.now();
      let log = "";
      while (Date.now() - started < 600_000) {
        const file = m.serialLogs.at(-1);
        log = file !== undefined && existsSync(file) ? readFileSync(file, "utf8") : "";
        if (log.includes("rootsnap boot-time snapshot set")) break;
        await sleep(200);
      }
      assert.match(log, /rootsnap boot-time snapshot set/, "the unit started");
      await sleep(3000);
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
