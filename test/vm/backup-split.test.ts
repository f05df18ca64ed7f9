// Backups on trixie-split (/ ext4 and /var XFS on two LVs, /boot on a partition): one
// archive of both snapshots mounted as one tree, restored and compared.
import { test } from "node:test";
import { stepLog, vmSkip, withMachine } from "./rig/index.ts";
import { backupScenario } from "./scenarios/backup-flow.ts";

test(
  "backups on trixie-split: ext4 and XFS in one tree, SIGINT, fill-level stop",
  { skip: vmSkip(), timeout: 40 * 60_000 },
  async () => {
    const layout = {
      volumes: ["sysvg/root", "sysvg/var"],
      vg: "sysvg",
      fixtureDirs: ["/root/rstest", "/var/rstest"],
      fillDir: "/var",
      fillOrigin: "sysvg/var",
      restoreSize: "3G",
      compress: "none" as const,
    };
    const say = stepLog("backup-split");
    await withMachine("trixie-split", (m) => backupScenario(m, layout, say, false), {
      extraDisksGiB: [4],
    });
  },
);
