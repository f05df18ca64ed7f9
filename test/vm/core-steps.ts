// Steps the core scenarios share: running rootsnap in the guest and checking its
// answers against the command-line contract.
import assert from "node:assert/strict";
import { installRootsnap, type Machine } from "./rig/index.ts";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface VolumeJson {
  origin: string;
  snapshot: string;
  used_percent: number | null;
  state: string;
}

export interface SetJson {
  name: string;
  kind: string;
  created: string;
  volumes: VolumeJson[];
}

/** trixie-split's / and /var as one set. */
export const SPLIT_CONFIG = `[defaults]
size = "20%ORIGIN"

[[volumes]]
lv = "sysvg/root"
size = "1G"

[[volumes]]
lv = "sysvg/var"
`;

/** rootsnap installed as a user would, with `config` as /etc/rootsnap/rootsnap.toml. */
export async function installConfigured(m: Machine, config: string): Promise<void> {
  await installRootsnap(m);
  await m.sh("mkdir -p /etc/rootsnap");
  await m.writeFile("/etc/rootsnap/rootsnap.toml", config);
}

export async function rootsnap(m: Machine, args: string): Promise<CliResult> {
  const r = await m.shResult(`rootsnap ${args} </dev/null`, { timeoutMs: 600_000 });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** Runs rootsnap with --json, expects exit 0 and one versioned document on stdout. */
export async function rootsnapJson<T>(m: Machine, args: string): Promise<T> {
  const r = await rootsnap(m, `--json ${args}`);
  assert.equal(r.code, 0, `rootsnap ${args}: ${r.stderr}`);
  const document = JSON.parse(r.stdout) as { version: number } & T;
  assert.equal(document.version, 1);
  return document;
}

/** The LV names of every VG, hidden ones included, to prove a refusal changed nothing. */
export async function allLvs(m: Machine): Promise<string> {
  return (await m.sh("lvs -a --noheadings -o vg_name,lv_name,lv_attr,lv_tags")).trim();
}

/** Expects a one-line error with `code` and no LV change. */
export async function refused(
  m: Machine,
  args: string,
  code: number,
  message: RegExp,
): Promise<void> {
  const before = await allLvs(m);
  const r = await rootsnap(m, args);
  assert.equal(r.code, code, `rootsnap ${args}: ${r.stderr}`);
  assert.equal(r.stdout, "", `rootsnap ${args} printed data`);
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, `one line: ${r.stderr}`);
  assert.match(r.stderr, message);
  assert.equal(await allLvs(m), before, `rootsnap ${args} changed LVM`);
}

export function checkSetContract(set: SetJson): void {
  assert.match(set.kind, /^(boot|manual|pre-update|scheduled)$/);
  assert.match(set.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.ok(set.volumes.length > 0);
  for (const volume of set.volumes) {
    assert.match(volume.origin, /^[^/]+\/[^/]+$/);
    assert.match(volume.snapshot, /^[^/]+\/[^/]+$/);
    assert.ok(volume.used_percent === null || typeof volume.used_percent === "number");
    assert.match(volume.state, /^(active|inactive|invalid|merging)$/);
  }
}

export async function listSets(m: Machine): Promise<SetJson[]> {
  const { sets } = await rootsnapJson<{ sets: SetJson[] }>(m, "list");
  for (const set of sets) checkSetContract(set);
  return sets;
}

export async function findSet(m: Machine, name: string): Promise<SetJson> {
  const set = (await listSets(m)).find((candidate) => candidate.name === name);
  assert.ok(set, `set ${name} is listed`);
  return set;
}

interface StatusJson {
  merges: { state: string }[];
  leftovers: string[];
  repair_due: boolean;
  sets: unknown[];
}

/**
 * After a reboot that merged (no rootsnap-finish.service here): status only shows what is
 * left, rootsnap repair finishes it, and no snapshot remains.
 */
export async function checkMergeFinished(m: Machine, say: (s: string) => void): Promise<void> {
  say(`lvs before repair: ${(await allLvs(m)).replace(/\s+/g, " ")}`);
  const shown = await rootsnapJson<StatusJson>(m, "status");
  say(`status merges: ${JSON.stringify(shown.merges)}; repair due: ${String(shown.repair_due)}`);
  for (let attempt = 0; attempt < 30; attempt += 1) {
    const again = await rootsnapJson<StatusJson>(m, "status");
    if (again.merges.length === 0 && again.leftovers.length === 0) break;
    // While lvm's own poller works on a merge no repair is due: wait for it.
    if (again.repair_due) {
      const repaired = await rootsnapJson<{ merges: { state: string }[]; commands: string[] }>(
        m,
        "repair",
      );
      say(
        `repair merges: ${JSON.stringify(repaired.merges)}; ran ${JSON.stringify(repaired.commands)}`,
      );
    } else {
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
  const final = await rootsnapJson<StatusJson>(m, "status");
  assert.deepEqual(final.merges, [], "no merge is left pending");
  assert.equal(final.repair_due, false, "no repair is due any more");
  assert.doesNotMatch(await allLvs(m), /^\s*\S+\s+\S+\s+[OS]/m, "no merging LV is left");
}
