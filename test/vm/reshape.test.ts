// On bookworm-simple (/ on vg0/root, free space in vg0): rootsnap's lock is a flock(2)
// lock on /run/rootsnap.lock. While another process holds it, status, status --json and
// list answer at once and change nothing, and create --wait 0 gives up with exit 75; once
// the holder is killed, create works at once although the lock file stays. A rootsnap
// killed with SIGKILL in the middle of a backup leaves no stale lock behind. -v shows the
// argv of each program of the backup's pipeline, and -v --dry-run create the lvcreate it
// would run. Messages carry <N> priority prefixes into the journal, never into a pipe.
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { installRootsnap, stepLog, vmSkip, withMachine, type Machine } from "./rig/index.ts";
import type { GuestResult } from "./rig/qga.ts";
import {
  assertNothingLeft,
  expectCode,
  signalRootsnap,
  startBackup,
} from "./scenarios/backup-flow.ts";

const LOCK = "/run/rootsnap.lock";
/** The set that exists throughout, so status and list have something to print. */
const KEPT = "keep";
/** What a reading verb may take with the lock held by another process. */
const READ_LIMIT_MS = 10_000;

const say = stepLog("reshape");

interface ListJson {
  sets: { name: string; kind: string; temporary?: boolean }[];
}

interface Timed extends GuestResult {
  /** Milliseconds the command took, measured in the guest. */
  ms: number;
}

/** Runs a command in the guest and measures it there (the agent's polling adds to it here). */
async function timed(m: Machine, command: string, timeoutMs = 120_000): Promise<Timed> {
  const r = await m.shResult(
    `s=$(date +%s%N); ${command}; rc=$?; e=$(date +%s%N); ` +
      `echo $(( (e - s) / 1000000 )) > /tmp/reshape-ms; exit $rc`,
    { timeoutMs },
  );
  return { ...r, ms: Number((await m.sh("cat /tmp/reshape-ms")).trim()) };
}

function details(what: string, r: GuestResult): string {
  return `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

async function setNames(m: Machine): Promise<string[]> {
  const r = await m.shResult("rootsnap list --json");
  expectCode(r, 0, "rootsnap list --json");
  return (JSON.parse(r.stdout) as ListJson).sets.map((set) => set.name);
}

/** The LVs and their tags: what any change of a set changes. */
function lvsTags(m: Machine): Promise<string> {
  return m.sh("lvs --noheadings -o lv_name,lv_tags");
}

/** Whether some process holds the lock: `flock -n` on a descriptor of its own fails then. */
async function lockHeld(m: Machine): Promise<boolean> {
  const r = await m.shResult(`flock -n ${LOCK} true`);
  if (r.code !== 0 && r.code !== 1) throw new Error(details(`flock -n ${LOCK} true`, r));
  return r.code === 1;
}

/**
 * A process of its own session that holds the lock with util-linux flock until killed; its
 * pid. bash opens the file on descriptor 9, flock(1) locks that open file, and bash then
 * becomes `sleep 600` keeping descriptor 9: one process holds the lock, so killing it ends
 * the lock (`flock FILE sleep 600` leaves it to sleep too when flock itself is killed).
 */
async function startHolder(m: Machine): Promise<number> {
  const out = await m.sh(
    `rm -f /tmp/holder.pid; setsid bash -c 'exec 9>>${LOCK} && flock 9 && echo $$ > /tmp/holder.pid && exec sleep 600' ` +
      "< /dev/null > /dev/null 2>&1 & " +
      `for i in $(seq 100); do [ -s /tmp/holder.pid ] && ! flock -n ${LOCK} true && cat /tmp/holder.pid && exit 0; sleep 0.1; done; ` +
      "echo 'the holder never took the lock' >&2; exit 1",
  );
  const pid = Number(out.trim());
  assert.ok(Number.isInteger(pid) && pid > 1, `the holder's pid: ${out}`);
  return pid;
}

/** kill -9 and wait until the process has ended (gone, or a zombie whose files are closed). */
async function killAndWait(m: Machine, pid: number): Promise<void> {
  await m.sh(
    `kill -9 ${pid}; for i in $(seq 100); do s=$(ps -o stat= -p ${pid}); ` +
      `if [ -z "$s" ] || [ "\${s#Z}" != "$s" ]; then exit 0; fi; sleep 0.1; done; ` +
      `echo "pid ${pid} is still there: $s" >&2; exit 1`,
  );
}

/**
 * The lock as a step that is not about a left-over lock file starts with it: held by no one
 * and its file gone, so what the step finds is its own doing and not an earlier step's.
 */
