// rootsnap setup: every path it writes reads back as that path in each file format (systemd,
// apt, pacman, dnf), the program it installs must be root's alone, and a setup that fails
// half-way puts back everything it had changed.
import assert from "node:assert/strict";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test, type TestContext } from "node:test";
import type { BootFiles } from "../../src/system/files.ts";
import {
  interruptedSetup,
  readState,
  setupBoot,
  uninstallBoot,
  STATE_PATH,
} from "../../src/boot/install.ts";
import {
  inexpressiblePath,
  locationProblem,
  requireTrustedProgram,
  type PathEntry,
  type PathInspector,
} from "../../src/boot/program.ts";
import {
  aptConfString,
  dnfWord,
  execLine,
  pacmanWord,
  systemdQuote,
} from "../../src/boot/quote.ts";
import { unitFiles } from "../../src/boot/units.ts";
import { BOOT_PLAN_PATH } from "../../src/boot/plan.ts";
import { main } from "../../src/cli/app.ts";
import { keepBootPlan } from "../../src/lifecycle/boot-plan.ts";
import { RootsnapError } from "../../src/system/errors.ts";
import { lifecycleFiles } from "../../src/boot/lifecycle-units.ts";
import { run } from "../../src/system/runner.ts";
import {
  changes,
  fakeLvm,
  fakeRunner,
  GRUB,
  GRUB_TOOLS,
  memoryFiles,
  sample,
  testContext,
  testIo,
  type Reply,
  testEffects,
} from "./helpers.ts";

/** A fresh directory under the system's temporary directory, removed after the test. */
function scratch(t: TestContext, mode = 0o755): string {
  const dir = mkdtempSync(join(tmpdir(), "rootsnap-setup-"));
  chmodSync(dir, mode);
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A program anyone can replace: root's own file in a world-writable directory. */
function untrusted(t: TestContext): { dir: string; program: string } {
  const dir = scratch(t, 0o1777);
  const program = join(dir, "rootsnap");
  writeFileSync(program, "#!/bin/sh\n");
  chmodSync(program, 0o755);
  return { dir, program };
}

/** Whether a program this test needs is here; under CI its absence fails the test. */
async function have(t: TestContext, program: string): Promise<boolean> {
  const found = await run(["sh", "-c", `command -v ${program}`]).then(
    () => true,
    () => false,
  );
  if (found) return true;
  if (process.env.CI) assert.fail(`${program} is needed for this test`);
  t.skip(`${program} not found`);
  return false;
}

/** A stand-in program that writes its arguments, one a line, to `log`. */
function standIn(path: string, log: string): void {
  writeFileSync(path, `#!/bin/sh\nprintf '%s\\n' "$@" >'${log}'\n`);
  chmodSync(path, 0o755);
}

// Words that break naive quoting in one format or another.
const NASTY = [
  "/opt/root snap/rootsnap",
  '/a "quoted" b',
  "/back\\slash\\",
  "/per%cent%%/x%41",
  "/dollar$HOME/${x}/$$",
  "/semi;colon ; touch /tmp/owned;",
  "/new\nline\ttab",
  "/it's",
  "",
];

/** systemd's reading of a command line (systemd.service(5)): specifiers, quotes, C escapes, `$$`. */
function systemdWords(line: string): string[] {
  const text = line.replace(/%(.)/g, (_, c: string) => {
    assert.equal(c, "%", `unexpected specifier %${c} in ${line}`);
    return "%";
  });
  const escapes: Record<string, string> = {
    n: "\n",
    t: "\t",
    r: "\r",
    "\\": "\\",
    '"': '"',
    "'": "'",
  };
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (/\s/.test(text[i] ?? "")) {
      i += 1;
      continue;
    }
    const quote = text[i] === '"' || text[i] === "'" ? text[i] : undefined;
    if (quote !== undefined) i += 1;
    let word = "";
    for (; i < text.length; i += 1) {
      const c = text[i] ?? "";
      if (quote === undefined ? /\s/.test(c) : c === quote) break;
      if (c !== "\\") {
        word += c;
        continue;
      }
      const next = text[i + 1] ?? "";
      if (next === "x") {
        word += String.fromCharCode(parseInt(text.slice(i + 2, i + 4), 16));
        i += 3;
      } else {
        assert.ok(escapes[next] !== undefined, `unknown escape \\${next} in ${line}`);
        word += escapes[next];
        i += 1;
      }
    }
    if (quote !== undefined) {
      assert.equal(text[i], quote, `unclosed quote in ${line}`);
      i += 1;
      assert.ok(i >= text.length || /\s/.test(text[i] ?? ""), `junk after a quote in ${line}`);
    }
    words.push(word);
  }
  return words.map((word, n) => (n === 0 ? word : word.replace(/\$\$/g, "$")));
}

