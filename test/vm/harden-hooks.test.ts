// What must never stop an update or lose a set, on Debian 13 (trixie-split): apt installs a
// package although rootsnap.toml has a mistake or another rootsnap holds the lock; a set
// with a volume in a second VG survives prune while that VG's disk is away and is whole
// again when it is back; output into a closed pipe ends rootsnap without a stack trace.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Machine, stepLog, vmSkip, withMachine } from "./rig/index.ts";
import { findSet, installConfigured, refused, rootsnap, type SetJson } from "./core-steps.ts";

const say = stepLog("harden-hooks");

const CONFIG = '[defaults]\nsize = "256M"\n';
const BROKEN = '[defaults]\nsize = "256M"\ncolour = "red"\n';
const APT_HOOK = "/etc/apt/apt.conf.d/80rootsnap";

type SpanJson = SetJson & { missing: number; unavailable: number; absent_vgs: string[] };

/** A package with one file, built in the guest; returns the .deb's path. */
async function tinyDeb(m: Machine, name: string): Promise<string> {
  const root = `/root/deb-${name}`;
  await m.sh(`mkdir -p ${root}/DEBIAN ${root}/usr/share/${name}`);
  await m.writeFile(
    `${root}/DEBIAN/control`,
    `Package: ${name}\nVersion: 1.0\nArchitecture: all\nMaintainer: rootsnap tests <tests@example.invalid>\nDescription: a package for rootsnap's tests\n`,
  );
  await m.writeFile(`${root}/usr/share/${name}/payload`, `${name}\n`);
  await m.sh(`dpkg-deb -b ${root} /root/${name}.deb >/dev/null`);
  return `/root/${name}.deb`;
}

/** apt installs the package, and its output names why no set was taken, in one line. */
async function aptGoesOn(m: Machine, name: string, why: RegExp): Promise<void> {
  const deb = await tinyDeb(m, name);
  const r = await m.shResult(`DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${deb} 2>&1`, {
    timeoutMs: 300_000,
  });
  assert.equal(r.code, 0, `apt-get install failed:\n${r.stdout}`);
  const warnings = r.stdout.split("\n").filter((line) => /rootsnap: (warning|error)/.test(line));
  assert.equal(warnings.length, 1, r.stdout);
  assert.match(
    warnings[0] ?? "",
    /^rootsnap: warning: no pre-update set was taken: .*; the update goes on$/,
  );
  assert.match(warnings[0] ?? "", why);
  assert.equal(
    (await m.sh(`dpkg-query -W -f '\${Status}' ${name}`)).trim(),
    "install ok installed",
  );
}

async function aptWithBrokenConfig(m: Machine): Promise<void> {
  say("a mistake in rootsnap.toml: apt installs the package and says why no set was taken");
  await m.writeFile("/etc/rootsnap/rootsnap.toml", BROKEN);
  await aptGoesOn(m, "tiny-broken", /rootsnap\.toml:3: unknown key "colour"/);
  await m.writeFile("/etc/rootsnap/rootsnap.toml", CONFIG);
}

async function aptWhileLocked(m: Machine): Promise<void> {
  say("another rootsnap holds the lock past the hook's wait: apt goes on");
  // The holder is named rootsnap, writes its pid into the lock file and holds it with flock.
  await m.spawn(
    "exec flock /run/rootsnap.lock bash -c 'echo $$ > /run/rootsnap.lock; exec -a rootsnap sleep 300'",
  );
  await m.sh(
    "for i in $(seq 50); do pgrep -x -f 'rootsnap 300' && exit 0; sleep 0.2; done; exit 1",
  );
  await m.sh(
    `cp ${APT_HOOK} /root/80rootsnap && sed -i 's/ hook apt/ --wait 3 hook apt/' ${APT_HOOK}`,
  );
  try {
    await aptGoesOn(m, "tiny-locked", /another rootsnap \(pid \d+\) is running/);
  } finally {
    await m.sh(
      `mv /root/80rootsnap ${APT_HOOK}; pkill -x -f 'rootsnap 300'; sleep 0.5; rm -f /run/rootsnap.lock`,
    );
  }
}

async function spanSet(m: Machine): Promise<SpanJson> {
  return (await findSet(m, "away")) as SpanJson;
}

async function absentVg(m: Machine): Promise<void> {
  say("a set of / and an LV of a second VG; that VG's disk goes away; prune keeps the set");
  await m.sh(
    `truncate -s 1G /root/vg2.img && loop=$(losetup -f --show /root/vg2.img) &&
     pvcreate -q $loop && vgcreate -q vg2 $loop && lvcreate -q -y -L 200M -n data vg2`,
  );
  const made = await rootsnap(m, "create away --volume sysvg/root --volume vg2/data --size 128M");
  assert.equal(made.code, 0, made.stderr);
  const whole = await spanSet(m);
  assert.deepEqual(
    whole.volumes.map((volume) => volume.snapshot),
    ["sysvg/root-away", "vg2/data-away"],
  );
  await m.sh("vgchange -q -an vg2 && losetup -D");
  assert.doesNotMatch(await m.sh("lvs --noheadings -o vg_name"), /vg2/, "lvm no longer sees vg2");

  const pruned = await rootsnap(m, "prune --yes");
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, /away.*VG vg2 is absent: kept until lvm sees it again/);
  assert.equal((await m.shResult("lvs sysvg/root-away")).code, 0, "the snapshot of / is kept");
  const away = await spanSet(m);
  assert.deepEqual(
    [away.missing, away.unavailable, away.absent_vgs, away.volumes.map((v) => v.snapshot)],
    [0, 1, ["vg2"], ["sysvg/root-away"]],
  );
  await refused(
    m,
    "revert away --yes",
    65,
    /in VG vg2, which lvm does not see now.*connect the disk/,
  );

  say("the disk is back: the set is whole again");
  await m.sh("losetup -f /root/vg2.img && vgchange -q -ay vg2");
  const back = await spanSet(m);
  assert.deepEqual(
    [back.missing, back.unavailable, back.absent_vgs, back.volumes.map((v) => v.snapshot)],
    [0, 0, [], ["sysvg/root-away", "vg2/data-away"]],
  );
}

async function closedPipe(m: Machine): Promise<void> {
  say("rootsnap list into a pipe closed early: no stack trace");
  // `true` is gone before rootsnap writes; head -c 1 as a user would type it.
  const r = await m.sh(
    `bash -c 'rootsnap list 2>/root/e1 | head -c 1 >/dev/null; a=\${PIPESTATUS[0]}
              rootsnap list --json 2>/root/e2 | true; b=\${PIPESTATUS[0]}
              echo "codes=$a,$b"; cat /root/e1 /root/e2'`,
  );
  assert.equal(r.trim(), "codes=0,0", r);
}

test(
  "apt goes on whatever rootsnap meets; a VG away costs no set; a closed pipe no stack trace",
  { skip: vmSkip(), timeout: 20 * 60_000 },
  async () => {
    await withMachine("trixie-split", async (m) => {
      await installConfigured(m, CONFIG);
      await m.sh("rootsnap setup --yes </dev/null", { timeoutMs: 300_000 });
      assert.match(await m.sh(`cat ${APT_HOOK}`), /DPkg::Pre-Invoke/);
      await aptWithBrokenConfig(m);
      await aptWhileLocked(m);
      await absentVg(m);
      await closedPipe(m);
    });
  },
);
