// `npm run fixtures`: boots each layout, brings its LVM into the states rootsnap meets
// (snapshots, inactive, invalid, merging, thin), and records the exact report commands
// rootsnap runs under test/fixtures/lvm2-<version>/<layout>/<state>/.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lvsArgv, vgsArgv } from "../../src/lvm/fields.ts";
import { formatArgv } from "../../src/system/runner.ts";
import { installRootsnap, REPO, vmSkipReason, withMachine, type Machine } from "./rig/index.ts";

interface Step {
  state: string;
  /** Shell run in the guest before recording. */
  setup: string;
}

function thickSteps(vg: string, extraOrigin?: string): Step[] {
  const volumes = [`--volume ${vg}/root`, extraOrigin ? `--volume ${vg}/${extraOrigin}` : ""];
  return [
    { state: "plain", setup: "true" },
    {
      state: "sets",
      setup: `rootsnap create fixture-manual ${volumes.join(" ")} --size 512M &&
        rootsnap create fixture-boot --kind boot --volume ${vg}/root --size 10%ORIGIN &&
        dd if=/dev/urandom of=/root/fill bs=1M count=20 conv=fsync status=none`,
    },
    {
      state: "inactive-and-invalid",
      setup: `lvcreate -y -L 64M -n scratch ${vg} && lvcreate -y -s -L 8M -n scratch-snap ${vg}/scratch &&
        dd if=/dev/urandom of=/dev/${vg}/scratch bs=1M count=32 oflag=direct status=none;
        lvcreate -y -L 64M -n cold ${vg} && lvcreate -y -s -L 16M -n cold-snap ${vg}/cold &&
        lvchange -an ${vg}/cold`,
    },
    { state: "merging", setup: "rootsnap revert fixture-manual --yes" },
  ];
}

const THIN_STEPS: Step[] = [
  { state: "plain", setup: "true" },
  {
    state: "thin-snapshots",
    setup: `rootsnap create fixture-thin --volume thinvg/root &&
      lvcreate -y -s -n raw-thin-snap thinvg/root &&
      lvcreate -y -L 64M -n thick thinvg && lvcreate -y -s -L 16M -n thick-snap thinvg/thick`,
  },
  { state: "merging", setup: "rootsnap revert fixture-thin --yes" },
];

async function record(m: Machine, steps: Step[]): Promise<void> {
  await installRootsnap(m);
  const version = /LVM version:\s*([0-9.]+)/.exec(await m.sh("lvm version"))?.[1];
  if (!version) throw new Error("cannot read the lvm2 version");
  for (const step of steps) {
    await m.sh(step.setup, { timeoutMs: 300_000 });
    const dir = join(REPO, "test", "fixtures", `lvm2-${version}`, m.layout.name, step.state);
    mkdirSync(dir, { recursive: true });
    for (const [file, argv] of [
      ["lvs.json", lvsArgv()],
      ["vgs.json", vgsArgv()],
    ] as const) {
      writeFileSync(join(dir, file), await m.sh(formatArgv(argv)));
    }
    const meta = {
      lvm2: version,
      layout: m.layout.name,
      state: step.state,
      setup: step.setup,
      lvs: lvsArgv(),
      vgs: vgsArgv(),
    };
    writeFileSync(join(dir, "meta.json"), JSON.stringify(meta, null, 2) + "\n");
    process.stderr.write(`recorded ${dir}\n`);
  }
  await recordActivation(m, version);
}

/** What decides how the initramfs activates LVs and polls merges (boot/initramfs.ts). */
const ACTIVATION_FILES = [
  "/usr/share/initramfs-tools/hooks/lvm2",
  "/usr/share/initramfs-tools/scripts/local-top/lvm2",
  "/usr/lib/udev/rules.d/69-lvm.rules",
  "/lib/udev/rules.d/69-lvm.rules",
];

async function recordActivation(m: Machine, version: string): Promise<void> {
  const dir = join(REPO, "test", "fixtures", `lvm2-${version}`, m.layout.name, "initramfs");
  mkdirSync(dir, { recursive: true });
  const seen = new Set<string>();
  for (const path of ACTIVATION_FILES) {
    const text = await m.sh(`cat ${path} 2>/dev/null || true`);
    // /lib is /usr/lib where /usr is merged: one copy is enough.
    if (text === "" || seen.has(text)) continue;
    seen.add(text);
    writeFileSync(join(dir, path.slice(1).replaceAll("/", "_")), text);
  }
  process.stderr.write(`recorded ${dir}\n`);
}

const reason = vmSkipReason();
if (reason !== undefined) {
  process.stderr.write(`cannot record fixtures here: ${reason}\n`);
  process.exit(69);
}
const only = process.argv.slice(2);
const plan: [string, Step[]][] = [
  ["bookworm-simple", thickSteps("vg0")],
  ["trixie-split", thickSteps("sysvg", "var")],
  ["trixie-thin", THIN_STEPS],
];
for (const [layout, steps] of plan) {
  if (only.length > 0 && !only.includes(layout)) continue;
  await withMachine(layout, (m) => record(m, steps));
}