test("systemdQuote: every nasty word reads back under systemd's rules", () => {
  for (const word of NASTY) {
    assert.deepEqual(
      systemdWords(execLine([word, word, "x"])),
      [word, word, "x"],
      JSON.stringify(word),
    );
  }
  assert.equal(systemdQuote("/usr/local/bin/rootsnap"), "/usr/local/bin/rootsnap");
  assert.equal(systemdQuote("a b%$"), '"a b%%$$"');
  assert.equal(systemdQuote("a b%$", "executable"), '"a b%%$"');
  assert.equal(systemdQuote('\\"\n'), '"\\\\\\"\\n"');
  assert.equal(systemdQuote(";"), '";"');
  assert.equal(systemdQuote(""), '""');
});

/** What `systemd-analyze verify` says of the units made for `program` ("" when it passes). */
async function verifyUnits(dir: string, program: readonly string[]): Promise<string> {
  const paths = unitFiles(program).map((unit) => {
    const path = join(dir, unit.name);
    writeFileSync(path, unit.text);
    return path;
  });
  return run(["systemd-analyze", "verify", ...paths]).then(
    () => "",
    (error: unknown) => String(error),
  );
}

test("systemd-analyze verify finds the program of a unit at a path with a space, %, $ and ;", async (t) => {
  if (!(await have(t, "systemd-analyze"))) return;
  const dir = scratch(t);
  mkdirSync(join(dir, "root snap"));
  const runner = join(dir, "root snap", "x%y$z;w");
  standIn(runner, "/dev/null");
  assert.equal(await verifyUnits(dir, [runner, runner]), "", "systemd finds the program");
});

test("units that run Node with a script that is not executable pass systemd-analyze verify", async (t) => {
  if (!(await have(t, "systemd-analyze"))) return;
  const dir = scratch(t);
  mkdirSync(join(dir, "my tools"));
  const script = join(dir, "my tools", "rootsnap.mjs");
  writeFileSync(script, "");
  chmodSync(script, 0o644);
  assert.equal(await verifyUnits(dir, [process.execPath, script]), "");
  // The script alone, as units named it before: systemd refuses it.
  assert.match(await verifyUnits(dir, [script]), /not executable/);
});

/**
 * For a runner and a script at each nasty place (as Node runs rootsnap's script): the shell
 * line `lineOf` reads out of its file, run by sh, runs the script with `argv` and nothing else.
 */
async function runsOnlyTheProgram(
  t: TestContext,
  names: readonly string[],
  lineOf: (program: readonly string[], dir: string) => Promise<string>,
  argv: readonly string[],
): Promise<void> {
  const dir = scratch(t);
  const log = join(dir, "argv");
  for (const name of names) {
    mkdirSync(join(dir, name));
    const runner = join(dir, name, "node");
    writeFileSync(runner, '#!/bin/sh\nexec /bin/sh "$@"\n');
    chmodSync(runner, 0o755);
    const script = join(dir, name, "rootsnap.mjs");
    standIn(script, log);
    chmodSync(script, 0o644);
    const program = [runner, script];
    const ran = await run(["/bin/sh", "-c", await lineOf(program, dir)], { cwd: dir }).then(
      () => "",
      (error: unknown) => String(error),
    );
    assert.ok(!existsSync(join(dir, "owned")), `${name}: the line ran another command`);
    assert.equal(ran, "", name);
    assert.equal(readFileSync(log, "utf8"), argv.map((word) => `${word}\n`).join(""), name);
    rmSync(log);
  }
}

// Paths that ran `touch` before they were quoted, or substitute a command or a variable.
const INJECTIONS = ["a b;touch owned;", "$(touch owned)", "`touch owned`", "100%x $HOME %41"];

