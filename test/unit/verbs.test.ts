// Walks the verb table: every verb parses a minimal command line, shows its own help, and
// dispatch reaches the function of its module that the table names.
import assert from "node:assert/strict";
import { test } from "node:test";
import { main, type Io } from "../../src/cli/app.ts";
import { parseCommandLine } from "../../src/cli/args.ts";
import { VERB_NAMES, VERBS, type Verb, type VerbName } from "../../src/cli/verbs.ts";
import { SIZE_SYNTAX } from "../../src/sets/size.ts";
import { SET_KINDS } from "../../src/sets/tags.ts";
import { ExitCode, RootsnapError } from "../../src/system/errors.ts";
import { fakeLvm, sample, testIo, type TestIo } from "./helpers.ts";

const SETS = "handwritten-lvm2-2.03.16/two-vgs/sets";

/** The shortest command line each verb takes: a verb added to the table needs one here. */
const MINIMAL = {
  create: ["create"],
  list: ["list"],
  show: ["show", "nightly"],
  remove: ["remove", "nightly", "--yes"],
  revert: ["revert", "nightly", "--yes"],
  status: ["status"],
  repair: ["repair"],
  setup: ["setup"],
  uninstall: ["uninstall"],
  "next-boot": ["next-boot"],
  doctor: ["doctor"],
  mount: ["mount", "nightly"],
  umount: ["umount", "nightly"],
  backup: ["backup", "--to", "/nowhere/box.tar"],
  restore: ["restore", "/nowhere/box.tar", "--to", "/nowhere"],
  prune: ["prune"],
  watch: ["watch"],
  hook: ["hook", "apt"],
  "boot-entry": ["boot-entry"],
  "boot-finish": ["boot-finish"],
} satisfies Record<VerbName, readonly string[]>;

async function run(
  argv: readonly string[],
  overrides: Partial<Io> = {},
): Promise<[number, TestIo]> {
  const fake = fakeLvm({
    lvs: sample(`${SETS}/lvs.json`),
    vgs: sample(`${SETS}/vgs.json`),
    dmTables: {},
    failures: {},
  });
  const io = testIo(fake.runner, overrides);
  return [await main(argv, io), io];
}

/** Text with every run of blanks and line breaks made one space: usage lines wrap. */
function flat(text: string): string {
  return text.replace(/\s+/g, " ");
}

function assertFits(text: string, what: string): void {
  for (const line of text.split("\n"))
    assert.ok(line.length <= 80, `${what}: a line of ${line.length} columns: ${line}`);
}

test("every verb of the table parses its minimal command line", () => {
  for (const name of VERB_NAMES) {
    const call = parseCommandLine(MINIMAL[name]);
    assert.equal(call.kind, "verb", name);
    assert.equal(call.kind === "verb" ? call.verb : undefined, name);
  }
});

test("VERB --help and help VERB show the verb's usage, summary and options, exit 0", async () => {
  for (const name of VERB_NAMES) {
    const verb: Verb = VERBS[name];
    assert.ok(verb.usage.startsWith(name), `${name}'s usage starts with its name`);
    const [code, io] = await run([name, "--help"], { geteuid: () => 1000 });
    assert.equal(code, 0, `${name} --help: ${io.stderrText}`);
    assert.equal(io.stderrText, "", `${name} --help prints nothing on stderr`);
    const help = io.stdoutText;
    assert.match(help, new RegExp(`^Usage: rootsnap ${name}`), name);
    assert.ok(flat(help).includes(`rootsnap ${verb.usage}`), `${name}: ${help}`);
    assert.ok(flat(help).toLowerCase().includes(verb.summary.toLowerCase()), `${name}: summary`);
    assert.ok(flat(help).includes(flat(verb.description)), `${name}: description`);
    for (const option of Object.keys(verb.options))
      assert.match(help, new RegExp(`^  --${option}\\b`, "m"), `${name} --help lists --${option}`);
    for (const option of verb.globals)
      assert.match(help, new RegExp(`^  (-\\w, )?--${option}\\b`, "m"), `${name}: --${option}`);
    assertFits(help, `${name} --help`);
    const [again, other] = await run(["help", name]);
    assert.equal(again, 0);
    assert.equal(other.stdoutText, help, `help ${name} is ${name} --help`);
  }
});

