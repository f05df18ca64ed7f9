// The help, the man pages and the completions are made from the verb table: walks it and
// fails when a verb, an option or a configuration key is missing from any of them.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { main } from "../../src/cli/app.ts";
import { assets } from "../../src/cli/assets.ts";
import { completionVerbs, leadingOptions } from "../../src/cli/completions.ts";
import { exitsOf, MANUAL } from "../../src/cli/manual.ts";
import { GLOBAL_OPTIONS } from "../../src/cli/options.ts";
import { VERB_NAMES, VERBS } from "../../src/cli/verbs.ts";
import { DEFAULTS_KEYS, TOP_KEYS, VOLUME_KEYS } from "../../src/config/config.ts";
import { CONFIG_KEYS } from "../../src/config/keys.ts";
import {
  HOOKS_KEYS,
  RETENTION_KEYS,
  SCHEDULE_KEYS,
  WATCHDOG_KEYS,
} from "../../src/config/lifecycle.ts";
import { fakeLvm, sample, testIo } from "./helpers.ts";

const files = Object.fromEntries(assets("9.9.9", "2026-01-01").map((a) => [a.path, a.text]));
const page = (path: string): string => {
  const text = files[path];
  assert.ok(text !== undefined, `${path} is made`);
  return text;
};
/** man(7) source with its escapes undone, as a reader would search it. */
const plain = (roff: string): string => roff.replace(/\\-/g, "-").replace(/\\e/g, "\\");

const visible = VERB_NAMES.filter((name) => !VERBS[name].hidden);

async function helpOf(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = testIo(fakeLvm({ lvs: "", vgs: "", dmTables: {}, failures: {} }).runner, {
    geteuid: () => 1000,
  });
  const code = await main(argv, io);
  return { code, out: io.stdoutText, err: io.stderrText };
}

function have(t: TestContext, program: string): boolean {
  if (spawnSync("sh", ["-c", `command -v ${program}`]).status === 0) return true;
  if (process.env.CI) assert.fail(`${program} is needed for this test`);
  t.skip(`${program} is not installed`);
  return false;
}

test("every visible verb and each of its options is in the man page, the completions and its help", async () => {
  const man = plain(page("man/rootsnap.8"));
  const bash = page("completions/rootsnap.bash");
  const zsh = page("completions/_rootsnap");
  const fish = page("completions/rootsnap.fish");
  const verbs = completionVerbs();
  assert.deepEqual(
    verbs.map((v) => v.name),
    visible,
  );
  for (const verb of verbs) {
    assert.match(man, new RegExp(`^\\.SS ${verb.name}\\b`, "m"), `${verb.name} in rootsnap(8)`);
    assert.ok(bash.includes(verb.name), `${verb.name} in the bash completion`);
    assert.match(zsh, new RegExp(`'${verb.name}:`), `${verb.name} in the zsh completion`);
    assert.match(fish, new RegExp(`-a ${verb.name}\\b`), `${verb.name} in the fish completion`);
    const help = await helpOf(["help", verb.name]);
    assert.equal(help.code, 0, help.err);
    assert.match(help.out, new RegExp(`^Usage: rootsnap ${verb.name}\\b`), `help ${verb.name}`);
    assert.deepEqual((await helpOf([verb.name, "--help"])).out, help.out, `${verb.name} --help`);
    for (const example of MANUAL[verb.name].examples)
      assert.ok(help.out.includes(example.command), `help ${verb.name} shows ${example.command}`);
    for (const code of exitsOf(verb.name))
      assert.match(
        help.out,
        new RegExp(`^ +${code} `, "m"),
        `help ${verb.name} lists exit ${code}`,
      );
    const maxWidth = Math.max(...help.out.split("\n").map((line) => line.length));
    assert.ok(maxWidth <= 80, `help ${verb.name} fits 80 columns (${maxWidth})`);
    for (const option of verb.options) {
      const flag = `--${option.name}`;
      if (option.name !== "help")
        assert.ok(help.out.includes(flag), `help ${verb.name} names ${flag}`);
      assert.ok(man.includes(flag), `rootsnap(8) names ${flag}`);
      assert.ok(bash.includes(flag), `the bash completion offers ${flag} for ${verb.name}`);
      assert.ok(zsh.includes(flag), `the zsh completion offers ${flag}`);
      assert.match(
        fish,
        new RegExp(`__fish_seen_subcommand_from ${verb.name}'.* -l ${option.name}\\b`),
        `the fish completion offers ${flag} after ${verb.name}`,
      );
    }
  }
  for (const option of leadingOptions()) {
    assert.ok(man.includes(`--${option.name}`), `rootsnap(8) names --${option.name}`);
    assert.ok(bash.includes(`--${option.name}`), `bash offers --${option.name}`);
  }
});