test("the boot unit's sh -c line runs the program with its own arguments, whatever its path", async (t) => {
  await runsOnlyTheProgram(
    t,
    INJECTIONS,
    (program) => {
      const [boot] = unitFiles(program);
      const exec = /^ExecStart=(.*)$/m.exec(boot?.text ?? "")?.[1] ?? "";
      const [sh, flag, script] = systemdWords(exec);
      assert.deepEqual([sh, flag], ["/bin/sh", "-c"]);
      return Promise.resolve(script ?? "");
    },
    ["create", "--kind", "boot"],
  );
});

test("the apt hook, read by apt-config and run by sh, runs only the program", async (t) => {
  if (!(await have(t, "apt-config"))) return;
  await runsOnlyTheProgram(
    t,
    [...INJECTIONS, "%25 100%"],
    async (program, dir) => {
      const [hook] = lifecycleFiles(program, { managers: ["apt"], schedule: undefined });
      const conf = join(dir, "80rootsnap");
      writeFileSync(conf, hook?.text ?? "");
      const dump = await run(["apt-config", "-c", conf, "dump", "DPkg::Pre-Invoke"]);
      const value = /^DPkg::Pre-Invoke:: "(.*)";$/m.exec(dump.stdout)?.[1];
      assert.ok(value !== undefined, dump.stdout);
      return value;
    },
    ["hook", "apt"],
  );
  assert.equal(aptConfString('say "100%"'), '"say %22100%25%22"');
});

/** alpm's word split of a hook's Exec (quotes group; a backslash escapes the quote it precedes). */
function alpmWords(value: string): string[] {
  const words: string[] = [];
  for (let i = 0; i < value.length;) {
    if (/\s/.test(value[i] ?? "")) {
      i += 1;
      continue;
    }
    let word = "";
    for (; i < value.length && !/\s/.test(value[i] ?? ""); i += 1) {
      const c = value[i] ?? "";
      if (c === "'" || c === '"') {
        for (i += 1; value[i] !== c; i += 1) {
          assert.ok(i < value.length, `unbalanced quote in ${value}`);
          if (value[i] === "\\" && value[i + 1] === c) i += 1;
          word += value[i] ?? "";
        }
      } else {
        if (c === "\\" && (value[i + 1] === "'" || value[i + 1] === '"')) i += 1;
        word += value[i] ?? "";
      }
    }
    words.push(word);
  }
  return words;
}

/** dnf5's reading of an actions command: split on unescaped spaces, `${` substituted, then unescaped. */
function dnfWords(command: string): string[] {
  const words = command.match(/(?:\\.|[^ \\])+/g) ?? [];
  return words.map((word) => {
    assert.ok(!word.includes("${"), `dnf would substitute a variable in ${word}`);
    return word.replace(/\\(.)/g, "$1");
  });
}

test("the pacman and dnf hooks carry the program's path as one word", () => {
  for (const dir of ["/opt/root snap", "/a  b/${pid}/$x/100%/#1", "/usr/bin"]) {
    const program = [`${dir}/node`, `${dir}/rootsnap`];
    const files = lifecycleFiles(program, { managers: ["pacman", "dnf"], schedule: undefined });
    const pacman = /^Exec = (.*)$/m.exec(files[0]?.text ?? "")?.[1] ?? "";
    assert.deepEqual(alpmWords(pacman), [...program, "hook", "pacman"], pacman);
    const dnf = /^pre_transaction::::(.*)$/m.exec(files[1]?.text ?? "")?.[1] ?? "";
    assert.deepEqual(dnfWords(dnf), [...program, "hook", "dnf"], dnf);
  }
  assert.equal(pacmanWord("/usr/bin/rootsnap"), "/usr/bin/rootsnap");
  assert.equal(dnfWord("/a b/${x}"), "/a\\ b/\\$\\{x\\}");
});

test("a path that a unit or a hook cannot carry is refused", () => {
  for (const [path, why] of [
    ["/opt/new\nline/rootsnap", /control character/],
    ["/opt/tab\t/rootsnap", /control character/],
    ['/opt/"q"/rootsnap', /quote, which systemd refuses/],
    ["/opt/it's/rootsnap", /quote, which systemd refuses/],
    ["/opt/back\\slash/rootsnap", /backslash/],
  ] as const) {
    assert.match(inexpressiblePath(path, []) ?? "", why, JSON.stringify(path));
  }
  assert.equal(inexpressiblePath("/opt/a:b/rootsnap", ["apt"]), undefined);
  assert.match(inexpressiblePath("/opt/a:b/rootsnap", ["dnf"]) ?? "", /colon/);
  assert.equal(
    inexpressiblePath("/opt/root snap/100%/$x/rootsnap", ["apt", "pacman", "dnf"]),
    undefined,
  );
});

