// The effects gate: in a dry run nothing reaches the system, and every change is listed in
// the order it was made, lvm's and the files' in one list.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Lvm } from "../../src/lvm/lvm.ts";
import { Effects } from "../../src/system/effects.ts";
import type { BootFiles } from "../../src/system/files.ts";
import { fakeRunner, memoryFiles } from "./helpers.ts";

/** Files whose every change fails the test: a dry run must not reach them. */
function untouchable(): BootFiles {
  const { files } = memoryFiles({ "/etc/kept": "kept\n" });
  const refuse = (what: string) => (): never => assert.fail(`a dry run called ${what}`);
  return {
    ...files,
    writeAtomic: refuse("writeAtomic"),
    remove: refuse("remove"),
    removeEmptyDirectory: refuse("removeEmptyDirectory"),
    makeDirectory: refuse("makeDirectory"),
    makePrivateDirectory: refuse("makePrivateDirectory"),
    createPrivateFile: refuse("createPrivateFile"),
    move: refuse("move"),
  };
}

async function everyChange(effects: Effects): Promise<string> {
  const lvm = new Lvm(effects);
  await lvm.change(["lvcreate", "--snapshot", "--name", "x", "vg0/root"]);
  await effects.writeFile("/etc/new", "text\n", 0o644);
  await effects.run(["systemctl", "daemon-reload"]);
  await effects.makeDirectory("/var/lib/x");
  await effects.makePrivateDirectory("/var/lib/y");
  const temp = await effects.createPrivateFile("/var/lib/y", "a.partial-", "/var/lib/y/a.partial");
  await effects.move(temp, "/var/lib/y/a");
  await effects.remove("/etc/kept");
  await effects.removeEmptyDirectory("/var/lib/x");
  await effects.writeFile("/etc/quiet", "", 0o600, null);
  return temp;
}

test("a dry run lists every change in order and makes none", async () => {
  const fake = fakeRunner(() => ({}));
  const traced: (readonly string[])[] = [];
  const effects = new Effects({
    runner: fake.runner,
    files: untouchable(),
    dryRun: true,
    trace: (argv) => traced.push(argv),
  });
  assert.equal(await everyChange(effects), "/var/lib/y/a.partial");
  assert.equal(await effects.read(["lvs"]), "", "a read runs in a dry run too");
  assert.deepEqual(fake.calls, [["lvs"]], "only the read ran");
  assert.deepEqual(traced, [["lvs"]], "-v shows what runs, not what a dry run lists");
  assert.deepEqual(effects.changes, [
    ["lvcreate", "--snapshot", "--name", "x", "vg0/root"],
    ["install", "-m", "644", "/dev/stdin", "/etc/new"],
    ["systemctl", "daemon-reload"],
    ["mv", "/var/lib/y/a.partial", "/var/lib/y/a"],
    ["rm", "/etc/kept"],
    ["rmdir", "/var/lib/x"],
  ]);
});

test("a real run makes each change and lists the same", async () => {
  const fake = fakeRunner(() => ({}));
  const { files, data } = memoryFiles({ "/etc/kept": "kept\n" });
  const effects = new Effects({ runner: fake.runner, files, dryRun: false });
  const temp = await everyChange(effects);
  assert.deepEqual(fake.calls, [
    ["lvcreate", "--snapshot", "--name", "x", "vg0/root"],
    ["systemctl", "daemon-reload"],
  ]);
  assert.equal(data.get("/etc/new")?.toString(), "text\n");
  assert.ok(data.has("/var/lib/y/a") && !data.has(temp) && !data.has("/etc/kept"));
  assert.ok(data.has("/etc/quiet"), "an unlisted write is still made");
  assert.deepEqual(effects.changes.at(3), ["mv", temp, "/var/lib/y/a"]);
  assert.equal(effects.changes.length, 6);
});

test("a dry copy of the gate runs reads, lists its changes apart, and traces as the run does", async () => {
  const fake = fakeRunner(() => ({ stdout: "out" }));
  const traced: (readonly string[])[] = [];
  const run = new Effects({
    runner: fake.runner,
    files: untouchable(),
    dryRun: false,
    trace: (argv) => traced.push(argv),
  });
  const dry = run.dry();
  assert.equal(await dry.read(["vgs"]), "out");
  assert.equal(await dry.run(["lvremove", "vg0/x"]), "");
  assert.deepEqual(dry.changes, [["lvremove", "vg0/x"]]);
  assert.deepEqual(run.changes, []);
  assert.deepEqual(traced, [["vgs"]]);
});
