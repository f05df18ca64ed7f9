// `npm run demo`: boots a disposable Debian VM with its root on LVM and shows the whole
// flow, step by step, then throws the VM away.
import { vmSkipReason, withMachine } from "./rig/index.ts";
import { seedFlow } from "./scenarios/seed-flow.ts";

const reason = vmSkipReason();
if (reason !== undefined) {
  process.stderr.write(`demo cannot run here: ${reason}\n`);
  process.exit(69);
}
const started = Date.now();
let step = 0;
process.stderr.write(
  "rootsnap demo: a disposable Debian 12 VM (root on LVM) is being prepared...\n",
);
await withMachine("bookworm-simple", async (m) => {
  const r = await seedFlow(m, (s) => {
    step += 1;
    process.stderr.write(`\n==> ${step}. ${s}\n`);
  });
  process.stderr.write(
    `\ndone in ${((Date.now() - started) / 1000).toFixed(0)} s; boots took ${r.boots.map((b) => `${b.toFixed(0)} s`).join(" and ")}; the VM is gone.\n`,
  );
});