/** An in-memory tree for the location check: path -> entry (and link target). */
function inspectorOf(
  tree: Record<string, Partial<PathEntry> & { target?: string }>,
): PathInspector {
  return {
    entry: (path) => {
      const node = tree[path];
      return Promise.resolve(
        node === undefined
          ? undefined
          : { kind: node.kind ?? "directory", uid: node.uid ?? 0, mode: node.mode ?? 0o755 },
      );
    },
    readlink: (path) => Promise.resolve(tree[path]?.target ?? ""),
  };
}

test("the location check passes a root-owned path, also through links, and names what is not", async () => {
  const tree = {
    "/": {},
    "/usr": {},
    "/usr/local": {},
    "/usr/local/bin": {},
    "/usr/local/bin/rootsnap": {
      kind: "symlink",
      mode: 0o777,
      target: "../lib/rootsnap/rootsnap.mjs",
    },
    "/usr/local/lib": {},
    "/usr/local/lib/rootsnap": {},
    "/usr/local/lib/rootsnap/rootsnap.mjs": { kind: "file" },
    "/opt": { uid: 1000 },
    "/opt/rootsnap": { kind: "file" },
  } as const;
  assert.equal(await locationProblem("/usr/local/bin/rootsnap", inspectorOf(tree)), undefined);
  assert.deepEqual(await locationProblem("/opt/rootsnap", inspectorOf(tree)), {
    path: "/opt",
    why: "is owned by uid 1000, not root",
  });
  const writableTarget = { ...tree, "/usr/local/lib/rootsnap": { mode: 0o775 } };
  assert.deepEqual(await locationProblem("/usr/local/bin/rootsnap", inspectorOf(writableTarget)), {
    path: "/usr/local/lib/rootsnap",
    why: "is writable by group",
  });
  const loop = { "/": {}, "/a": { kind: "symlink", target: "/a" } } as const;
  assert.match(
    (await locationProblem("/a", inspectorOf(loop)))?.why ?? "",
    /too many symbolic links/,
  );
  assert.match(
    (await locationProblem("/usr/local/nothing", inspectorOf(tree)))?.why ?? "",
    /does not exist/,
  );
});

