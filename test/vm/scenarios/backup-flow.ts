// Backups on a booted system: files with every property tar must keep, a backup taken
// while the origin is written, a restore into a fresh LV compared entry by entry with
// the snapshot, and the ways a backup must stop without leaving anything behind.
import assert from "node:assert/strict";
import { installRootsnap } from "../rig/index.ts";
import type { Machine } from "../rig/machine.ts";
import type { GuestResult } from "../rig/qga.ts";

export type Say = (step: string) => void;

/**
 * A manifest of a tree that catches any difference tar could make: type, owner, mode,
 * link count (of files; a directory's counts its subdirectories, excluded ones too),
 * mtime, device numbers, size, contents (md5: cheap, and no adversary here), ACLs and
 * every xattr (file capabilities are security.capability). The default excludes'
 * contents are left out.
 */
const TREE_MANIFEST = String.raw`#!/bin/sh
set -e
cd "$1"
list=$(mktemp); files=$(mktemp)
find . \( -path './proc/*' -o -path './sys/*' -o -path './dev/*' -o -path './run/*' \
  -o -path './tmp/*' -o -path './mnt/*' -o -path './media/*' -o -name lost+found \
  -o -path './var/cache/apt/archives/*.deb' \) -prune -o -print0 | LC_ALL=C sort -z > "$list"
echo '== stat'
xargs -0 -r stat -c '%n|%F|%u|%g|%a|%h|%Y|%t:%T|%s' < "$list" |
  awk -F'|' 'BEGIN{OFS="|"} $2=="directory"{$6="-"; $9="-"} {print}'
echo '== md5'
find . \( -path './proc/*' -o -path './sys/*' -o -path './dev/*' -o -path './run/*' \
  -o -path './tmp/*' -o -path './mnt/*' -o -path './media/*' -o -name lost+found \
  -o -path './var/cache/apt/archives/*.deb' \) -prune -o -type f -print0 | LC_ALL=C sort -z > "$files"
xargs -0 -r md5sum -- < "$files"
echo '== acl'
xargs -0 -r getfacl -P -n -- < "$list" 2>/dev/null
echo '== xattr'
xargs -0 -r getfattr -h -d -m - -e hex -- < "$list" 2>/dev/null
rm -f "$list" "$files"
`;

/** Files with each property a full-system archive must keep, made in DIR on the origin. */
function fixtureScript(dir: string): string {
  return `set -e
mkdir -p ${dir} && cd ${dir}
head -c 3000000 /dev/urandom > data.bin
printf 'owned\\n' > owned && chown 1234:5678 owned && chmod 4750 owned
printf 'acl\\n' > acl && setfacl -m u:1234:rwx,g:5678:r acl
mkdir acldir && setfacl -d -m u:1234:rx acldir && setfacl -m u:4321:rwx acldir
printf 'x\\n' > xattr && setfattr -n user.rootsnap -v hello xattr && setfattr -n trusted.rootsnap -v secret xattr
cp /bin/true cap && setcap cap_net_raw,cap_net_admin+ep cap
printf 'linked\\n' > link1 && ln link1 link2 && mkdir sub && ln link1 sub/link3
truncate -s 1G sparse && printf 'middle' | dd of=sparse bs=1 seek=500000000 conv=notrunc status=none
mknod chardev c 1 3 && mknod blockdev b 7 42 && mkfifo fifo
ln -s data.bin symlink
printf 'space\\n' > 'a name with spaces' && printf 'nl\\n' > "$(printf 'new\\nline')"
touch -h -d '2001-02-03 04:05:06' symlink owned
sync`;
}

export interface BackupLayout {
  /** Origins of the set, "vg/lv". */
  readonly volumes: readonly string[];
  readonly vg: string;
  /** Where fixtures go: one directory per file system of the set. */
  readonly fixtureDirs: readonly string[];
  /** The origin file system the fill-level test writes to, and its snapshot's origin. */
  readonly fillDir: string;
  readonly fillOrigin: string;
  readonly restoreSize: string;
  /** The main backup's compression: both kinds are restored somewhere. */
  readonly compress: "zstd" | "none";
}

function volumeArgs(layout: BackupLayout): string {
  return layout.volumes.map((v) => `--volume ${v}`).join(" ");
}

function snapshotOf(origin: string, set: string): string {
  return `${origin}-${set}`;
}

