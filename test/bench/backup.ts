// Backup throughput in a VM: one snapshot archived by rootsnap and by a plain
// `tar | zstd -T0` pipeline with the same flags, alternately, the snapshot's data read
// from a cold cache; the same pipeline with the archive's checksum on the side (what the
// manifest needs, done by hand) for reference; the raw read rate of the snapshot LV (dd)
// as the physical limit; rootsnap's peak RSS.
import { DEFAULT_EXCLUDES, tarCreateArgv, zstdCompressArgv } from "../../src/backup/tar.ts";
import { formatArgv } from "../../src/system/runner.ts";
import { installRootsnap, type Machine, stepLog, withMachine } from "../vm/rig/index.ts";

const BAR_RATIO = 0.95;
const RSS_BAR_KIB = 100 * 1024;
/** Rounds of each (best taken); ROOTSNAP_BENCH_ROUNDS=1 takes a third of the time. */
const ROUNDS = Number(process.env.ROOTSNAP_BENCH_ROUNDS ?? "3");
/**
 * The bench's machine runs alone, so it gets both host cores as two vCPUs (as any machine
 * rootsnap backs up has more than one core: the checksum runs beside the compressor).
 * ROOTSNAP_BENCH_VCPUS=1 measures the emulated single core, where it cannot.
 */
const VCPUS = Number(process.env.ROOTSNAP_BENCH_VCPUS ?? "2");

/**
 * The plain pipeline: the tar and zstd command lines rootsnap itself builds (with the
 * default excludes, and --selinux as this guest's tar has it), joined by a shell pipe.
 */
const PLAIN = [
  tarCreateArgv({
    root: "/run/rootsnap/bench",
    members: ["."],
    excludes: DEFAULT_EXCLUDES,
    selinux: true,
  }),
  zstdCompressArgv(),
]
  .map(formatArgv)
  .join(" 2>/dev/null | ");

const say = stepLog("bench-backup");

/**
 * The snapshot's data cold, the programs of both sides warm: their start-up is measured
 * apart (the start-up bench), and under emulation Node's first start from a cold cache
 * alone takes 6 s, a load time and not a backup's throughput.
 */
const COLD_DATA =
  "sync; echo 3 > /proc/sys/vm/drop_caches; " +
  "for p in tar zstd tee sha256sum; do $p --version >/dev/null; done; rootsnap --version >/dev/null";

/** Seconds a guest command takes, measured in the guest. */
async function timed(m: Machine, command: string): Promise<number> {
  const out = await m.sh(
    `${COLD_DATA}; s=$(date +%s.%N); ${command}; e=$(date +%s.%N); echo "$e - $s" | bc -l 2>/dev/null || awk "BEGIN{print $e - $s}"`,
    { timeoutMs: 900_000 },
  );
  return Number(out.trim().split("\n").pop());
}

export interface BackupBench {
  readonly usedBytes: number;
  readonly plainMBps: number;
  readonly checksumMBps: number;
  readonly rootsnapMBps: number;
  readonly ratio: number;
  readonly ddMBps: number;
  readonly maxRssKiB: number;
}

async function prepare(m: Machine): Promise<number> {
  await installRootsnap(m);
  say("a multi-GB tree: the system, 200 MiB of random data and 600 MiB of text");
  await m.sh(
    "mkfs.ext4 -q /dev/vdb && mkdir -p /backup && mount /dev/vdb /backup && mkdir -p /root/bulk && " +
      "for i in 1 2; do head -c 100M /dev/urandom > /root/bulk/random.$i; done && " +
      'for i in 1 2 3 4 5 6; do yes "line $i of a log that compresses well" | head -c 100M > /root/bulk/text.$i; done && sync',
    { timeoutMs: 900_000 },
  );
  await m.sh("rootsnap create bench --size 2G");
  await m.sh("rootsnap mount bench");
  const used = Number((await m.sh("df -B1 --output=used /run/rootsnap/bench | tail -1")).trim());
  await m.sh("rootsnap umount bench");
  return used;
}

/** The plain pipeline into a file, or through `tee` into a file and `sha256sum`. */
async function plainRun(m: Machine, checksum = false): Promise<number> {
  await m.sh("rootsnap mount bench");
  const seconds = await timed(
    m,
    checksum
      ? `${PLAIN} | tee /backup/plain.tar.zst | sha256sum >/dev/null`
      : `${PLAIN} > /backup/plain.tar.zst`,
  );
  await m.sh("rootsnap umount bench && rm -f /backup/plain.tar.zst");
  return seconds;
}

const ROOTSNAP_BACKUP = "rootsnap backup bench -q --to /backup/rs.tar.zst";

