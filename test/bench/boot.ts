// The boot-time cost bar: on one bookworm-simple VM, rootsnap-boot.service against the
// seed article's bare `lvcreate` unit, both before local-fs.target in the same snapshot
// boots (each runs first as often as second), timed by systemd's own timestamps; and how long a
// power-off takes with snapshots active.
import { installRootsnap, withMachine } from "../vm/rig/index.ts";
import type { Machine } from "../vm/rig/machine.ts";

const BAR = 1.5;

const BARE_UNIT = `[Unit]
Description=bare lvcreate at boot, as the seed article does it
ConditionKernelCommandLine=rootsnap.boot
DefaultDependencies=no
Wants=local-fs-pre.target
After=local-fs-pre.target systemd-remount-fs.service
Before=local-fs.target shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
ExecStart=/usr/sbin/lvcreate -L 600M -s -n bare-snap vg0/root

[Install]
WantedBy=local-fs.target
`;

export interface BootBench {
  /** Seconds each unit ran, one entry per snapshot boot. */
  readonly rootsnap: number[];
  readonly bare: number[];
  /** Seconds from `systemctl poweroff` to the end of QEMU, with two snapshots active. */
  readonly powerOffSeconds: number;
  /** Seconds `node -e 0` takes in the guest: the share of rootsnap's time that is Node starting. */
  readonly nodeStartSeconds: number;
}

async function unitSeconds(m: Machine, unit: string): Promise<number> {
  const out = await m.sh(
    `systemctl show -p ExecMainStartTimestampMonotonic,ExecMainExitTimestampMonotonic,Result ${unit}`,
  );
  const value = (key: string): number => Number(new RegExp(`${key}=(\\d+)`).exec(out)?.[1]);
  if (!out.includes("Result=success")) throw new Error(`${unit} did not succeed: ${out}`);
  return (value("ExecMainExitTimestampMonotonic") - value("ExecMainStartTimestampMonotonic")) / 1e6;
}

/** Pairs of snapshot boots (ROOTSNAP_BENCH_BOOT_ROUNDS, default 2): one boot on a loaded host weighs less. */
const ROUNDS = Math.max(1, Number(process.env.ROOTSNAP_BENCH_BOOT_ROUNDS ?? "2") || 2);

export async function benchBoot(say: (text: string) => void): Promise<BootBench> {
  return withMachine("bookworm-simple", async (m) => {
    await installRootsnap(m);
    await m.writeFile("/etc/systemd/system/bare-snap.service", BARE_UNIT);
    await m.sh("rootsnap setup && systemctl enable bare-snap.service", { timeoutMs: 600_000 });
    const rootsnap: number[] = [];
    const bare: number[] = [];
    // Whichever unit runs first in a boot meets udev still busy with the coldplug; each
    // runs first and second equally often, over ROUNDS pairs of boots.
    const orders = Array.from({ length: ROUNDS }, () => [false, true]).flat();
    for (const bareFirst of orders) {
      const order = bareFirst
        ? "[Unit]\nBefore=rootsnap-boot.service\n"
        : "[Unit]\nAfter=rootsnap-boot.service\n";
      await m.sh("mkdir -p /etc/systemd/system/bare-snap.service.d");
      await m.writeFile("/etc/systemd/system/bare-snap.service.d/order.conf", order);
      await m.sh(
        'lvremove -y vg0/bare-snap >/dev/null 2>&1; for s in $(rootsnap list --json | sed -n \'s/.*"name": "\\(boot-[^"]*\\)".*/\\1/p\'); do rootsnap remove --yes $s; done; systemctl daemon-reload && rootsnap next-boot',
      );
      say(`snapshot boot ${bareFirst ? "(bare unit first)" : "(rootsnap first)"}`);
      await m.reboot();
      await m.sh("systemctl is-system-running --wait >/dev/null 2>&1 || true");
      say(
        await m.sh(
          "journalctl -b -o short-monotonic --no-hostname -u rootsnap-boot.service -u bare-snap.service | tail -12",
        ),
      );
      rootsnap.push(await unitSeconds(m, "rootsnap-boot.service"));
      bare.push(await unitSeconds(m, "bare-snap.service"));
    }
    const nodeStart = await m.sh(
      "for i in 1 2 3; do s=$(date +%s%N); node -e 0; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); done | sort -n | sed -n 2p",
    );
    await m.sh("rootsnap create --kind manual extra >/dev/null");
    const started = Date.now();
    await m.spawn("systemctl poweroff");
    await m.waitForPowerOff();
    const powerOffSeconds = (Date.now() - started) / 1000;
    return { rootsnap, bare, powerOffSeconds, nodeStartSeconds: Number(nodeStart) / 1000 };
  });
}

export function reportBootBench(bench: BootBench, write: (text: string) => void): boolean {
  const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
  const ratio = sum(bench.rootsnap) / sum(bench.bare);
  const ok = ratio <= BAR;
  const list = (values: number[]): string => values.map((v) => `${v.toFixed(2)} s`).join(", ");
  write(
    `boot-time unit        rootsnap ${list(bench.rootsnap)}; bare lvcreate ${list(bench.bare)}; ${ratio.toFixed(2)}x (bar ${BAR}x) ${ok ? "ok" : "OVER"}\n`,
  );
  write(
    `node -e 0 in the guest  ${bench.nodeStartSeconds.toFixed(2)} s (of rootsnap's time, Node starting)\n`,
  );
  write(`power-off, 3 snapshots active: ${bench.powerOffSeconds.toFixed(1)} s\n`);
  return ok;
}