async function freshLock(m: Machine): Promise<void> {
  assert.equal(await lockHeld(m), false, `no process may hold ${LOCK} when this step starts`);
  await m.sh(`rm -f ${LOCK}`);
}

/** The argv lines -v printed ("+ ARGV") that run `program`, apart from probes of it. */
function tracedRuns(stderr: string, program: string): string[] {
  return stderr.split("\n").filter((line) => {
    if (!line.startsWith("+ ")) return false;
    const words = line.slice(2).split(" ");
    // After a prefix such as `setpriv --pdeathsig KILL --`.
    const at = words.findIndex((word) => word === program || word.endsWith(`/${program}`));
    if (at < 0) return false;
    const rest = words.slice(at + 1);
    return !(rest.length === 1 && (rest[0] === "--version" || rest[0] === "--help"));
  });
}

interface Shared {
  /** The lock's holder that step 1 started and step 2 kills. */
  holder?: number;
}

async function readersWhileHeld(m: Machine, shared: Shared, t: TestContext): Promise<void> {
  say(`another process holds ${LOCK} (util-linux flock)`);
  shared.holder = await startHolder(m);
  say(`holder: pid ${shared.holder}`);
  const before = await lvsTags(m);
  // One subtest per verb: a verb that waits for the lock does not hide what the next does.
  await t.test("status exits 0 at once and prints the sets", async () => {
    const r = await timed(m, "rootsnap status");
    say(`rootsnap status with the lock held: exit ${r.code} after ${r.ms} ms`);
    expectCode(r, 0, `rootsnap status while another process holds the lock (after ${r.ms} ms)`);
    assert.ok(
      r.ms < READ_LIMIT_MS,
      `rootsnap status took ${r.ms} ms (limit ${READ_LIMIT_MS} ms)\n${details("status", r)}`,
    );
    assert.match(r.stdout, new RegExp(`^${KEPT}\\s`, "m"), details("status prints the sets", r));
  });
  await t.test("status --json exits 0 at once and its JSON parses", async () => {
    const r = await timed(m, "rootsnap status --json");
    say(`rootsnap status --json with the lock held: exit ${r.code} after ${r.ms} ms`);
    expectCode(
      r,
      0,
      `rootsnap status --json while another process holds the lock (after ${r.ms} ms)`,
    );
    assert.ok(
      r.ms < READ_LIMIT_MS,
      `rootsnap status --json took ${r.ms} ms (limit ${READ_LIMIT_MS} ms)`,
    );
    let parsed: ListJson;
    try {
      parsed = JSON.parse(r.stdout) as ListJson;
    } catch (e) {
      assert.fail(`status --json printed no JSON (${(e as Error).message}):\n${r.stdout}`);
    }
    assert.ok(
      parsed.sets.some((set) => set.name === KEPT),
      `status --json lists set ${KEPT}:\n${r.stdout}`,
    );
  });
  await t.test("list exits 0", async () => {
    const r = await timed(m, "rootsnap list");
    say(`rootsnap list with the lock held: exit ${r.code} after ${r.ms} ms`);
    expectCode(r, 0, `rootsnap list while another process holds the lock (after ${r.ms} ms)`);
    assert.match(r.stdout, new RegExp(`^${KEPT}\\s`, "m"), details("list prints the sets", r));
  });
  await t.test("status, status --json and list changed no LV and no tag", async () => {
    assert.equal(await lvsTags(m), before, "lvs -o lv_name,lv_tags before and after");
  });
  await t.test("create --wait 0 exits 75 with one line that names the lock", async () => {
    const r = await timed(m, "rootsnap create x --size 512M --wait 0");
    say(`rootsnap create x --wait 0 with the lock held: exit ${r.code} after ${r.ms} ms`);
    say(`it said: ${r.stderr.trim()}`);
    expectCode(r, 75, "create --wait 0 while another process holds the lock", /lock/i);
    assert.equal(r.stderr.trim().split("\n").length, 1, details("one line on stderr", r));
    assert.equal(await lvsTags(m), before, "the refused create made nothing");
  });
  assert.equal(await lockHeld(m), true, "the holder still holds the lock");
}

