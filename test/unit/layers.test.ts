// The layer rule of eslint.layers.mjs, run by ESLint itself on modules placed in src/.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ESLint } from "eslint";
import { layersConfig } from "../../eslint.layers.mjs";

async function problems(path: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ overrideConfigFile: true, overrideConfig: [layersConfig] });
  const [result] = await eslint.lintText(code, { filePath: path });
  return (result?.messages ?? []).map((message) => `${message.ruleId ?? ""}: ${message.message}`);
}

test("an import from src/lvm/ into src/cli/ is a lint error", async () => {
  const found = await problems("src/lvm/probe.ts", 'import { main } from "../cli/app.ts";\n');
  assert.equal(found.length, 1, found.join("\n"));
  assert.match(found[0] ?? "", /rootsnap\/layers: src\/lvm may not import src\/cli/);
});

test("every way of importing upward is caught, dynamic and re-exports too", async () => {
  const code = [
    'export { status } from "../commands/status.ts";',
    'export * from "../cli/render.ts";',
    'const m = await import("../lifecycle/make.ts");',
    'import type { Context } from "../system/context.ts";',
    "",
  ].join("\n");
  const found = await problems("src/sets/probe.ts", code);
  assert.equal(found.length, 3, found.join("\n"));
});

test("peers on one layer and one verb's module using another's are errors", async () => {
  assert.match(
    (await problems("src/backup/probe.ts", 'import "../boot/grub.ts";\n')).join(),
    /peers on one layer/,
  );
  assert.match(
    (await problems("src/commands/probe.ts", 'import { create } from "./create.ts";\n')).join(),
    /a verb's module may not import another's/,
  );
});

test("imports from lower layers and within a layer pass", async () => {
  const code = [
    'import { Lvm } from "../lvm/lvm.ts";',
    'import { run } from "../system/runner.ts";',
    'import { planCreate } from "./plan.ts";',
    'import { parse } from "smol-toml";',
    "",
  ].join("\n");
  assert.deepEqual(await problems("src/sets/probe.ts", code), []);
});

test("a directory in no layer is named", async () => {
  const found = await problems("src/extra/probe.ts", 'import "../lvm/lvm.ts";\n');
  assert.match(found.join(), /src\/extra is in no layer/);
});
