// `npm run demo`: boots a disposable Debian VM with its root on LVM, shows rootsnap's main
// job step by step, then throws the VM away.
import { vmSkipReason, withMachine } from "./rig/index.ts";
import { demoFlow } from "./scenarios/demo-flow.ts";

const reason = vmSkipReason();
if (reason !== undefined) {
  process.stderr.write(`demo cannot run here: ${reason}\n`);
  process.exit(69);
}
const started = Date.now();
let step = 0;
process.stderr.write(
  "rootsnap demo: preparing a disposable Debian 12 VM with its root on LVM (the first run builds its image, about 5 minutes)...\n",
);
await withMachine(
  "bookworm-simple",
  (m) =>
    demoFlow(
      m,
      (s) => {
        step += 1;
        process.stderr.write(`\n==> ${step}. ${s}\n`);
      },
      (line) => process.stderr.write(`${line}\n`),
    ),
  { extraDisksGiB: [4] },
);
process.stderr.write(
  `\ndemo finished in ${((Date.now() - started) / 1000).toFixed(0)} s; the VM is gone.\n`,
);