test("setup checks the Node that runs the script too; the script need not be executable", async () => {
  const tree = {
    "/": {},
    "/usr": {},
    "/usr/bin": {},
    "/usr/bin/node": { kind: "file" },
    "/usr/bin/rootsnap": { kind: "file", mode: 0o644 },
    "/home": {},
    "/home/u": { uid: 1000 },
    "/home/u/node": { kind: "file" },
    "/opt": {},
    "/opt/node": { kind: "file", mode: 0o644 },
  } as const;
  const inspector = inspectorOf(tree);
  await requireTrustedProgram(["/usr/bin/node", "/usr/bin/rootsnap"], [], inspector);
  // The same file as the program itself: systemd would have to execute it.
  const alone = await failure(requireTrustedProgram(["/usr/bin/rootsnap"], [], inspector));
  assert.ok(alone instanceof RootsnapError && alone.exitCode === 77);
  assert.match(alone.message, /run \/usr\/bin\/rootsnap: it is not executable$/);
  const user = await failure(
    requireTrustedProgram(["/home/u/node", "/usr/bin/rootsnap"], [], inspector),
  );
  assert.ok(user instanceof RootsnapError && user.exitCode === 77);
  assert.equal(
    user.message,
    "rootsnap will not make root run its Node /home/u/node: /home/u is owned by uid 1000, not root, so another user could change what runs",
  );
  assert.match(user.hint ?? "", /^run setup with a Node only root can change/);
  const data = await failure(
    requireTrustedProgram(["/opt/node", "/usr/bin/rootsnap"], [], inspector),
  );
  assert.ok(data instanceof RootsnapError);
  assert.match(data.message, /its Node \/opt\/node: it is not executable$/);
  const quoted = await failure(
    requireTrustedProgram(["/usr/bin/node", "/opt/it's/rootsnap.mjs"], [], inspector),
  );
  assert.ok(quoted instanceof RootsnapError);
  assert.match(quoted.message, /run \/opt\/it's\/rootsnap\.mjs: its path has a quote/);
  const none = await failure(requireTrustedProgram([], [], inspector));
  assert.ok(none instanceof RootsnapError && none.exitCode === 77);
});

test("the location check on real directories: a non-root owner, o+w, g+w, links, a 0644 file", async (t) => {
  const base = scratch(t);
  const make = (path: string, mode: number, uid = 0): string => {
    mkdirSync(join(base, path), { recursive: true });
    chmodSync(join(base, path), mode);
    chownSync(join(base, path), uid, 0);
    return join(base, path);
  };
  const program = (dir: string, mode = 0o755): string => {
    const path = join(dir, "rootsnap");
    writeFileSync(path, "#!/bin/sh\n");
    chmodSync(path, mode);
    return path;
  };
  const nearest = async (path: string) => locationProblem(path);
  // Only what lies above the scratch directory (/tmp, sticky and world-writable) is wrong.
  const good = program(make("good", 0o755));
  const above = await nearest(good);
  assert.ok(above !== undefined && !above.path.startsWith(base), JSON.stringify(above));
  assert.deepEqual(await nearest(program(make("nobody", 0o755, 65534))), {
    path: join(base, "nobody"),
    why: "is owned by uid 65534, not root",
  });
  assert.deepEqual(await nearest(program(make("open", 0o1777))), {
    path: join(base, "open"),
    why: "is writable by group and others",
  });
  assert.deepEqual(await nearest(program(make("plain", 0o755), 0o775)), {
    path: join(base, "plain", "rootsnap"),
    why: "is writable by group",
  });
  assert.deepEqual(await nearest(program(make("data", 0o755), 0o644)), {
    path: join(base, "data", "rootsnap"),
    why: "is not executable",
  });
  // A link is as safe as where it lies and what it resolves to.
  symlinkSync("../good/rootsnap", join(make("links", 0o755), "to-good"));
  assert.deepEqual(await nearest(join(base, "links", "to-good")), above);
  symlinkSync(join(base, "nobody", "rootsnap"), join(base, "links", "to-nobody"));
  assert.equal((await nearest(join(base, "links", "to-nobody")))?.path, join(base, "nobody"));
  symlinkSync(good, join(make("open-links", 0o777), "to-good"));
  assert.equal(
    (await nearest(join(base, "open-links", "to-good")))?.path,
    join(base, "open-links"),
  );
  // The refusal: exit 77, naming the place and how to install it instead.
  const refused = await failure(requireTrustedProgram([join(base, "open", "rootsnap")], []));
  assert.ok(refused instanceof RootsnapError);
  assert.equal(refused.exitCode, 77);
  assert.match(
    refused.message,
    new RegExp(`${base}/open is writable by group and others, so another user`),
  );
  assert.match(
    refused.hint ?? "",
    /^install it root-owned: install -m 0755 .*open\/rootsnap \/usr\/local\/bin\/rootsnap/,
  );
  // The program file itself: put right where it is.
  const itself = await failure(requireTrustedProgram([join(base, "plain", "rootsnap")], []));
  assert.ok(itself instanceof RootsnapError);
  assert.match(
    itself.hint ?? "",
    /^make it root's alone: chown root \S*plain\/rootsnap && chmod 0755 /,
  );
});

/** The argv prefix the package's units run. */
const PROGRAM = ["/usr/bin/node", "/usr/bin/rootsnap"];

const GRUB_CFG = "menuentry 'Debian GNU/Linux' {\n}\n";
const WITH_ENTRY = `${GRUB_CFG}menuentry 'x' $menuentry_id_option 'rootsnap-boot' {\n}\n`;
/** A system setup runs on, with grub-mkconfig (or another step) answering as `fail` says. */
function system(fail: (argv: readonly string[]) => Reply | undefined = () => undefined) {
  const memory = memoryFiles({
    "/boot/grub/grub.cfg": GRUB_CFG,
    "/etc/default/grub": "GRUB_DEFAULT=0\n",
  });
  const active = new Set<string>();
  const fake = fakeRunner((argv) => {
    const failure = fail(argv);
    if (failure !== undefined) return failure;
    if (argv[0] === GRUB.mkconfig) memory.data.set(argv[2] ?? "", Buffer.from(WITH_ENTRY));
    if (argv[1] === "is-active")
      return {
        stdout: argv
          .slice(2)
          .map((u) => (active.has(u) ? "active\n" : "inactive\n"))
          .join(""),
      };
    return {};
  });
  return { ...memory, fake, active };
}

function lifecycle(schedule?: string) {
  return {
    files: lifecycleFiles(PROGRAM, { managers: ["apt"], schedule }),
    missingDirectories: ["/etc/apt/apt.conf.d"],
  };
}

function snapshot(data: Map<string, Buffer>): [string, string][] {
  return [...data.entries()].map(([k, v]): [string, string] => [k, v.toString("latin1")]).sort();
}

function systemctl(calls: readonly string[][]): string[] {
  return calls.filter((argv) => argv[0] === "systemctl").map((argv) => argv.slice(1).join(" "));
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail("it should have failed"),
    (error: unknown) => error,
  );
}

