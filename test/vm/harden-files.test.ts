// What rootsnap writes as root on Debian 13 with /boot on its own partition: the set's copy
// of /boot (initramfs, grub.cfg) is readable by root only, also where an older run left it
// readable; the watchdog's metrics file in a directory another user owns is written
// through none of the links that user plants. (A revert restoring /boot from the copy is
// boot-luks's, across reboots.)
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { stepLog, vmSkip, withMachine, type Machine } from "./rig/index.ts";
import { installConfigured, rootsnap, SPLIT_CONFIG } from "./core-steps.ts";

const say = stepLog("harden-files");

const COPIES = "/var/lib/rootsnap/boot";
const METRICS_DIR = "/srv/metrics";
const METRICS = `${METRICS_DIR}/rootsnap.prom`;
const USER = "rsuser";
const CONFIG = `${SPLIT_CONFIG}\n[watchdog]\nmetrics = "${METRICS}"\n`;

/**
 * The user plants links to a root-only file at the temporary names an older rootsnap used
 * (fixed, by pid: this shell's, which rootsnap keeps when the shell execs it) and at the
 * target itself; then root runs one pass of the watchdog.
 */
const PLANT_AND_WATCH = `#!/bin/sh
setpriv --reuid=${USER} --regid=${USER} --init-groups sh -c '
  for p in $(seq $(($1 - 20)) $(($1 + 20))); do
    ln -s /root/secret ${METRICS_DIR}/.rootsnap.prom.rootsnap-$p || exit 1
  done
  ln -s /root/secret ${METRICS}' plant "$$" || exit 1
exec rootsnap watch </dev/null
`;

/** A shell command line that runs `command` as the unprivileged user. */
function asUser(command: string): string {
  return `setpriv --reuid=${USER} --regid=${USER} --init-groups sh -c '${command}'`;
}

/** "MODE OWNER NAME" of each path, without following links. */
async function modes(m: Machine, paths: string): Promise<string> {
  return (await m.sh(`stat -c '%a %U %n' ${paths}`)).trim();
}

async function created(m: Machine, name: string): Promise<void> {
  const r = await rootsnap(m, `create ${name}`);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /copy of \/boot was not/, r.stderr);
}

async function privateCopies(m: Machine): Promise<void> {
  say("create: the copy of /boot is 0600 in a 0700 directory, made by root");
  await created(m, "one");
  assert.equal(
    await modes(m, `/var/lib/rootsnap ${COPIES} ${COPIES}/one.tar`),
    `755 root /var/lib/rootsnap\n700 root ${COPIES}\n600 root ${COPIES}/one.tar`,
  );
  assert.equal((await m.sh(`ls -A ${COPIES}`)).trim(), "one.tar", "no partial copy is left");
  assert.match(await m.sh(`tar -tf ${COPIES}/one.tar`), /^initrd\.img-/m);
}

async function unreadable(m: Machine): Promise<void> {
  say(`${USER} can read neither the copy nor the directory's names`);
  const read = await m.shResult(asUser(`cat ${COPIES}/one.tar >/dev/null`));
  assert.notEqual(read.code, 0, `${USER} read the copy of /boot`);
  assert.match(read.stderr, /Permission denied/);
  const list = await m.shResult(asUser(`ls ${COPIES}`));
  assert.notEqual(list.code, 0, `${USER} listed ${COPIES}: ${list.stdout}`);
}

/** Modes an older rootsnap left, and a link in the directory that must not be followed. */
async function oldStyle(m: Machine): Promise<void> {
  await m.sh(
    `chmod 0755 ${COPIES} && chmod 0644 ${COPIES}/*.tar && ln -sfn /etc/hostname ${COPIES}/zz.tar && chmod 0644 /etc/hostname`,
  );
}

async function narrowedAgain(m: Machine): Promise<void> {
  say("a 0644 copy in a 0755 directory is private again after the next create");
  await oldStyle(m);
  await created(m, "two");
  assert.equal(
    await modes(m, `${COPIES} ${COPIES}/one.tar ${COPIES}/two.tar /etc/hostname`),
    `700 root ${COPIES}\n600 root ${COPIES}/one.tar\n600 root ${COPIES}/two.tar\n644 root /etc/hostname`,
    "the copies are narrowed, the file behind the link is not",
  );

  say("... and after the copies of removed sets are pruned (boot-finish)");
  await oldStyle(m);
  const removed = await rootsnap(m, "remove one --yes");
  assert.equal(removed.code, 0, removed.stderr);
  const finished = await rootsnap(m, "boot-finish");
  assert.equal(finished.code, 0, finished.stderr);
  assert.match(finished.stderr, /removed \/boot copy one\.tar of a set that is gone/);
  assert.equal((await m.sh(`ls -A ${COPIES}`)).trim(), "two.tar");
  assert.equal(
    await modes(m, `${COPIES} ${COPIES}/two.tar /etc/hostname`),
    `700 root ${COPIES}\n600 root ${COPIES}/two.tar\n644 root /etc/hostname`,
  );
}

async function plantedLinks(m: Machine): Promise<void> {
  say(`watch writes ${METRICS} in a directory ${USER} owns, past the links ${USER} planted`);
  await m.sh(
    `printf 'secret\\n' > /root/secret && chmod 0600 /root/secret &&
     mkdir -p ${METRICS_DIR} && chown ${USER}:${USER} ${METRICS_DIR} && chmod 0755 ${METRICS_DIR}`,
  );
  await m.writeFile("/root/watch-planted", PLANT_AND_WATCH, 0o755);
  const watch = await m.shResult("/root/watch-planted");
  assert.equal(watch.code, 0, watch.stderr);
  const after = await m.sh(
    `cat /root/secret; stat -c '%a %U %F' /root/secret ${METRICS}; ls -A ${METRICS_DIR} | grep -vc '^\\.rootsnap\\.prom\\.rootsnap-[0-9]*$'`,
  );
  assert.equal(
    after.trim(),
    "secret\n600 root regular file\n644 root regular file\n1",
    "the linked file is untouched; the metrics file replaced the link; no temporary file left",
  );
  assert.match(await m.sh(`cat ${METRICS}`), /^rootsnap_/m);
}

test(
  "file modes and planted links on trixie-split",
  { skip: vmSkip(), timeout: 20 * 60_000 },
  async (t: TestContext) => {
    await withMachine("trixie-split", async (m) => {
      await installConfigured(m, CONFIG);
      await m.sh(`useradd -M -s /bin/sh ${USER}`);
      // Each step is a subtest, so one that fails does not hide what the next finds.
      for (const step of [privateCopies, unreadable, narrowedAgain, plantedLinks]) {
        await t.test(step.name, () => step(m));
      }
    });
  },
);
