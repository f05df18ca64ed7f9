// The files and directories rootsnap itself owns: one list, so an admin (and the package,
// the man page, uninstall) finds every one of them in one place.

/** The configuration file; `--config` names another. */
export const DEFAULT_CONFIG_PATH = "/etc/rootsnap/rootsnap.toml";

/** Where setup keeps what it installed, its undo log and the boot plan. */
export const STATE_DIR = "/etc/rootsnap";

/** The boot-time set's commands, planned ahead; rootsnap-boot.service runs it. */
export const BOOT_PLAN_PATH = `${STATE_DIR}/boot-plan.sh`;

/** Why this boot's set was not made, as the boot-time unit recorded it. */
export const BOOT_FAILURE_PATH = "/run/rootsnap.boot-failure";

/** flock(2)'d by whichever rootsnap changes the system. */
export const DEFAULT_LOCK_PATH = "/run/rootsnap.lock";

/** Mount points of mounted sets, and the package-manager hooks' markers. */
export const RUN_DIR = "/run/rootsnap";

/** Copies of /boot for sets that hold / while /boot is a file system of its own. */
export const BOOT_COPY_DIR = "/var/lib/rootsnap/boot";

/** Where the package installs rootsnap. */
export const DEFAULT_EXECUTABLE = "/usr/bin/rootsnap";

/** Where an admin puts a rootsnap that no package installed. */
export const LOCAL_EXECUTABLE = "/usr/local/bin/rootsnap";

/** The Node the package's rootsnap runs on. */
export const DEFAULT_NODE = "/usr/bin/node";

/** The argv prefix units, hooks and the boot plan run when setup is not told otherwise. */
export const DEFAULT_PROGRAM: readonly string[] = [DEFAULT_NODE, DEFAULT_EXECUTABLE];
