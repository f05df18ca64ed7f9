// What setup installs for the lifecycle: a pre-update hook for each package manager
// present, timers for scheduled sets and pruning, and the watchdog service.
import { aptConfString, dnfWord, execLine, pacmanWord } from "./quote.ts";
import { FINISH_UNIT } from "./units.ts";
import { shellQuote } from "../system/runner.ts";

export type PackageManager = "apt" | "pacman" | "dnf";

export interface LifecycleFile {
  readonly path: string;
  readonly text: string;
  readonly mode: number;
  /** For units: the target `systemctl enable` links it into. */
  readonly wantedBy?: string;
}

export interface LifecycleOptions {
  /** Package managers found on this system. */
  readonly managers: readonly PackageManager[];
  /** OnCalendar= of scheduled sets, or undefined for none. */
  readonly schedule: string | undefined;
}

const HEADER = "Installed by rootsnap setup, removed by rootsnap uninstall.";

/** Where each package manager reads its hooks, and what the hook says. */
function hookFile(manager: PackageManager, program: readonly string[]): LifecycleFile {
  switch (manager) {
    case "apt": {
      // Runs once before apt hands packages to dpkg; a failing command would stop apt,
      // so rootsnap decides itself whether to fail (hooks.on-failure).
      const [runner = "", ...rest] = program.map(shellQuote);
      // A removed rootsnap (or Node) without uninstall must not stop every apt run.
      const present = [`[ -x ${runner} ]`, ...rest.map((word) => `[ -f ${word} ]`)].join(" && ");
      const line = `if ${present}; then ${[runner, ...rest].join(" ")} hook apt; fi`;
      return {
        path: "/etc/apt/apt.conf.d/80rootsnap",
        text: `// ${HEADER}\nDPkg::Pre-Invoke { ${aptConfString(line)}; };\n`,
        mode: 0o644,
      };
    }
    case "pacman":
      return {
        path: "/etc/pacman.d/hooks/00-rootsnap.hook",
        text: `# ${HEADER}
[Trigger]
Operation = Install
Operation = Upgrade
Operation = Remove
Type = Package
Target = *

[Action]
Description = rootsnap: snapshot set before the transaction
When = PreTransaction
Exec = ${program.map(pacmanWord).join(" ")} hook pacman
NeedsTargets
`,
        mode: 0o644,
      };
    case "dnf":
      return {
        path: "/etc/dnf/libdnf5-plugins/actions.d/rootsnap.actions",
        text: `# ${HEADER}\npre_transaction::::${program.map(dnfWord).join(" ")} hook dnf\n`,
        mode: 0o644,
      };
  }
}

function service(description: string, exec: string, extra = ""): string {
  return `# ${HEADER}
[Unit]
Description=${description}
# A set of an origin still merging is refused: after a revert boot, boot-finish goes first.
After=local-fs.target ${FINISH_UNIT}

[Service]
Type=oneshot
ExecStart=${exec}
${extra}`;
}

function timer(description: string, onCalendar: string): string {
  return `# ${HEADER}
[Unit]
Description=${description}

[Timer]
OnCalendar=${onCalendar}
Persistent=true
# Sets are taken when the calendar says, not within systemd's default minute of slack.
AccuracySec=1s

[Install]
WantedBy=timers.target
`;
}

/** `program` is the argv prefix that runs rootsnap (Node and the script). */
export function lifecycleFiles(
  program: readonly string[],
  options: LifecycleOptions,
): LifecycleFile[] {
  const dir = "/etc/systemd/system";
  const files: LifecycleFile[] = options.managers.map((m) => hookFile(m, program));
  files.push(
    {
      path: `${dir}/rootsnap-prune.service`,
      text: service(
        "rootsnap: remove sets the retention policy lets go",
        execLine([...program, "prune", "--yes"]),
      ),
      mode: 0o644,
    },
    {
      path: `${dir}/rootsnap-prune.timer`,
      text: timer("rootsnap: prune sets hourly", "hourly"),
      mode: 0o644,
      wantedBy: "timers.target",
    },
    {
      path: `${dir}/rootsnap-watch.service`,
      text: `# ${HEADER}
[Unit]
Description=rootsnap watchdog: keeps snapshots from overflowing
After=local-fs.target lvm2-monitor.service

[Service]
Type=exec
ExecStart=${execLine([...program, "watch", "--follow"])}
Restart=on-failure
RestartSec=30s

[Install]
WantedBy=multi-user.target
`,
      mode: 0o644,
      wantedBy: "multi-user.target",
    },
  );
  if (options.schedule !== undefined) {
    files.push(
      {
        path: `${dir}/rootsnap-scheduled.service`,
        text: service(
          "rootsnap: scheduled snapshot set",
          execLine([...program, "create", "--kind", "scheduled"]),
        ),
        mode: 0o644,
      },
      {
        path: `${dir}/rootsnap-scheduled.timer`,
        text: timer("rootsnap: scheduled snapshot sets", options.schedule),
        mode: 0o644,
        wantedBy: "timers.target",
      },
    );
  }
  return files;
}

/** The program whose presence means a package manager is used here, and where its hook goes. */
const MANAGER_PROGRAMS: Record<PackageManager, { program: string; hookDir: string }> = {
  apt: { program: "/usr/bin/apt-get", hookDir: "/etc/apt/apt.conf.d" },
  pacman: { program: "/usr/bin/pacman", hookDir: "/etc/pacman.d/hooks" },
  // dnf5 reads actions only with its actions plugin installed, which makes this directory.
  dnf: { program: "/usr/bin/dnf5", hookDir: "/etc/dnf/libdnf5-plugins/actions.d" },
};

export const ALL_MANAGERS = Object.keys(MANAGER_PROGRAMS) as PackageManager[];

/** Package managers found here, and the hook directories setup must create. */
export async function detectManagers(
  exists: (path: string) => Promise<boolean>,
): Promise<{ managers: PackageManager[]; missingDirectories: string[] }> {
  const managers: PackageManager[] = [];
  const missingDirectories: string[] = [];
  for (const manager of ALL_MANAGERS) {
    const { program, hookDir } = MANAGER_PROGRAMS[manager];
    if (!(await exists(program))) continue;
    if (!(await exists(hookDir))) {
      if (manager === "dnf") continue;
      missingDirectories.push(hookDir);
    }
    managers.push(manager);
  }
  return { managers, missingDirectories };
}

/** Every path setup may have written for the lifecycle, whatever the config said then. */
export function lifecyclePaths(): string[] {
  return lifecycleFiles([], { managers: ALL_MANAGERS, schedule: "daily" }).map((f) => f.path);
}

/** Timers and the watchdog start at once; the services the timers run are only started by them. */
export function startsNow(path: string): boolean {
  return path.endsWith(".timer") || path.endsWith("/rootsnap-watch.service");
}