test("a setup whose grub-mkconfig, grub-script-check or systemctl enable fails leaves every file as before", async () => {
  const steps: [string, (argv: readonly string[]) => boolean][] = [
    ["grub-mkconfig", (argv) => argv[0] === GRUB.mkconfig],
    ["grub-script-check", (argv) => argv[0] === GRUB.scriptCheck],
    ["systemctl enable", (argv) => argv[1] === "enable"],
  ];
  for (const [what, fails] of steps) {
    const s = system((argv) => (fails(argv) ? { code: 1, stderr: `${what} broke` } : undefined));
    const before = snapshot(s.data);
    const warned: string[] = [];
    const error = await failure(
      setupBoot(
        s.files,
        testEffects(s.fake.runner, { files: s.files }),
        GRUB,
        PROGRAM,
        lifecycle("daily"),
        (m) => warned.push(m),
      ),
    );
    assert.ok(error instanceof RootsnapError && error.exitCode === 1, String(error));
    assert.match(
      error.message,
      new RegExp(`^\\S*${what}.* failed with exit code 1: ${what} broke$`),
    );
    assert.deepEqual(snapshot(s.data), before, `${what}: every file as before`);
    assert.equal(
      await s.files.isDirectory("/etc/apt/apt.conf.d"),
      false,
      "the hook directory is gone again",
    );
    assert.equal(await s.files.isDirectory("/etc/rootsnap"), false);
    assert.deepEqual(warned, [
      "setup failed and undid what it had changed: the system is as it was before",
    ]);
    const units =
      "rootsnap-prune.timer rootsnap-watch.service rootsnap-scheduled.timer rootsnap-boot.service rootsnap-finish.service";
    const started = "rootsnap-prune.timer rootsnap-watch.service rootsnap-scheduled.timer";
    const expected =
      what === "systemctl enable"
        ? ["daemon-reload", `enable ${units}`, `disable ${units}`, "daemon-reload"]
        : [
            "daemon-reload",
            `enable ${units}`,
            `restart ${started}`,
            `stop ${started}`,
            `reset-failed ${started}`,
            `disable ${units}`,
            "daemon-reload",
          ];
    assert.deepEqual(
      systemctl(s.fake.calls).filter((c) => !c.startsWith("is-active")),
      expected,
      what,
    );
  }
});

