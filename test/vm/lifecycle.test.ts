// Retention and the watchdog on a real system: prune removes exactly what the policy
// says (also across clock jumps), and a write burst never leaves an invalid snapshot
// unexplained: the watchdog extends it, or removes the set when the VG has no room.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { promtool } from "../promtool.ts";
import { installRootsnap, vmSkip, withMachine, type Machine } from "./rig/index.ts";

const CONFIG = "/etc/rootsnap/rootsnap.toml";
const METRICS = "/var/lib/rootsnap-metrics/rootsnap.prom";

interface PruneJson {
  prune: { sets: { name: string; keep: boolean; reason: string }[]; removed: string[] };
}

async function json<T>(m: Machine, command: string): Promise<T> {
  return JSON.parse(await m.sh(command, { timeoutMs: 180_000 })) as T;
}

/** A write burst on / that would fill a small snapshot within a minute. */
const BURST = (n: number): string =>
  `for i in $(seq 1 ${n}); do dd if=/dev/urandom of=/root/burst$i bs=1M count=2 conv=fsync status=none; sleep 1; done`;

async function watchdog(m: Machine, unit: string): Promise<void> {
  await m.sh(`systemd-run --unit=${unit} --property=Type=exec rootsnap watch --follow`);
}

test(
  "prune, clock jumps, and the watchdog on bookworm-simple",
  { skip: vmSkip(), timeout: 40 * 60_000 },
  async () => {
    await withMachine("bookworm-simple", async (m) => {
      await installRootsnap(m);
      const vg = m.layout.expect.vg;
      const now = Math.floor(Date.now() / 1000);

      // Sets taken at different times: the guest's clock is set for each.
      await m.sh(
        `date -s 2026-01-01T00:00:00Z && rootsnap create m-jan --size 64M && rootsnap create boot-jan --kind boot --size 64M &&
       date -s 2026-06-01T00:00:00Z && rootsnap create m-jun --size 64M &&
       date -s @${now} && rootsnap create m-now1 --size 64M && rootsnap create m-now2 --size 64M`,
        { timeoutMs: 300_000 },
      );
      await m.sh(`mkdir -p /etc/rootsnap && cat > ${CONFIG}`, {
        input: `[retention.manual]\nkeep-last = 1\nkeep-within = "30d"\n\n[retention.boot]\nkeep-last = 0\n`,
      });

      const dry = await json<PruneJson>(m, "rootsnap prune --dry-run --json");
      const going = (p: PruneJson): string[] =>
        p.prune.sets
          .filter((s) => !s.keep)
          .map((s) => s.name)
          .sort();
      assert.deepEqual(going(dry), ["m-jan", "m-jun"], JSON.stringify(dry));
      assert.match(
        dry.prune.sets.find((s) => s.name === "boot-jan")?.reason ?? "",
        /newest boot set/,
      );
      assert.equal(
        (await m.sh(`lvs --noheadings -o lv_name ${vg}`)).match(/root-m-jan/g)?.length,
        1,
        "a dry run removes nothing",
      );

      // The clock jumps back a year: every set is "from the future" and none may go.
      const back = await json<PruneJson>(
        m,
        `date -s 2025-01-01T00:00:00Z >/dev/null && rootsnap prune --dry-run --json; date -s @${now} >/dev/null`,
      );
      assert.deepEqual(going(back), [], JSON.stringify(back));

      const real = await json<PruneJson>(
        m,
        `date -s @${Math.floor(Date.now() / 1000)} >/dev/null && rootsnap prune --yes --json`,
      );
      assert.deepEqual(going(real), ["m-jan", "m-jun"]);
      const left = await json<{ sets: { name: string }[] }>(m, "rootsnap list --json");
      assert.deepEqual(left.sets.map((s) => s.name).sort(), ["boot-jan", "m-now1", "m-now2"]);
      await m.sh("for s in boot-jan m-now1 m-now2; do rootsnap remove $s --yes; done");

      // Watchdog, room in the VG: the snapshot is extended and stays valid.
      await m.sh(`cat > ${CONFIG}`, {
        input: `[watchdog]\nthreshold = 40\naction = "extend"\nfallback = "remove"\nextend-percent = 100\ninterval = "2s"\nmetrics = "${METRICS}"\n`,
      });
      await m.sh("rootsnap create w1 --size 32M");
      await watchdog(m, "rootsnap-watch1");
      await m.sh(BURST(50), { timeoutMs: 600_000 });
      const w1 = await m.sh(
        `lvs --noheadings --units m --nosuffix -o lv_attr,lv_size,snap_percent ${vg}/root-w1`,
      );
      const [attr = "", size = "0"] = w1.trim().split(/\s+/);
      assert.notEqual(attr[4], "I", `w1 must stay valid: ${w1}`);
      assert.ok(Number(size) > 32, `w1 must have been extended: ${w1}`);
      const log1 = await m.sh("journalctl -u rootsnap-watch1 -o cat --no-pager");
      assert.match(log1, /extended vg0\/root-w1 by/);

      const prom = await m.readFile(METRICS);
      assert.match(prom.toString(), /rootsnap_snapshot_used_percent\{set="w1"/);
      const tool = promtool();
      if (tool !== undefined) {
        const r = spawnSync(tool, ["check", "metrics"], { input: prom, encoding: "utf8" });
        assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
      }

      // No room in the VG: the watchdog removes the set before it overflows, and says so.
      await m.sh(
        "systemctl stop rootsnap-watch1 && rootsnap remove w1 --yes && rm -f /root/burst* && sync",
      );
      await m.sh(`rootsnap create w2 --size 32M && lvcreate -y -l 100%FREE -n filler ${vg}`);
      await watchdog(m, "rootsnap-watch2");
      await m.sh(BURST(30), { timeoutMs: 600_000 });
      const after = await m.sh(`sleep 4; lvs -a --noheadings -o lv_name,lv_attr ${vg}`);
      assert.doesNotMatch(after, /root-w2/, `w2 must be gone: ${after}`);
      assert.ok(
        after.split("\n").every((l) => l.trim().split(/\s+/)[1]?.[4] !== "I"),
        `no invalid snapshot: ${after}`,
      );
      const warned = await m.sh("journalctl -u rootsnap-watch2 -p warning -o cat --no-pager");
      assert.match(warned, /set w2: .* removed the set before it overflowed/);
      await m.sh("systemctl stop rootsnap-watch2");
    });
  },
);