async function rootsnapRun(m: Machine): Promise<number> {
  const seconds = await timed(m, ROOTSNAP_BACKUP);
  await m.sh("rm -f /backup/rs.tar.zst*");
  return seconds;
}

/**
 * Peak RSS (VmHWM only grows) of one more backup, read once a second. Its own run: the
 * watcher starts a program every second, which the timed runs must not pay for.
 */
async function rootsnapRss(m: Machine): Promise<number> {
  await m.spawn(
    "rm -f /tmp/hwm; p=; while [ -z \"$p\" ]; do p=$(pgrep -o -f '^/usr/bin/node /usr/bin/rootsnap backup'); sleep 0.1; done; " +
      "while [ -e /proc/$p ]; do grep VmHWM /proc/$p/status >> /tmp/hwm 2>/dev/null; sleep 1; done",
  );
  await timed(m, ROOTSNAP_BACKUP);
  const hwm = await m.sh("sleep 1.5; rm -f /backup/rs.tar.zst*; cat /tmp/hwm");
  return Math.max(0, ...[...hwm.matchAll(/VmHWM:\s+(\d+)/g)].map((x) => Number(x[1])));
}

export async function benchBackup(): Promise<BackupBench> {
  return withMachine(
    "bookworm-simple",
    async (m) => {
      const usedBytes = await prepare(m);
      say(`tree: ${(usedBytes / 2 ** 30).toFixed(2)} GiB used`);
      const dd = await m.sh(
        `${COLD_DATA}; dd if=/dev/vg0/root-bench of=/dev/null bs=4M iflag=direct 2>&1 | tail -1`,
        { timeoutMs: 600_000 },
      );
      const lvBytes = Number((await m.sh("blockdev --getsize64 /dev/vg0/root-bench")).trim());
      const ddSeconds = Number(/([\d.]+) s,/.exec(dd)?.[1]);
      const plain: number[] = [];
      const checksum: number[] = [];
      const rootsnap: number[] = [];
      for (let round = 0; round < ROUNDS; round += 1) {
        plain.push(await plainRun(m));
        rootsnap.push(await rootsnapRun(m));
        checksum.push(await plainRun(m, true));
        say(
          `round ${round + 1}: plain ${plain.at(-1)?.toFixed(1)} s, rootsnap ${rootsnap.at(-1)?.toFixed(1)} s, plain with checksum ${checksum.at(-1)?.toFixed(1)} s`,
        );
      }
      const maxRssKiB = await rootsnapRss(m);
      const MB = 1e6;
      const plainMBps = usedBytes / Math.min(...plain) / MB;
      const checksumMBps = usedBytes / Math.min(...checksum) / MB;
      const rootsnapMBps = usedBytes / Math.min(...rootsnap) / MB;
      return {
        usedBytes,
        plainMBps,
        checksumMBps,
        rootsnapMBps,
        ratio: rootsnapMBps / plainMBps,
        ddMBps: lvBytes / ddSeconds / MB,
        maxRssKiB,
      };
    },
    { extraDisksGiB: [8], vcpus: VCPUS },
  );
}

/** Prints the figures; false when a bar is missed. */
export function reportBackupBench(b: BackupBench, write: (text: string) => void): boolean {
  const ratioOk = b.ratio >= BAR_RATIO;
  const rssOk = b.maxRssKiB > 0 && b.maxRssKiB < RSS_BAR_KIB;
  write(
    `backup of ${(b.usedBytes / 2 ** 30).toFixed(2)} GiB (bookworm-simple VM, ${VCPUS} vCPU, data cold, best of ${ROUNDS})\n`,
  );
  write(`tar | zstd -T0         ${b.plainMBps.toFixed(1)} MB/s\n`);
  write(
    `  ... | tee | sha256sum ${b.checksumMBps.toFixed(1)} MB/s  ${(b.checksumMBps / b.plainMBps).toFixed(3)}x  (by hand, with the checksum)\n`,
  );
  write(
    `rootsnap backup        ${b.rootsnapMBps.toFixed(1)} MB/s  ${b.ratio.toFixed(3)}x  (bar ${BAR_RATIO}x) ${ratioOk ? "ok" : "UNDER"}\n`,
  );
  write(`dd of the snapshot LV  ${b.ddMBps.toFixed(1)} MB/s (raw read, O_DIRECT)\n`);
  write(
    `rootsnap max RSS       ${(b.maxRssKiB / 1024).toFixed(1)} MiB  (bar ${RSS_BAR_KIB / 1024} MiB) ${rssOk ? "ok" : "OVER"}\n`,
  );
  return ratioOk && rssOk;
}
