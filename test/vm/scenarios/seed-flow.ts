// The seed article done by hand with plain commands, no rootsnap: a boot-time snapshot
// from a dedicated GRUB entry, a read-only backup of it, and a revert by merge.
import assert from "node:assert/strict";
import type { Machine } from "../rig/machine.ts";

export type Say = (step: string) => void;

const SERVICE = `[Unit]
Description=make LVM snapshots
Requires=local-fs-pre.target
DefaultDependencies=no
Conflicts=shutdown.target
After=local-fs-pre.target
Before=local-fs.target

[Install]
WantedBy=make-snapshots.target

[Service]
Type=oneshot
ExecStart=/usr/sbin/lvcreate -L1G -n snap-root -s VG/ROOT
`;

const TARGET = `[Unit]
Description=Make Snapshots
Requires=multi-user.target
`;

export interface SeedResult {
  /** Seconds from power-on to a usable guest agent, per boot. */
  boots: number[];
  /** What lvs showed for the root LV after the merge boot, before anything polled it. */
  rootAttrAfterMergeBoot: string;
  /** Whether grubenv still held next_entry after the one-shot boot (grubenv on LVM). */
  nextEntryKept: boolean;
}

export async function seedFlow(m: Machine, say: Say): Promise<SeedResult> {
  const { vg, rootLv } = m.layout.expect;
  const boots: number[] = [];
  const unit = SERVICE.replace("VG/ROOT", `${vg}/${rootLv}`);

  say("install the article's service and target, and enable the service");
  await m.writeFile("/etc/systemd/system/mk-lvm-snapshots.service", unit);
  await m.writeFile("/etc/systemd/system/make-snapshots.target", TARGET);
  await m.sh(
    "systemd-analyze verify /etc/systemd/system/mk-lvm-snapshots.service && " +
      "systemctl enable mk-lvm-snapshots.service",
  );

  say("copy the default GRUB entry to custom.cfg with systemd.unit=make-snapshots.target");
  await m.sh(String.raw`awk '/^menuentry /{p=1} p{print} p&&/^}/{exit}' /boot/grub/grub.cfg |
    sed -e "1s/^menuentry '[^']*'/menuentry 'Make snapshots'/" \
        -e '/^[[:space:]]*linux[[:space:]]/s/$/ systemd.unit=make-snapshots.target/' \
      > /boot/grub/custom.cfg
    grep -q 'systemd.unit=make-snapshots.target' /boot/grub/custom.cfg
    grub-script-check /boot/grub/custom.cfg`);

  say("grub-reboot 'Make snapshots', then reboot");
  await m.sh("grub-reboot 'Make snapshots'");
  boots.push(await m.reboot());

  say("the snapshot exists and was made by the boot-time service");
  const cmdline = await m.sh("cat /proc/cmdline");
  assert.match(cmdline, /systemd\.unit=make-snapshots\.target/);
  const attr = (await m.sh(`lvs --noheadings -o lv_attr,origin ${vg}/snap-root`)).trim();
  assert.match(attr, /^s\S+\s+root$/, `snap-root should be a snapshot of root, lvs says: ${attr}`);
  const order = await m.sh(
    "systemctl show -p Result,ExecMainStatus,ExecMainExitTimestampMonotonic mk-lvm-snapshots.service && " +
      "systemctl show -p ActiveEnterTimestampMonotonic local-fs.target",
  );
  assert.match(order, /Result=success/);
  assert.match(order, /ExecMainStatus=0/);
  const svcDone = Number(/ExecMainExitTimestampMonotonic=(\d+)/.exec(order)?.[1]);
  const localFs = Number(/ActiveEnterTimestampMonotonic=(\d+)/.exec(order)?.[1]);
  assert.ok(
    svcDone > 0 && svcDone <= localFs,
    `the service must finish before local-fs.target: ${order}`,
  );

  const env = await m.sh("grub-editenv list");
  const nextEntryKept = env.includes("next_entry=");
  say(
    `grubenv after the one-shot boot: ${nextEntryKept ? "next_entry kept (GRUB cannot write grubenv on LVM): clearing it" : "next_entry cleared"}`,
  );
  await m.sh("grub-editenv /boot/grub/grubenv unset next_entry");

  say("mount the snapshot read-only and tar it while the system runs");
  await m.sh("echo written-after-snapshot > /root/after-snapshot.txt && sync");
  const listing = await m.sh(
    `mkdir -p /mnt/snap && mount -o ro /dev/${vg}/snap-root /mnt/snap &&
     tar -C /mnt/snap --one-file-system --numeric-owner --xattrs --xattrs-include='*' --acls -cf - . | tar -tf - > /root/seed-listing.txt;
     rc=$?; umount /mnt/snap; [ $rc = 0 ] && wc -l < /root/seed-listing.txt &&
     grep -c -x -e ./etc/hostname -e ./root/after-snapshot.txt /root/seed-listing.txt || true`,
    { timeoutMs: 300_000 },
  );
  const [entries, hits] = listing.trim().split("\n").map(Number);
  assert.ok(
    (entries ?? 0) > 5000,
    `the archive should hold a whole system, it has ${entries} entries`,
  );
  assert.equal(
    hits,
    1,
    "the archive holds /etc/hostname but not the file written after the snapshot",
  );
  assert.equal((await m.sh("findmnt -n /mnt/snap || true")).trim(), "", "nothing left mounted");

  say("write a marker file, then lvconvert --merge the snapshot");
  await m.sh("echo bad-update > /root/marker.txt && sync");
  const merge = await m.shResult(`lvconvert --merge ${vg}/snap-root`);
  assert.equal(merge.code, 0, merge.stderr);
  assert.match(merge.stdout + merge.stderr, /Delaying merge|Merging of snapshot/);
  const originAttr = (await m.sh(`lvs --noheadings -o lv_attr ${vg}/${rootLv}`)).trim();
  assert.match(originAttr, /^O/, `the origin should be marked as merging, lvs says ${originAttr}`);

  say("reboot normally: the merge happens while the root LV is activated");
  await m.sh(`systemctl disable mk-lvm-snapshots.service`);
  boots.push(await m.reboot());
  assert.doesNotMatch(await m.sh("cat /proc/cmdline"), /make-snapshots/);
  const gone = await m.shResult("test -e /root/marker.txt");
  assert.notEqual(gone.code, 0, "the marker written after the snapshot must be gone");
  assert.equal((await m.shResult("test -e /root/after-snapshot.txt")).code, 1);
  const rootAttrAfterMergeBoot = (
    await m.sh(`lvs -a --noheadings -o lv_name,lv_attr ${vg}`)
  ).trim();
  say(`lvs after the merge boot: ${rootAttrAfterMergeBoot.replace(/\s+/g, " ")}`);

  say("finish the merge LVM left pending (lvchange --poll y) and check no snapshot is left");
  await m.sh(`lvchange --poll y ${vg}/${rootLv}`, { timeoutMs: 300_000 });
  const lvs = await m.sh(`lvs -a --noheadings -o lv_name,lv_attr ${vg}`);
  assert.doesNotMatch(lvs, /snap-root/, `no snapshot may remain: ${lvs}`);
  assert.match(lvs, new RegExp(`${rootLv}\\s+-wi-ao`), `root is a plain open LV again: ${lvs}`);
  return { boots, rootAttrAfterMergeBoot, nextEntryKept };
}