/** What must hold after any backup ends: nothing below /run/rootsnap, no temporary set. */
export async function assertNothingLeft(m: Machine, note: string): Promise<void> {
  const left = await m.sh(
    "grep ' /run/rootsnap' /proc/self/mountinfo || true; lvs --noheadings -o lv_name -S 'lv_name=~backup-' || true; " +
      "ls -A /backup | grep partial || true; pgrep -x tar || true",
  );
  assert.equal(left.trim(), "", `${note}: something was left behind:\n${left}`);
}

export async function prepareGuest(m: Machine, layout: BackupLayout): Promise<void> {
  await m.writeFile("/usr/local/bin/treemf", TREE_MANIFEST, 0o755);
  await m.sh(
    "mkfs.ext4 -q -L backup /dev/vdb && mkdir -p /backup && mount /dev/vdb /backup && " +
      layout.fixtureDirs.map((dir) => `(${fixtureScript(dir)})`).join(" && "),
    { timeoutMs: 180_000 },
  );
}

export function expectCode(r: GuestResult, code: number, what: string, pattern?: RegExp): void {
  const detail = `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, code, detail);
  if (pattern) assert.match(r.stderr, pattern, detail);
  if (code !== 0) {
    // Under script(1) the terminal carries stderr too, into stdout.
    const said = r.stderr.trim() === "" ? r.stdout.replace(/\r/g, "") : r.stderr;
    const lines = said.trim().split("\n");
    assert.match(lines.at(-1) ?? "", /^rootsnap: error: /, `${detail}\n(one error line)`);
  }
}

/**
 * Backup of a set while the origin is written, restore into a fresh LV, and a manifest
 * diff of the snapshot's tree against the restored one.
 */
export async function backupRestoreCycle(
  m: Machine,
  layout: BackupLayout,
  say: Say,
): Promise<{ entries: number; archiveBytes: number; seconds: number }> {
  say("create set base, then mount it and take the reference manifest of the snapshot");
  await m.sh(`rootsnap create base ${volumeArgs(layout)} --size 1G`);
  const dir = (await m.sh("rootsnap mount base")).trim();
  assert.equal(dir, "/run/rootsnap/base");
  const mountsSeen = await m.sh("grep ' /run/rootsnap/base' /proc/self/mountinfo");
  assert.match(mountsSeen, / ro,/, "mounted read-only");
  await m.sh("treemf /run/rootsnap/base > /backup/ref.mf", { timeoutMs: 300_000 });
  const again = await m.shResult("rootsnap mount base /mnt");
  expectCode(again, 65, "mounting a mounted set", /already mounted at \/run\/rootsnap\/base/);
  await m.sh("rootsnap umount base");
  await assertNothingLeft(m, "umount");

  const archive = layout.compress === "zstd" ? "/backup/base.tar.zst" : "/backup/base.tar";
  say(`back up set base (--compress ${layout.compress}) while files are written on the origin`);
  await m.spawn(
    `i=0; while [ ! -e /tmp/stop-writer ]; do i=$((i+1)); ` +
      layout.fixtureDirs
        .map(
          (d) =>
            `dd if=/dev/zero of=${d}/churn.$((i % 4)) bs=1M count=2 conv=fsync status=none; echo changed > ${d}/owned; sleep 0.5`,
        )
        .join("; ") +
      `; done; echo done > /tmp/writer-ended`,
  );
  const started = Date.now();
  const r = await m.shResult(`rootsnap backup base --compress ${layout.compress} --to ${archive}`, {
    timeoutMs: 600_000,
  });
  const seconds = (Date.now() - started) / 1000;
  await m.sh(
    "touch /tmp/stop-writer; for i in $(seq 50); do [ -e /tmp/writer-ended ] && break; sleep 0.2; done",
  );
  expectCode(r, 0, "backup base");
  assert.match(r.stderr, /backup of set base in \/backup\/base\.tar\S*: \d+ entries/);
  const perms = await m.sh(
    `stat -c '%a %U' ${archive} ${archive}.manifest.json; cat ${archive}.manifest.json`,
  );
  assert.match(perms, /^600 root\n600 root\n/, perms);
  const manifest = JSON.parse(perms.split("\n").slice(2).join("\n")) as {
    files: number;
    bytes: number;
    sha256: string;
    set: string;
    volumes: unknown[];
  };
  assert.equal(manifest.set, "base");
  assert.equal(manifest.volumes.length, layout.volumes.length);
  const sum = (await m.sh(`sha256sum ${archive}`)).split(" ")[0];
  assert.equal(sum, manifest.sha256, "the manifest's sha256 is the archive's");
  await assertNothingLeft(m, "backup base");

  say("backup --verify reads the archive and checks it against its manifest");
  const verified = await m.shResult(`rootsnap backup --verify ${archive}`, {
    timeoutMs: 300_000,
  });
  expectCode(verified, 0, "verify", /sha256 and entry count match/);

  say(`restore into a fresh LV (${layout.restoreSize}) and compare with the snapshot`);
  await m.sh(
    `lvcreate -q -y -L ${layout.restoreSize} -n restored ${layout.vg} && mkfs.ext4 -q /dev/${layout.vg}/restored && ` +
      `mkdir -p /mnt/restore && mount /dev/${layout.vg}/restored /mnt/restore`,
  );
  const restored = await m.shResult(`rootsnap restore ${archive} --to /mnt/restore`, {
    timeoutMs: 600_000,
  });
  expectCode(restored, 0, "restore");
  await m.sh("treemf /mnt/restore > /backup/restored.mf", { timeoutMs: 300_000 });
  const diff = await m.shResult("diff /backup/ref.mf /backup/restored.mf | head -40");
  assert.equal(diff.stdout, "", `the restored tree differs from the snapshot:\n${diff.stdout}`);
  const checks = await m.sh(
    layout.fixtureDirs
      .map(
        (d) =>
          `cd /mnt/restore${d} && getcap cap && du -k sparse | cut -f1 && stat -c '%h %t:%T %F' link1 chardev blockdev fifo && cat owned && grep -c ${d.slice(1)}/ /backup/ref.mf`,
      )
      .join("; "),
  );
  assert.match(checks, /cap cap_net_admin,cap_net_raw=ep/, checks);
  assert.match(
    checks,
    /\n3 0:0 regular file\n1 1:3 character special file\n1 7:2a block special file\n1 0:0 fifo\n/,
    checks,
  );
  assert.doesNotMatch(
    checks,
    /changed/,
    "the archive holds the snapshot's files, not later writes",
  );
  const sparseKiB = Number(checks.split("\n")[1]);
  assert.ok(sparseKiB < 1024, `the sparse file stays sparse (${sparseKiB} KiB allocated)`);
  const entries = Number((await m.sh("grep -c '^' /backup/ref.mf")).trim());
  await m.sh(
    `umount /mnt/restore && lvremove -q -y ${layout.vg}/restored && rootsnap remove base --yes`,
  );
  return { entries, archiveBytes: manifest.bytes, seconds };
}

/** Signals the running `rootsnap backup` (node's command line; not the shells around it). */
export function signalRootsnap(signal: string): string {
  return `pkill -${signal} -f '^/usr/bin/node /usr/bin/rootsnap backup'`;
}

/** Starts rootsnap backup in the background, waits until its tree is mounted. */
export async function startBackup(m: Machine, args: string, tag: string): Promise<void> {
  await m.sh(
    `(rootsnap backup ${args} > /tmp/${tag}.out 2> /tmp/${tag}.err; echo $? > /tmp/${tag}.rc) < /dev/null > /dev/null 2>&1 & ` +
      `for i in $(seq 150); do grep -q ' /run/rootsnap/' /proc/self/mountinfo && pgrep -x tar > /dev/null && exit 0; sleep 0.2; done; cat /tmp/${tag}.err; exit 1`,
    { timeoutMs: 120_000 },
  );
}

export async function waitBackup(m: Machine, tag: string): Promise<GuestResult> {
  const out = await m.sh(
    `for i in $(seq 600); do [ -s /tmp/${tag}.rc ] && break; sleep 0.2; done; cat /tmp/${tag}.rc; echo ---; cat /tmp/${tag}.err`,
    { timeoutMs: 180_000 },
  );
  const [rc = "", err = ""] = out.split("---\n");
  return { code: Number(rc.trim()), stdout: "", stderr: err };
}

/** A backup of a temporary set interrupted with SIGINT leaves no snapshot and no mount. */
export async function interruptTemporary(
  m: Machine,
  layout: BackupLayout,
  say: Say,
): Promise<void> {
  say("SIGINT to a backup of a temporary set");
  await startBackup(m, `${volumeArgs(layout)} --size 512M --to /backup/int.tar.zst`, "int");
  await m.sh(`sleep 1; ${signalRootsnap("INT")}`);
  const r = await waitBackup(m, "int");
  expectCode(r, 1, "interrupted backup", /interrupted \(SIGINT\)/);
  say(`rootsnap said: ${r.stderr.trim().split("\n").slice(-2).join(" | ")}`);
  await assertNothingLeft(m, "SIGINT");
  assert.equal((await m.sh("ls -A /backup | grep int || true")).trim(), "", "no partial archive");
}

/**
 * A snapshot filled almost up while the backup runs: a warning at 80 %, and a clean
 * stop at 95 % that says how to give it room, before it becomes invalid.
 */
export async function fillStop(m: Machine, layout: BackupLayout, say: Say): Promise<void> {
  const snap = snapshotOf(layout.fillOrigin, "small");
  say(`fill-level stop: ${snap} is 64M, filled to 88 %, then written on during the backup`);
  await m.sh(`rootsnap create small ${volumeArgs(layout)} --size 64M`);
  await m.sh(
    `i=0; while [ "$(lvs --noheadings -o snap_percent ${snap} | tr -d ' ' | cut -d. -f1)" -lt 88 ]; do ` +
      `i=$((i+1)); dd if=/dev/urandom of=${layout.fillDir}/prefill.$i bs=1M count=2 conv=fsync status=none; done`,
    { timeoutMs: 120_000 },
  );
  await startBackup(m, "small --to /backup/small.tar.zst", "fill");
  // The writer stops when rootsnap has ended or at 97 %: what a busy system writes after
  // rootsnap has stopped is not rootsnap's to prevent, and two emulated machines on two
  // cores delay both the writer and rootsnap's readings by seconds.
  await m.spawn(
    `i=0; while [ ! -s /tmp/fill.rc ] && [ $i -lt 400 ] && ` +
      `[ "$(lvs --noheadings -o snap_percent ${snap} | tr -d ' ' | cut -d. -f1)" -lt 97 ]; do ` +
      `i=$((i+1)); dd if=/dev/urandom of=${layout.fillDir}/trickle.$i bs=256K count=2 conv=fsync status=none; sleep 0.3; done`,
  );
  const r = await waitBackup(m, "fill");
  expectCode(r, 73, "fill-level stop", new RegExp(`lvextend -L \\+1G ${snap}`));
  assert.match(r.stderr, /warning: .* is \d+% full/, r.stderr);
  say(
    `rootsnap said: ${r.stderr
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("rootsnap:"))
      .join(" | ")}`,
  );
  const attr = (await m.sh(`lvs --noheadings -o lv_attr ${snap}`)).trim();
  assert.match(attr, /^s...a/, `the snapshot is still valid: ${attr}`);
  await assertNothingLeft(m, "fill stop");
  assert.equal((await m.sh("ls -A /backup | grep small || true")).trim(), "", "no partial archive");
  await m.sh(
    `rootsnap remove small --yes; rm -f ${layout.fillDir}/prefill.* ${layout.fillDir}/trickle.*`,
  );
}

/** Bad inputs and faults: each a one-line error, the contract's exit code, nothing left. */
export async function faults(m: Machine, say: Say): Promise<void> {
  say("bad inputs: unknown set, missing directory, destination inside the tree, a terminal");
  expectCode(
    await m.shResult("rootsnap backup nosuchset --to /backup/x.tar.zst"),
    65,
    "unknown set",
    /no set named nosuchset/,
  );
  expectCode(
    await m.shResult("rootsnap backup --to /backup/missing/x.tar.zst"),
    65,
    "missing directory",
    /destination directory \/backup\/missing does not exist/,
  );
  expectCode(
    await m.shResult("rootsnap backup --to /root/x.tar.zst"),
    65,
    "destination inside the tree",
    /inside the backed-up tree/,
  );
  expectCode(
    await m.shResult("script -qec 'rootsnap backup --to -' /dev/null < /dev/null"),
    64,
    "archive to a terminal",
  );
  expectCode(await m.shResult("rootsnap backup --to"), 64, "--to without a value");
  await assertNothingLeft(m, "bad inputs");
  assert.equal((await m.sh("ls /root/x.tar.zst 2>/dev/null || true")).trim(), "");

  say("a set mounted elsewhere is refused by backup and mount");
  await m.sh(
    "rootsnap create held --size 1G && mkdir -p /mnt/elsewhere && rootsnap mount held /mnt/elsewhere",
  );
  expectCode(
    await m.shResult("rootsnap backup held --to /backup/held.tar.zst"),
    65,
    "set mounted elsewhere",
    /already mounted at \/mnt\/elsewhere/,
  );
  await m.sh(
    "rootsnap umount held && test -d /mnt/elsewhere && ! grep -q /mnt/elsewhere /proc/self/mountinfo",
  );

  say("a full destination disk: no space error, the partial archive removed");
  await m.sh(
    // A few MiB left: the archive fills them within seconds, not after a third of the root.
    "mkfs.ext4 -q -m 0 /dev/vdc && mkdir -p /small && mount /dev/vdc /small && fallocate -l $(( $(df --output=avail -B1 /small | tail -n 1) - 8 * 1024 * 1024 )) /small/filler",
  );
  const full = await m.shResult("rootsnap backup held --to /small/held.tar.zst", {
    timeoutMs: 300_000,
  });
  expectCode(full, 73, "full destination", /no space left on the file system of \/small/);
  assert.equal((await m.sh("ls -A /small")).trim(), "filler\nlost+found", "no partial archive");
  await assertNothingLeft(m, "full destination");

  say("a pipe: --to - streams the archive to another program");
  const piped = await m.sh(
    "rootsnap backup held --to - -q --exclude './usr/*' --exclude './var/*' | zstd -dc | tar -tf - | grep -c -x -e ./etc/hostname -e ./etc/ -e ./usr/ -e ./usr/bin/",
    { timeoutMs: 300_000 },
  );
  assert.equal(piped.trim(), "3", "/etc/hostname, /etc/ and /usr/ but nothing below /usr");

  say("kill -9 mid-backup: what is left, and rootsnap umount/remove clean it up");
  await startBackup(m, "--to /backup/killed.tar.zst", "kill");
  await m.sh(
    `sleep 1; ${signalRootsnap("KILL")}; for i in $(seq 50); do pgrep -x tar >/dev/null || break; sleep 0.2; done`,
  );
  const left = await m.sh(
    "grep -o ' /run/rootsnap/[^ ]*' /proc/self/mountinfo; lvs --noheadings -o lv_name -S 'lv_name=~backup-'; ls -A /backup",
  );
  say(`left after kill -9: ${left.trim().replace(/\s+/g, " ")}`);
  const name = /\/run\/rootsnap\/(backup-\S+)/.exec(left)?.[1];
  assert.ok(name, `the killed backup's tree is still mounted:\n${left}`);
  await m.sh(`rootsnap umount ${name} && rootsnap remove ${name} --yes`);
  await m.sh("rm -f /backup/.killed.tar.zst.partial-*");
  await assertNothingLeft(m, "after umount and remove");
  await m.sh("rootsnap remove held --yes");
}

/** The scenario on one booted machine: the cycle, SIGINT, the fill-level stop, and faults. */
export async function backupScenario(
  m: Machine,
  layout: BackupLayout,
  say: Say,
  withFaults: boolean,
): Promise<void> {
  // ROOTSNAP_BACKUP_PARTS=faults (a comma list of cycle,sigint,fill,faults) runs only those.
  const parts = (process.env.ROOTSNAP_BACKUP_PARTS ?? "cycle,sigint,fill,faults").split(",");
  await installRootsnap(m);
  await prepareGuest(m, layout);
  if (parts.includes("cycle")) {
    const cycle = await backupRestoreCycle(m, layout, say);
    const mib = (cycle.archiveBytes / 2 ** 20).toFixed(0);
    say(
      `cycle: ${cycle.entries} manifest lines equal; archive ${mib} MiB in ${cycle.seconds.toFixed(1)} s`,
    );
  }
  if (parts.includes("sigint")) await interruptTemporary(m, layout, say);
  if (parts.includes("fill")) await fillStop(m, layout, say);
  if (withFaults && parts.includes("faults")) await faults(m, say);
}
