import assert from "node:assert/strict";
import { test } from "node:test";
import { lineOfKey, loadConfig, parseConfig } from "../../src/config/config.ts";
import { mountAt, mountPointsOf, parseMountinfo } from "../../src/config/mounts.ts";
import { ExitCode } from "../../src/system/errors.ts";
import { memoryFs, sample } from "./helpers.ts";

const PATH = "/etc/rootsnap/rootsnap.toml";

const GOOD = `# rootsnap configuration
[defaults]
size = "15%ORIGIN"

[[volumes]]
lv = "vg0/root"
size = "2G"

[[volumes]]
lv = "vg0/home"
`;

test("volumes and policies are read", async () => {
  const config = await parseConfig(PATH, GOOD);
  assert.equal(config.defaultSize.text, "15%ORIGIN");
  assert.deepEqual(
    config.volumes.map((volume) => [volume.lv, volume.size?.text]),
    [
      ["vg0/root", "2G"],
      ["vg0/home", undefined],
    ],
  );
});

async function configError(
  source: string,
): Promise<{ exitCode: number; message: string; hint?: string }> {
  try {
    await parseConfig(PATH, source);
  } catch (error) {
    return error as { exitCode: number; message: string; hint?: string };
  }
  throw new Error("no error");
}

test("mistakes name the file, the line and the key, and exit 78", async () => {
  const cases: [string, string][] = [
    ['[defaults]\nsize = "10G"\nsizee = "1G"\n', `${PATH}:3: unknown key "sizee" in [defaults]`],
    ['[defaults]\nsize = "10Q"\n', `${PATH}:2: size "10Q" in [defaults] is not a size policy`],
    [
      '[[volumes]]\nlv = "vg0/root"\n\n[[volumes]]\nlv = "vg0/home"\nsize = "150%FREE"\n',
      `${PATH}:6: size "150%FREE" in [volumes] is not a size policy: N%FREE is at most 100`,
    ],
    [
      '[[volumes]]\nlv = "root"\n',
      `${PATH}:2: lv must be a string "VG/LV" in [[volumes]] number 1`,
    ],
    [
      '[[volumes]]\nsize = "1G"\n',
      `${PATH}:1: lv must be a string "VG/LV" in [[volumes]] number 1`,
    ],
    ['volume = "x"\n', `${PATH}:1: unknown key "volume"`],
  ];
  for (const [source, message] of cases) {
    const error = await configError(source);
    assert.equal(error.exitCode, ExitCode.config);
    assert.equal(error.message, message);
  }
});

test("a TOML syntax error names its line", async () => {
  const error = await configError('[defaults]\nsize = "10G\n');
  assert.equal(error.exitCode, ExitCode.config);
  assert.match(error.message, new RegExp(`^${PATH}:2: `));
  assert.ok(!error.message.includes("\n"));
});

test("no file means defaults; a file named with --config must exist", async () => {
  const config = await loadConfig(memoryFs({}), PATH, false);
  assert.equal(config.path, undefined);
  assert.equal(config.defaultSize.text, "20%ORIGIN");
  assert.deepEqual(config.volumes, []);
  await assert.rejects(loadConfig(memoryFs({}), "/tmp/x.toml", true), {
    exitCode: ExitCode.config,
  });
});

test("lineOfKey finds keys in the right instance of an array table", () => {
  assert.equal(lineOfKey(GOOD, "volumes", 1, "lv"), 10);
  assert.equal(lineOfKey(GOOD, "volumes", 0, "size"), 7);
  assert.equal(lineOfKey(GOOD, "defaults", 0, null), 2);
});

test("mountinfo: devices, mount points with escapes, the root mount", () => {
  const mounts = parseMountinfo(sample("handwritten-mountinfo.txt"));
  assert.equal(mountAt(mounts, "/")?.device, "254:0");
  assert.equal(mountAt(mounts, "/")?.source, "/dev/mapper/vg0-root");
  assert.deepEqual(mountPointsOf(mounts, "254:13"), ["/srv/my data"]);
  assert.equal(mounts.find((mount) => mount.mountPoint === "/srv/my data")?.fsType, "xfs");
});
