// Builds (or finds in the cache) the base images: `node --import tsx test/vm/build-images.ts [LAYOUT...]`.
import { ensureImage } from "./rig/image.ts";
import { LAYOUTS } from "./rig/layouts.ts";

const names = process.argv.slice(2);
for (const name of names.length > 0 ? names : Object.keys(LAYOUTS)) {
  const started = Date.now();
  const path = await ensureImage(name);
  process.stderr.write(`${name}: ${path} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}