test("a re-run of setup that fails puts the previous install back", async () => {
  const s = system();
  await setupBoot(
    s.files,
    testEffects(s.fake.runner, { dryRun: false, files: s.files }),
    GRUB,
    PROGRAM,
    lifecycle(),
  );
  // What systemctl enable and restart did on the first run.
  for (const link of [
    "local-fs.target.wants/rootsnap-boot.service",
    "multi-user.target.wants/rootsnap-finish.service",
    "multi-user.target.wants/rootsnap-watch.service",
    "timers.target.wants/rootsnap-prune.timer",
  ])
    s.data.set(`/etc/systemd/system/${link}`, Buffer.from(""));
  s.active.add("rootsnap-watch.service").add("rootsnap-prune.timer");
  const installed = snapshot(s.data);
  const state = s.data.get(STATE_PATH)?.toString();
  s.fake.calls.length = 0;
  // Now with a schedule, and grub-mkconfig failing.
  const failing = fakeRunner((argv) => {
    if (argv[1] === "is-active")
      return {
        stdout: argv
          .slice(2)
          .map((u) => (s.active.has(u) ? "active\n" : "inactive\n"))
          .join(""),
      };
    return argv[0] === GRUB.mkconfig ? { code: 1 } : {};
  });
  await failure(
    setupBoot(
      s.files,
      testEffects(failing.runner, { files: s.files }),
      GRUB,
      PROGRAM,
      lifecycle("daily"),
    ),
  );
  assert.deepEqual(snapshot(s.data), installed, "the finished install, byte for byte");
  assert.equal(s.data.get(STATE_PATH)?.toString(), state);
  assert.equal(
    interruptedSetup(await readState(s.files)),
    null,
    "a finished setup, not a cut-off one",
  );
  assert.deepEqual(systemctl(failing.calls), [
    "is-active rootsnap-prune.timer rootsnap-watch.service rootsnap-scheduled.timer",
    "daemon-reload",
    "enable rootsnap-prune.timer rootsnap-watch.service rootsnap-scheduled.timer rootsnap-boot.service rootsnap-finish.service",
    "restart rootsnap-prune.timer rootsnap-watch.service rootsnap-scheduled.timer",
    "stop rootsnap-scheduled.timer",
    "reset-failed rootsnap-scheduled.timer",
    "disable rootsnap-scheduled.timer",
    "daemon-reload",
    "restart rootsnap-prune.timer rootsnap-watch.service",
  ]);
});

test("an undo that fails itself says what is left and keeps the record for uninstall", async () => {
  const s = system((argv) => (argv[0] === GRUB.mkconfig ? { code: 1 } : undefined));
  const stuck: BootFiles = {
    ...s.files,
    remove: (path) =>
      path === "/etc/systemd/system/rootsnap-boot.service"
        ? Promise.reject(new Error("read-only file system"))
        : s.files.remove(path),
  };
  const warned: string[] = [];
  await failure(
    setupBoot(
      stuck,
      testEffects(s.fake.runner, { dryRun: false, files: stuck }),
      GRUB,
      PROGRAM,
      lifecycle(),
      (m) => warned.push(m),
    ),
  );
  assert.equal(warned.length, 1);
  assert.match(
    warned[0] ?? "",
    /^setup failed, and could not undo all it had changed \(\/etc\/systemd\/system\/rootsnap-boot\.service: read-only file system\): .*rootsnap uninstall/,
  );
  assert.match(interruptedSetup(await readState(s.files)) ?? "", /rootsnap setup did not finish/);
  // uninstall then finishes it.
  await uninstallBoot(s.files, testEffects(s.fake.runner, { dryRun: false, files: s.files }), GRUB);
  assert.deepEqual([...s.data.keys()].sort(), ["/boot/grub/grub.cfg", "/etc/default/grub"]);
});

test("a missing /etc/grub.d is refused with exit 69 before anything is written", async () => {
  const s = system();
  await s.files.removeEmptyDirectory("/etc/grub.d");
  const before = snapshot(s.data);
  const error = await failure(
    setupBoot(
      s.files,
      testEffects(s.fake.runner, { dryRun: false, files: s.files }),
      GRUB,
      PROGRAM,
      lifecycle(),
    ),
  );
  assert.ok(error instanceof RootsnapError && error.exitCode === 69, String(error));
  assert.match(
    error.message,
    /^\/etc\/grub\.d does not exist: rootsnap setup writes 42_rootsnap there/,
  );
  assert.deepEqual(snapshot(s.data), before);
  assert.deepEqual(systemctl(s.fake.calls), [], "no systemctl ran");
});

test("uninstall removes what an older setup wrote, unquoted", async () => {
  const old = {
    "/etc/systemd/system/rootsnap-finish.service":
      "[Service]\nExecStart=/usr/local/bin/rootsnap boot-finish\n[Install]\nWantedBy=multi-user.target\n",
    "/etc/systemd/system/rootsnap-watch.service":
      "[Service]\nExecStart=/usr/local/bin/rootsnap watch --follow\n[Install]\nWantedBy=multi-user.target\n",
    "/etc/apt/apt.conf.d/80rootsnap":
      'DPkg::Pre-Invoke { "if [ -x /usr/local/bin/rootsnap ]; then /usr/local/bin/rootsnap hook apt; fi"; };\n',
    "/etc/rootsnap/boot-plan.sh": "#!/bin/sh\n",
  };
  const { files, data } = memoryFiles({ "/boot/grub/grub.cfg": GRUB_CFG, ...old });
  const fake = fakeRunner(() => ({}));
  await uninstallBoot(files, testEffects(fake.runner, { dryRun: false, files: files }), GRUB);
  assert.deepEqual([...data.keys()], ["/boot/grub/grub.cfg"]);
  assert.deepEqual(systemctl(fake.calls), [
    "disable --now rootsnap-finish.service rootsnap-watch.service",
    "reset-failed rootsnap-finish.service rootsnap-watch.service",
    "daemon-reload",
  ]);
});