test("every global option is in rootsnap(8)'s GLOBAL OPTIONS and in rootsnap --help", async () => {
  const man = plain(page("man/rootsnap.8"));
  const section = /^\.SH GLOBAL OPTIONS\n([\s\S]*?)^\.SH /m.exec(man)?.[1] ?? "";
  const help = (await helpOf(["--help"])).out;
  for (const name of Object.keys(GLOBAL_OPTIONS)) {
    assert.match(section, new RegExp(`^\\.B (-., )?--${name}\\b`, "m"), `--${name} in rootsnap(8)`);
    assert.match(help, new RegExp(`^ +(-., )?--${name}\\b`, "m"), `--${name} in --help`);
  }
});

test("every key the configuration reader accepts is in rootsnap.toml(5), with a type and a default", () => {
  const man = plain(page("man/rootsnap.toml.5"));
  const accepted: [string, readonly string[]][] = [
    ["defaults", DEFAULTS_KEYS],
    ["volumes", VOLUME_KEYS],
    ["retention", RETENTION_KEYS],
    ["watchdog", WATCHDOG_KEYS],
    ["hooks", HOOKS_KEYS],
    ["schedule", SCHEDULE_KEYS],
  ];
  assert.deepEqual(
    accepted.map(([table]) => table),
    TOP_KEYS,
  );
  for (const [table, keys] of accepted) {
    for (const key of keys) {
      const entry = CONFIG_KEYS.find((k) => k.table.split(".")[0] === table && k.key === key);
      assert.ok(entry !== undefined, `${table}.${key} is described`);
      assert.ok(entry.type !== "" && entry.default !== "", `${table}.${key} has type and default`);
      assert.ok(man.includes(key), `rootsnap.toml(5) names ${table}.${key}`);
    }
  }
  const described = CONFIG_KEYS.map((k) => `${k.table.split(".")[0] ?? ""}.${k.key}`);
  const real = accepted.flatMap(([table, keys]) => keys.map((key) => `${table}.${key}`));
  assert.deepEqual(
    described.filter((key) => !real.includes(key)),
    [],
    "no key described that the reader would refuse",
  );
});

test("an unknown verb or option is one line with the nearest one", async () => {
  const verb = await helpOf(["lsit"]);
  assert.equal(verb.code, 64);
  assert.match(verb.err, /^rootsnap: error: .*lsit.*did you mean list\?/);
  const option = await helpOf(["list", "--jsno"]);
  assert.equal(option.code, 64);
  assert.match(option.err, /did you mean --json\?/);
  assert.equal(option.err.trimEnd().split("\n").length, 1);
  const help = await helpOf(["help", "revrt"]);
  assert.equal(help.code, 64);
  assert.match(help.err, /did you mean revert\?/);
});

test("rootsnap --help and rootsnap help list every visible verb and no hidden one", async () => {
  const global = await helpOf(["--help"]);
  assert.equal((await helpOf(["help"])).out, global.out);
  for (const name of VERB_NAMES)
    assert.equal(
      new RegExp(`^  ${name} `, "m").test(global.out),
      !VERBS[name].hidden,
      `${name} in rootsnap --help`,
    );
});

