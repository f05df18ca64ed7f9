// `npm run bench`: start-up cost of the bundle against bare Node on this machine.
// A fake `lvs` on PATH prints a report of 200 LVs made from a recorded one; each
// command runs several times, interleaved, and the medians are compared.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stepLog } from "../vm/rig/log.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const BUNDLE = join(REPO, "dist", "rootsnap.mjs");
const RUNS = 21;
const LV_COUNT = 200;
const BARS = { list: 1.5, version: 1.3 };

type Row = Record<string, string>;

/** The first recorded lvs report with sets in it, else the hand-written sample. */
function baseReport(): string {
  const fixtures = join(REPO, "test", "fixtures");
  const recorded = existsSync(fixtures)
    ? readdirSync(fixtures, { recursive: true, encoding: "utf8" })
        .filter((path) => /\/(sets|snapshots)\/lvs\.json$/.test(path))
        .sort()
    : [];
  const first = recorded[0];
  if (first !== undefined) return join(fixtures, first);
  return join(
    REPO,
    "test",
    "unit",
    "samples",
    "handwritten-lvm2-2.03.16",
    "two-vgs",
    "sets",
    "lvs.json",
  );
}

/** Copies the report's rows, renamed, until there are `count` LVs in sets of two. */
function inflate(path: string, count: number): string {
  const document = JSON.parse(readFileSync(path, "utf8")) as { report: { lv: Row[] }[] };
  const rows = document.report[0]?.lv ?? [];
  const lvs: Row[] = [];
  for (let index = 0; lvs.length < count; index += 1) {
    const row = rows[index % rows.length] ?? {};
    const copy = Math.floor(index / rows.length);
    const tags = row.lv_tags?.includes("rootsnap.set=")
      ? `rootsnap,rootsnap.set=bench${copy % 50}`
      : "";
    lvs.push({
      ...row,
      lv_name: `${row.lv_name ?? "lv"}-${copy}`,
      lv_uuid: `bench-${index}`,
      lv_tags: tags,
    });
  }
  return JSON.stringify({ report: [{ lv: lvs }] }, null, 2);
}

function fakeLvmDir(report: string): string {
  const dir = mkdtempSync(join(tmpdir(), "rootsnap-bench-"));
  writeFileSync(join(dir, "lvs.json"), report);
  writeFileSync(join(dir, "lvs"), `#!/bin/sh\nexec cat '${join(dir, "lvs.json")}'\n`);
  chmodSync(join(dir, "lvs"), 0o755);
  return dir;
}

function timeOnce(argv: readonly string[], env: NodeJS.ProcessEnv): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, argv, { env, stdio: ["ignore", "pipe", "pipe"] });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) {
    throw new Error(`node ${argv.join(" ")} exited ${result.status}: ${result.stderr.toString()}`);
  }
  return elapsed;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const fakeBin = fakeLvmDir(inflate(baseReport(), LV_COUNT));
// Installed without an extension, as the README installs it (loaded as CommonJS).
const installed = join(fakeBin, "rootsnap");
copyFileSync(BUNDLE, installed);
const env = { ...process.env, PATH: `${fakeBin}:${process.env.PATH ?? ""}` };
const commands = {
  node: ["-e", "0"],
  version: [BUNDLE, "--version"],
  list: [BUNDLE, "list"],
  installedList: [installed, "list"],
};
const times: Record<keyof typeof commands, number[]> = {
  node: [],
  version: [],
  list: [],
  installedList: [],
};
const listed = spawnSync(process.execPath, commands.list, { env }).stdout.toString();
for (let run = 0; run < RUNS + 1; run += 1) {
  for (const [name, argv] of Object.entries(commands) as [keyof typeof commands, string[]][]) {
    const elapsed = timeOnce(argv, env);
    // The first round only warms the disk cache.
    if (run > 0) times[name].push(elapsed);
  }
}
const base = median(times.node);
let failed = false;
process.stdout.write(
  `rootsnap bench: ${RUNS} runs each, medians; list shows ${listed.split("\n").length - 2} rows of ${LV_COUNT} LVs\n`,
);
process.stdout.write(`node -e 0             ${base.toFixed(1)} ms\n`);
for (const name of ["version", "list"] as const) {
  const ratio = median(times[name]) / base;
  const ok = ratio <= BARS[name];
  failed ||= !ok;
  const label = name === "version" ? "rootsnap --version" : "rootsnap list";
  process.stdout.write(
    `${label.padEnd(21)} ${median(times[name]).toFixed(1)} ms  ${ratio.toFixed(2)}x  (bar ${BARS[name]}x) ${ok ? "ok" : "OVER"}\n`,
  );
}
const installedRatio = median(times.installedList) / base;
process.stdout.write(
  `installed list        ${median(times.installedList).toFixed(1)} ms  ${installedRatio.toFixed(2)}x  (no extension; for information)\n`,
);
{
  const { benchPrune, PRUNE_BAR_MS } = await import("./prune.ts");
  const p = benchPrune();
  const ok = p.pruneMs <= PRUNE_BAR_MS;
  failed ||= !ok;
  process.stdout.write(
    `prune, 1000 sets      ${p.pruneMs.toFixed(2)} ms  ${(p.pruneMs / p.baselineMs).toFixed(1)}x a plain sort by age (${p.baselineMs.toFixed(2)} ms); ${p.removed} would go  (bar ${PRUNE_BAR_MS} ms) ${ok ? "ok" : "OVER"}\n`,
  );
}
// The backup bench needs a VM; it runs only where VM tests can.
// `npm run bench -- --no-vm` runs only the benches above; `--vm backup` or `--vm boot` one VM bench.
const { vmSkipReason } = await import("../vm/rig/index.ts");
const args = process.argv.slice(2);
const onlyVm = args.includes("--vm") ? args[args.indexOf("--vm") + 1] : undefined;
const noVm = args.includes("--no-vm") ? "--no-vm given" : vmSkipReason();
if (noVm === undefined) {
  if (onlyVm === undefined || onlyVm === "backup") {
    const { benchBackup, reportBackupBench } = await import("./backup.ts");
    const ok = reportBackupBench(await benchBackup(), (text) => process.stdout.write(text));
    failed ||= !ok;
  }
  if (onlyVm === undefined || onlyVm === "boot") {
    const { benchBoot, reportBootBench } = await import("./boot.ts");
    const boot = await benchBoot(stepLog("bench boot"));
    // Reported first: `failed ||= report()` would skip the report once a bench above failed.
    const ok = reportBootBench(boot, (text) => process.stdout.write(text));
    failed ||= !ok;
  }
} else {
  process.stdout.write(`backup bench skipped: ${noVm}\n`);
  process.stdout.write(`boot bench skipped: ${noVm}\n`);
}
process.exitCode = failed ? 1 : 0;
