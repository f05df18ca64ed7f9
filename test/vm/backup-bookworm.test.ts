// Backups on bookworm-simple (/ on one thick LV, ext4): the whole cycle, the
// interruptions, the fill-level stop, and every bad input and fault.
import { test } from "node:test";
import { stepLog, vmSkip, withMachine } from "./rig/index.ts";
import { backupScenario } from "./scenarios/backup-flow.ts";

test(
  "backups on bookworm-simple: cycle, SIGINT, fill-level stop, faults",
  { skip: vmSkip(), timeout: 40 * 60_000 },
  async () => {
    const layout = {
      volumes: ["vg0/root"],
      vg: "vg0",
      fixtureDirs: ["/root/rstest"],
      fillDir: "/root",
      fillOrigin: "vg0/root",
      restoreSize: "3G",
      compress: "zstd" as const,
    };
    const say = stepLog("backup-bookworm");
    // vdb holds the archives; vdc is the small disk that fills up.
    await withMachine("bookworm-simple", (m) => backupScenario(m, layout, say, true), {
      extraDisksGiB: [4, 1],
    });
  },
);