test("both man pages pass mandoc -T lint", (t) => {
  if (!have(t, "mandoc")) return;
  const dir = mkdtempSync(join(tmpdir(), "rootsnap-man-"));
  try {
    for (const name of ["rootsnap.8", "rootsnap.toml.5"]) {
      writeFileSync(join(dir, name), page(`man/${name}`));
      const lint = spawnSync("mandoc", ["-T", "lint", "-W", "style", join(dir, name)], {
        encoding: "utf8",
      });
      assert.equal(`${lint.stdout}${lint.stderr}`, "", `mandoc -T lint ${name}`);
      assert.equal(lint.status, 0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A stand-in rootsnap on PATH whose `list --json` is the real document of the fake system. */
async function standIn(dir: string): Promise<void> {
  const fake = fakeLvm({
    lvs: sample("handwritten-lvm2-2.03.16/two-vgs/sets/lvs.json"),
    vgs: sample("handwritten-lvm2-2.03.16/two-vgs/sets/vgs.json"),
    dmTables: {},
    failures: {},
  });
  const io = testIo(fake.runner, { geteuid: () => 0 });
  assert.equal(await main(["list", "--json"], io), 0, io.stderrText);
  mkdirSync(join(dir, "bin"));
  writeFileSync(join(dir, "list.json"), io.stdoutText);
  writeFileSync(
    join(dir, "bin", "rootsnap"),
    `#!/bin/sh\n[ "$*" = "list --json" ] && exec cat '${join(dir, "list.json")}'\nexit 64\n`,
  );
  chmodSync(join(dir, "bin", "rootsnap"), 0o755);
}

function bashComplete(dir: string, line: string[]): string[] {
  writeFileSync(join(dir, "rootsnap.bash"), page("completions/rootsnap.bash"));
  const script = `source '${join(dir, "rootsnap.bash")}'
COMP_WORDS=(${line.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1))
_rootsnap; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const out = execFileSync("bash", ["--norc", "-c", script], {
    encoding: "utf8",
    cwd: dir,
    env: { PATH: `${join(dir, "bin")}:/usr/bin:/bin`, HOME: dir },
  });
  return out.split("\n").filter((w) => w !== "");
}

test("the bash completion completes verbs, options, set names, managers and paths", async (t) => {
  if (!have(t, "bash")) return;
  const dir = mkdtempSync(join(tmpdir(), "rootsnap-bash-"));
  try {
    await standIn(dir);
    assert.deepEqual(bashComplete(dir, ["rootsnap", "rev"]), ["revert"]);
    assert.deepEqual(bashComplete(dir, ["rootsnap", "list", "--js"]), ["--json"]);
    assert.deepEqual(bashComplete(dir, ["rootsnap", "hook", ""]).sort(), ["apt", "dnf", "pacman"]);
    assert.deepEqual(bashComplete(dir, ["rootsnap", "create", "--kind", "pre"]), ["pre-update"]);
    assert.deepEqual(bashComplete(dir, ["rootsnap", "show", ""]).sort(), [
      "before-upgrade",
      "nightly",
      "weekly",
    ]);
    writeFileSync(join(dir, "archive.tar.zst"), "");
    assert.deepEqual(bashComplete(dir, ["rootsnap", "backup", "nightly", "--to", "arch"]), [
      "archive.tar.zst",
    ]);
    assert.deepEqual(bashComplete(dir, ["rootsnap", "--config", "arch"]), ["archive.tar.zst"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * What zsh's completion system offers for the line, read from an interactive zsh in a
 * pseudo-terminal: every match handed to compadd is written to a file.
 */
const ZSH_CAPTURE = String.raw`
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT=''; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z "zstyle ':completion:*' list-grouped false; zstyle ':completion:*' insert-tab false"
zpty -w z 'compadd () { if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi; typeset -a hits; builtin compadd -A hits "$@"; (( $#hits )) && print -rl -- $hits >> '$1'/hits; builtin compadd "$@" }'
zpty -w z "bindkey '^I' complete-word; print READY"
zpty -r z line '*READY*'
zpty -r z line '*READY*'
zpty -w -n z "$2"$'\t\C-e\C-u'"print DONE"$'\n'
zpty -r z line '*DONE*'
zpty -r z line '*DONE*'
zpty -d z
`;

function zshComplete(dir: string, line: string): string[] {
  rmSync(join(dir, "hits"), { force: true });
  execFileSync("zsh", ["-f", join(dir, "capture.zsh"), dir, line], {
    cwd: dir,
    timeout: 30_000,
    env: { PATH: `${join(dir, "bin")}:/usr/bin:/bin`, HOME: dir, TERM: "dumb" },
  });
  const file = join(dir, "hits");
  if (!existsSync(file)) return [];
  // _files offers a file once per pattern it tries.
  return [
    ...new Set(
      readFileSync(file, "utf8")
        .split("\n")
        .filter((w) => w !== ""),
    ),
  ];
}

test("the zsh completion completes verbs, options, set names, managers and paths", async (t) => {
  if (!have(t, "zsh")) return;
  const dir = mkdtempSync(join(tmpdir(), "rootsnap-zsh-"));
  try {
    await standIn(dir);
    writeFileSync(join(dir, "_rootsnap"), page("completions/_rootsnap"));
    execFileSync("zsh", ["-n", join(dir, "_rootsnap")]);
    writeFileSync(join(dir, "capture.zsh"), ZSH_CAPTURE);
    assert.deepEqual(zshComplete(dir, "rootsnap rev"), ["revert"]);
    assert.deepEqual(zshComplete(dir, "rootsnap hook ").sort(), ["apt", "dnf", "pacman"]);
    assert.deepEqual(zshComplete(dir, "rootsnap list --js"), ["--json"]);
    assert.deepEqual(zshComplete(dir, "rootsnap create --kind=pre"), ["pre-update"]);
    // Set names need root; anyone else quietly gets none.
    const sets = zshComplete(dir, "rootsnap revert ").sort();
    if (process.geteuid?.() === 0) assert.deepEqual(sets, ["before-upgrade", "nightly", "weekly"]);
    else assert.deepEqual(sets, []);
    writeFileSync(join(dir, "archive.tar.zst"), "");
    assert.deepEqual(zshComplete(dir, "rootsnap backup nightly --to=arch"), ["archive.tar.zst"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the fish completion completes verbs, set names and managers", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "rootsnap-shells-"));
  try {
    if (!have(t, "fish")) return;
    await standIn(dir);
    writeFileSync(join(dir, "rootsnap.fish"), page("completions/rootsnap.fish"));
    const complete = (line: string): string[] =>
      execFileSync(
        "fish",
        ["--no-config", "-c", `source '${join(dir, "rootsnap.fish")}'; complete -C '${line}'`],
        { encoding: "utf8", env: { PATH: `${join(dir, "bin")}:/usr/bin:/bin`, HOME: dir } },
      )
        .split("\n")
        .filter((w) => w !== "")
        .map((w) => w.split("\t")[0] ?? "");
    assert.deepEqual(complete("rootsnap rev"), ["revert"]);
    assert.deepEqual(complete("rootsnap revert ").sort(), ["before-upgrade", "nightly", "weekly"]);
    assert.deepEqual(complete("rootsnap hook ").sort(), ["apt", "dnf", "pacman"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