async function createAfterHolderKilled(m: Machine, shared: Shared): Promise<void> {
  const holder = shared.holder ?? (await startHolder(m));
  shared.holder = undefined;
  say(`kill -9 the lock's holder (pid ${holder})`);
  await killAndWait(m, holder);
  assert.equal(await lockHeld(m), false, "the kernel released the killed holder's lock");
  const file = (await m.sh(`ls -l ${LOCK} 2>&1 || true`)).trim();
  say(`the lock file after the kill: ${file}`);

  const create = await timed(m, "rootsnap create x --size 512M --wait 0");
  say(`rootsnap create x --wait 0: exit ${create.code} after ${create.ms} ms`);
  expectCode(create, 0, "create --wait 0 after the holder was killed");
  assert.doesNotMatch(create.stderr, /waiting/, details("create did not wait", create));
  assert.ok((await setNames(m)).includes("x"), "list --json shows set x");

  const again = await timed(m, "rootsnap create x2 --size 512M --wait 0");
  say(`a second create, x2, with no one holding the lock: exit ${again.code} after ${again.ms} ms`);
  expectCode(again, 0, "a second create while no one holds the lock");
  assert.ok((await setNames(m)).includes("x2"), "list --json shows set x2");

  for (const name of ["x", "x2"]) {
    expectCode(await m.shResult(`rootsnap remove ${name} --yes`), 0, `remove ${name}`);
  }
  assert.deepEqual(await setNames(m), [KEPT], "x and x2 are gone");
}

async function killedBackupLeavesNoLock(m: Machine): Promise<void> {
  await freshLock(m);
  say("kill -9 a rootsnap backup of a temporary set while it holds the lock (tar runs)");
  await startBackup(m, "--to /backup/killed.tar.zst", "kill");
  const pid = Number(
    (await m.sh("pgrep -o -f '^/usr/bin/node /usr/bin/rootsnap backup'")).trim().split("\n")[0],
  );
  say(`rootsnap backup: pid ${pid}; lock held: ${String(await lockHeld(m))}`);
  await m.sh(
    `${signalRootsnap("KILL")}; for i in $(seq 50); do pgrep -x tar >/dev/null || break; sleep 0.2; done`,
  );
  await killAndWait(m, pid);
  assert.equal(await lockHeld(m), false, "no process holds the lock after the kill");

  const create = await timed(m, "rootsnap create y --size 512M --wait 0");
  say(`rootsnap create y --wait 0 right after the kill: exit ${create.code} after ${create.ms} ms`);
  assert.notEqual(create.code, 75, details("create after a killed rootsnap: a stale lock", create));
  expectCode(create, 0, "create y after the killed backup");

  const pruned = await m.shResult("rootsnap prune --yes --wait 0");
  say(`prune said: ${pruned.stdout.trim().replace(/\s+/g, " ")} ${pruned.stderr.trim()}`);
  expectCode(pruned, 0, "prune of the killed backup's temporary set");
  assert.match(pruned.stderr, /removed set backup-/, details("prune", pruned));
  assert.deepEqual((await setNames(m)).sort(), [KEPT, "y"], "only keep and y are left");
  expectCode(await m.shResult("rootsnap remove y --yes"), 0, "remove y");
  await m.sh("rm -f /backup/.killed.tar.zst.partial-*");
  await assertNothingLeft(m, "after the killed backup, create y and prune");
}

async function verbosePipeline(m: Machine): Promise<void> {
  await freshLock(m);
  say("rootsnap -v backup of a temporary set shows tar's, zstd's and sha256sum's argv");
  const archive = "/backup/verbose.tar.zst";
  const r = await m.shResult(
    `rootsnap -v backup --to ${archive} --exclude './usr/*' --exclude './var/*'`,
    { timeoutMs: 600_000 },
  );
  expectCode(r, 0, "rootsnap -v backup");
  const runs = {
    // The tar that makes the archive, not the probes before it.
    tar: tracedRuns(r.stderr, "tar").filter((line) =>
      /(^|\s)(--create|-[A-Za-z]*c[A-Za-z]*)(\s|$)/.test(line),
    ),
    zstd: tracedRuns(r.stderr, "zstd"),
    sha256sum: tracedRuns(r.stderr, "sha256sum"),
  };
  for (const [program, lines] of Object.entries(runs)) {
    say(`${program}: ${lines.length === 0 ? "(not shown)" : lines.join(" | ").slice(0, 300)}`);
  }
  const unseen = Object.entries(runs)
    .filter(([, lines]) => lines.length === 0)
    .map(([program]) => program);
  const lines = r.stderr.split("\n");
  assert.deepEqual(
    unseen,
    [],
    `-v shows no "+ " line for the pipeline's ${unseen.join(", ")}; the "+ " lines:\n` +
      `${lines.filter((line) => line.startsWith("+ ")).join("\n")}\n` +
      `the rest of stderr:\n${lines.filter((line) => !line.startsWith("+ ")).join("\n")}`,
  );
  await m.sh(`rm -f ${archive} ${archive}.manifest.json`);
  await assertNothingLeft(m, "after rootsnap -v backup");
}