test("rootsnap --help lists every verb people run, the syntax, --wait and the exit codes", async () => {
  const [code, io] = await run(["--help"], { geteuid: () => 1000 });
  assert.equal(code, 0);
  const help = io.stdoutText;
  assert.match(help, /^Usage: rootsnap \[--json\] \[--config FILE\] \[--dry-run\] \[--yes\]/);
  for (const name of VERB_NAMES) {
    const verb: Verb = VERBS[name];
    if (verb.hidden) assert.doesNotMatch(help, new RegExp(`^  ${name}\\b`, "m"), name);
    else assert.match(help, new RegExp(`^  ${verb.usage.replace(/[[\]|.]/g, "\\$&")}`, "m"));
    for (const form of verb.forms) assert.ok(help.includes(`  ${form.usage}\n`), form.usage);
  }
  const text = flat(help);
  assert.ok(text.includes(`POLICY: ${SIZE_SYNTAX}.`));
  assert.ok(text.includes(`KIND: ${SET_KINDS.join(", ")}.`));
  assert.ok(text.includes("--wait SECONDS how long a verb that changes LVM waits for another"));
  assert.ok(
    text.includes(
      "Exit codes: 0 ok, 1 failed, 64 usage, 65 bad data, 69 program missing, 70 internal, 73 no space, 75 another rootsnap runs, 77 not root (setup: a program others can replace), 78 bad configuration.",
    ),
  );
  assertFits(help, "--help");
  const [, plain] = await run(["help"]);
  assert.equal(plain.stdoutText, help, "help is --help");
});

test("help for a verb that does not exist is a usage error, with the nearest verb", async () => {
  const [code, io] = await run(["help", "lsit"]);
  assert.equal(code, ExitCode.usage);
  assert.equal(io.stdoutText, "");
  assert.match(io.stderrText, /^rootsnap: error: unknown verb "lsit" \(hint: did you mean list\?/);
  const [far, farIo] = await run(["frobnicate"]);
  assert.equal(far, ExitCode.usage);
  assert.doesNotMatch(farIo.stderrText, /did you mean/);
  const [extra] = await run(["help", "list", "show"]);
  assert.equal(extra, ExitCode.usage);
});

test("a verb takes the lock, or takes it itself, exactly when --wait applies to it", () => {
  for (const name of VERB_NAMES) {
    const verb: Verb = VERBS[name];
    assert.equal(verb.globals.includes("wait"), verb.lock !== "never", name);
  }
});

class Reached extends RootsnapError {
  constructor(readonly where: string) {
    super(ExitCode.failed, `reached ${where}`);
  }
}

/**
 * The verb's real module, checked to export the function the table names, handed on
 * with every function replaced by one that stops the run with Reached.
 */
function standIn(reached: string[]): NonNullable<Io["loadVerb"]> {
  return async (verb, load) => {
    const module = (await load()) as Record<string, unknown>;
    const named = VERBS[verb as VerbName].implementation;
    assert.equal(typeof module[named], "function", `${verb}'s module exports ${named}`);
    return new Proxy(module, {
      get: (target, key) =>
        typeof target[key as string] === "function"
          ? () => {
              reached.push(`${verb}.${String(key)}`);
              throw new Reached(`${verb}.${String(key)}`);
            }
          : target[key as string],
    });
  };
}

test("dispatch reaches the function of each verb's module that the table names", async () => {
  for (const name of VERB_NAMES) {
    const reached: string[] = [];
    const [code, io] = await run(MINIMAL[name], { loadVerb: standIn(reached) });
    const where = `${name}.${VERBS[name].implementation}`;
    assert.equal(code, ExitCode.failed, `${name}: ${io.stderrText}`);
    assert.deepEqual(reached, [where], name);
    assert.match(
      io.stderrText,
      new RegExp(`rootsnap: error: reached ${where.replace(".", "\\.")}`),
    );
  }
});
