// The systemd units rootsnap installs: one that takes the boot-time set before
// local-fs.target when the kernel command line asks for it (by running the boot plan,
// src/boot/plan.ts), and one that finishes
// what a boot leaves open (pending merges, a one-shot GRUB entry, /boot copies).
import { DEFAULT_EXECUTABLE, DEFAULT_PROGRAM } from "../system/paths.ts";
import { shellQuote } from "../system/runner.ts";
import { KERNEL_PARAMETER } from "./grub.ts";
import { BOOT_PLAN_PATH } from "./plan.ts";
import { execLine } from "./quote.ts";

/** Re-exported from src/system/paths.ts, where every path rootsnap owns is listed. */
export { DEFAULT_EXECUTABLE, DEFAULT_PROGRAM };

export const UNIT_DIR = "/etc/systemd/system";
/** Where the units find rootsnap when it was not started by path. */
export const BOOT_UNIT = "rootsnap-boot.service";
export const FINISH_UNIT = "rootsnap-finish.service";
/** The seed article's hand-made units, recognised so setup can point at them. */
export const ARTICLE_UNITS = ["mk-lvm-snapshots.service", "make-snapshots.target"];

const PARAMETER_NAME = KERNEL_PARAMETER.split("=")[0] ?? KERNEL_PARAMETER;

export interface UnitFile {
  readonly name: string;
  readonly text: string;
  /** The target whose .wants directory `systemctl enable` links the unit into. */
  readonly wantedBy: string;
}

/** Both units; `program` is the argv prefix that runs rootsnap (Node and the script). */
export function unitFiles(program: readonly string[]): UnitFile[] {
  const plan = shellQuote(BOOT_PLAN_PATH);
  const boot = `[ -r ${plan} ] && exec /bin/sh ${plan}; exec ${program.map(shellQuote).join(" ")} create --kind boot`;
  const bootUnit = `# Installed by rootsnap setup, removed by rootsnap uninstall.
[Unit]
Description=rootsnap boot-time snapshot set
# Runs only when the boot entry asks for it, and keeps the normal default target.
ConditionKernelCommandLine=${PARAMETER_NAME}
DefaultDependencies=no
Wants=local-fs-pre.target
After=local-fs-pre.target systemd-remount-fs.service
Before=local-fs.target shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
# The set as planned ahead (no Node start-up at boot); without a plan rootsnap makes it.
ExecStart=${execLine(["/bin/sh", "-c", boot])}
# A failed or slow set must not stop the boot: local-fs.target only wants this unit.
TimeoutStartSec=5min
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=local-fs.target
`;
  const finishUnit = `# Installed by rootsnap setup, removed by rootsnap uninstall.
[Unit]
Description=rootsnap: finish merges and the one-shot boot entry after a boot
After=local-fs.target

[Service]
Type=oneshot
ExecStart=${execLine([...program, "boot-finish"])}
TimeoutStartSec=30min
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=multi-user.target
`;
  return [
    { name: BOOT_UNIT, text: bootUnit, wantedBy: "local-fs.target" },
    { name: FINISH_UNIT, text: finishUnit, wantedBy: "multi-user.target" },
  ];
}