/** The CLI over `files`, with / on an LV of the recorded two-VG system; its lock dir removed after. */
function setupCli(
  t: TestContext,
  files: BootFiles,
  program?: () => readonly string[],
): { fake: ReturnType<typeof fakeLvm>; io: ReturnType<typeof testIo> } {
  const fake = fakeLvm({
    lvs: sample("handwritten-lvm2-2.03.16/two-vgs/sets/lvs.json"),
    vgs: sample("handwritten-lvm2-2.03.16/two-vgs/sets/vgs.json"),
    dmTables: {},
    failures: {},
  });
  const io = testIo(
    fake.runner,
    program === undefined ? { bootFiles: files } : { bootFiles: files, program },
  );
  t.after(() => {
    rmSync(dirname(io.lockPath), { recursive: true, force: true });
  });
  return { fake, io };
}

test("setup, also a dry run, refuses a program in a world-writable directory: exit 77, one line, nothing run", async (t) => {
  const { dir, program } = untrusted(t);
  for (const argv of [
    ["setup", "--yes"],
    ["setup", "--dry-run"],
  ]) {
    const { files, data } = memoryFiles({
      ...GRUB_TOOLS,
      "/boot/grub/grub.cfg": GRUB_CFG,
      "/usr/sbin/update-initramfs": "",
    });
    await files.makeDirectory("/etc/initramfs-tools");
    const before = snapshot(data);
    const { fake, io } = setupCli(t, files, () => ["/bin/sh", program]);
    const code = await main(argv, io);
    assert.equal(code, 77, io.stderrText);
    assert.equal(io.stderrText.trimEnd().split("\n").length, 1, io.stderrText);
    assert.match(
      io.stderrText,
      new RegExp(
        `^rootsnap: error: rootsnap will not make root run ${program}: ${dir} is writable by group and others`,
      ),
    );
    assert.equal(io.stdoutText, "");
    assert.deepEqual(snapshot(data), before, "nothing written");
    assert.deepEqual(
      fake.calls.filter((c) => c[0] !== "lvs" && c[0] !== "vgs"),
      [],
      "nothing run",
    );
  }
});

test("next-boot and boot-finish write no boot plan that hands over to an untrusted program", async (t) => {
  const { program } = untrusted(t);
  // As setup records it, and as a setup before the Node prefix did.
  for (const state of [{ program: ["/bin/sh", program] }, { executable: program }]) {
    const { files, data } = memoryFiles({
      "/etc/systemd/system/rootsnap-boot.service": "[Service]\n",
      [STATE_PATH]: JSON.stringify(state),
    });
    const fake = fakeRunner(() => ({}));
    const context = testContext(fake.runner);
    const kept = await keepBootPlan(context, files, PROGRAM);
    assert.equal(kept.warnings.length, 1);
    assert.match(
      kept.warnings[0] ?? "",
      new RegExp(`not updated: rootsnap will not make root run ${program}`),
    );
    assert.ok(!data.has(BOOT_PLAN_PATH), "no plan written");
    assert.deepEqual(fake.calls, [], "nothing planned");
  }
});

test("setup on a stack with no initramfs generator rootsnap knows: exit 69, one line naming it, nothing changed", async (t) => {
  const { files, data } = memoryFiles({ ...GRUB_TOOLS, "/boot/grub/grub.cfg": GRUB_CFG });
  const before = snapshot(data);
  const { fake, io } = setupCli(t, files);
  const code = await main(["setup", "--yes"], io);
  assert.equal(code, 69, io.stderrText);
  assert.equal(io.stderrText.trimEnd().split("\n").length, 1, io.stderrText);
  assert.match(
    io.stderrText,
    /^rootsnap: error: no initramfs generator rootsnap knows is installed \(update-initramfs, dracut or mkinitcpio\)/,
  );
  assert.deepEqual(snapshot(data), before);
  assert.deepEqual(changes(fake.calls), []);
});
