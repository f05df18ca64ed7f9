// Checks from inside a booted guest that it has the layout it was built with.
import assert from "node:assert/strict";
import { GUEST_KERNEL_PARAMS, MASKED_UNITS } from "./layouts.ts";
import type { Machine } from "./machine.ts";

interface LvRow {
  lv_name: string;
  vg_name: string;
  lv_attr: string;
  segtype: string;
  pool_lv: string;
  vg_free: string;
}

export async function checkLayout(m: Machine): Promise<void> {
  const { expect } = m.layout;
  const targets = expect.mounts.map((x) => x.target);
  const out = await m.sh(
    `for t in ${targets.join(" ")}; do findmnt -n -o TARGET,SOURCE,FSTYPE --mountpoint "$t"; done; ` +
      "echo ---; lvs -a --reportformat json --units b --nosuffix -o lv_name,vg_name,lv_attr,segtype,pool_lv,vg_free; " +
      "echo ---; lsblk -n -o NAME,TYPE,FSTYPE,MOUNTPOINT; " +
      "echo ---; cat /proc/cmdline /proc/sys/kernel/randomize_va_space; " +
      `echo ---; systemctl is-enabled ${MASKED_UNITS.join(" ")} || true; ` +
      "echo ---; if [ -d /sys/firmware/efi ]; then echo uefi; else echo bios; fi",
  );
  const [mounts = "", lvsJson = "", lsblk = "", kernel = "", masked = "", firmware = ""] =
    out.split("---\n");
  assert.equal(firmware.trim(), m.layout.firmware ?? "bios", "the firmware the guest booted with");
  for (const want of expect.mounts) {
    const line = mounts.split("\n").find((l) => l.split(/\s+/)[0] === want.target);
    assert.ok(line, `${want.target} is not mounted in ${m.layout.name}:\n${mounts}`);
    const [, source, fstype] = line.split(/\s+/);
    assert.equal(source, want.source, `${want.target} source`);
    assert.equal(fstype, want.fstype, `${want.target} file system`);
  }
  const rows = (JSON.parse(lvsJson) as { report: { lv: LvRow[] }[] }).report[0]?.lv ?? [];
  const root = rows.find((r) => r.vg_name === expect.vg && r.lv_name === expect.rootLv);
  assert.ok(root, `no ${expect.vg}/${expect.rootLv} in lvs`);
  assert.ok(Number(root.vg_free) >= 1024 ** 3, `${expect.vg} needs free space for snapshots`);
  if (m.layout.name === "trixie-thin") {
    assert.equal(root.segtype, "thin", "root is a thin LV");
    assert.ok(rows.some((r) => r.lv_name === root.pool_lv && r.segtype === "thin-pool"));
  } else {
    assert.equal(root.segtype, "linear", "root is a thick LV");
  }
  for (const other of expect.otherLvs ?? []) {
    const [name, segtype] = other.split(":");
    const row = rows.find((r) => r.vg_name === expect.vg && r.lv_name === name);
    assert.ok(row, `no ${expect.vg}/${name ?? ""} in lvs`);
    assert.equal(row.segtype, segtype, `${name ?? ""} segment type`);
  }
  assert.match(lsblk, /lvm/);
  // The PV of an encrypted layout is a dm-crypt mapping, opened before the VG.
  if (expect.encrypted === true) assert.match(lsblk, /\bcrypt\b/, lsblk);
  else assert.doesNotMatch(lsblk, /\bcrypt\b/, lsblk);
  // The rig's settings for emulation: the kernel parameter and the masked units.
  const [cmdline = "", randomize = ""] = kernel.trim().split("\n");
  assert.ok(cmdline.split(" ").includes(GUEST_KERNEL_PARAMS), `kernel command line: ${cmdline}`);
  assert.equal(randomize, "0", "no address space randomisation");
  assert.deepEqual(
    masked.trim().split("\n"),
    MASKED_UNITS.map(() => "masked"),
    `systemctl is-enabled ${MASKED_UNITS.join(" ")}`,
  );
}