async function verboseDryRun(m: Machine): Promise<void> {
  say("rootsnap -v --dry-run create z shows the lvcreate and makes nothing");
  const before = await lvsTags(m);
  const r = await m.shResult("rootsnap -v --dry-run create z --size 512M");
  expectCode(r, 0, "rootsnap -v --dry-run create z");
  const lvcreate = `${r.stdout}\n${r.stderr}`
    .split("\n")
    .map((line) => line.replace(/^\+ /, ""))
    .filter((line) => /^lvcreate\s/.test(line));
  say(`lvcreate shown: ${lvcreate.join(" | ")}`);
  assert.ok(
    lvcreate.some((line) => /\svg0\/root(\s|$)/.test(line)),
    details("the lvcreate argv of vg0/root's snapshot is shown", r),
  );
  assert.equal(await lvsTags(m), before, "a dry run changes no LV and no tag");
  assert.ok(!(await setNames(m)).includes("z"), "there is no set z");
}

/** The journal's record of one unit's messages: PRIORITY and MESSAGE of each line. */
async function journalOf(
  m: Machine,
  unit: string,
): Promise<{ PRIORITY: string; MESSAGE: string }[]> {
  const out = await m.sh(
    `journalctl --sync; journalctl -u ${unit} -o json --output-fields=PRIORITY,MESSAGE`,
  );
  return out
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as { PRIORITY: string; MESSAGE: string });
}

/** Runs one command as a oneshot service (the image has no D-Bus for systemd-run). */
async function runUnit(m: Machine, unit: string, command: string): Promise<void> {
  await m.sh(
    `printf '[Service]\\nType=oneshot\\nEnvironment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin\\nExecStart=%s\\n' "${command}" >/run/systemd/system/${unit}.service && systemctl daemon-reload && { systemctl start ${unit}.service || true; }`,
  );
}

async function journalPrefixes(m: Machine): Promise<void> {
  say("under systemd: an error in the journal has priority 3; through a pipe it has no <3>");
  // stderr is the journal stream itself: the line's priority comes from its <3> prefix.
  await runUnit(m, "rs-direct", "$(command -v rootsnap) show nosuchset");
  const direct = (await journalOf(m, "rs-direct")).find((e) =>
    e.MESSAGE.includes("no set named nosuchset"),
  );
  say(`direct: ${JSON.stringify(direct)}`);
  assert.ok(direct, "the error reached the journal");
  assert.equal(direct.PRIORITY, "3", "the error has priority err");
  assert.ok(direct.MESSAGE.startsWith("rootsnap: error:"), "the journal took the prefix off");
  // JOURNAL_STREAM is inherited, but a script captures stderr: no prefix may reach it.
  await runUnit(
    m,
    "rs-piped",
    "/bin/sh -c 'rootsnap show nosuchset 2>&1 | cat >/run/rs-piped.txt'",
  );
  const captured = await m.sh("cat /run/rs-piped.txt");
  say(`captured through a pipe: ${captured.trim()}`);
  assert.match(captured, /^rootsnap: error: no set named nosuchset/, "no <3> in the pipe");
}

test(
  "flock lock: readers while held, kill -9 of a holder and of rootsnap; -v of the pipeline, on bookworm-simple",
  { skip: vmSkip(), timeout: 30 * 60_000 },
  async (t: TestContext) => {
    // vdb holds the archives: not on a volume of the set.
    await withMachine(
      "bookworm-simple",
      async (m) => {
        await installRootsnap(m);
        await m.sh("mkfs.ext4 -q -L backup /dev/vdb && mkdir -p /backup && mount /dev/vdb /backup");
        await m.sh(`rootsnap create ${KEPT} --size 512M`);
        const shared: Shared = {};
        // Each step is a subtest, so one that fails does not hide what the next finds.
        await t.test(
          "1. status, status --json and list while another process holds the lock",
          (t1) => readersWhileHeld(m, shared, t1),
        );
        await t.test("2. create after the holder was killed with SIGKILL", () =>
          createAfterHolderKilled(m, shared),
        );
        await t.test("3. a rootsnap killed with SIGKILL while holding the lock leaves none", () =>
          killedBackupLeavesNoLock(m),
        );
        await t.test("4a. -v shows the backup pipeline's programs", () => verbosePipeline(m));
        await t.test("4b. -v --dry-run create shows the lvcreate and makes nothing", () =>
          verboseDryRun(m),
        );
        await t.test("5. <N> priority prefixes only into the journal itself", () =>
          journalPrefixes(m),
        );
      },
      { extraDisksGiB: [2] },
    );
  },
);
