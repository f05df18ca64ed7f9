// The journal's <N> priority prefixes go only to the journal: to stderr when JOURNAL_STREAM
// names the very stream fd 2 is, not when a program inherited the variable but writes
// its stderr elsewhere.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { isJournalStream } from "../../src/cli/journal.ts";
import { tempDir } from "./helpers.ts";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

test("JOURNAL_STREAM is the journal only when it names fd 2's device and inode", () => {
  const stream = () => ({ dev: 2049n, ino: 9007199254740993n });
  assert.equal(isJournalStream("2049:9007199254740993", stream), true);
  assert.equal(isJournalStream("2049:9007199254740992", stream), false, "another inode");
  assert.equal(isJournalStream("2050:9007199254740993", stream), false, "another device");
  assert.equal(isJournalStream("", stream), false);
  assert.equal(isJournalStream("2049:", stream), false);
  assert.equal(isJournalStream("2049:12 ", stream), false);
  assert.equal(
    isJournalStream("2049:9007199254740993", () => undefined),
    false,
    "no fd 2",
  );
  let looked = 0;
  const counted = () => {
    looked += 1;
    return stream();
  };
  assert.equal(isJournalStream(undefined, counted), false);
  assert.equal(looked, 0, "no fstat without the variable");
});

/** Runs `rootsnap frob` with stderr into a file and JOURNAL_STREAM set by `journal`. */
function stderrOf(journal: (dev: bigint, ino: bigint) => string): string {
  const file = join(tempDir("rootsnap-journal-"), "stderr");
  const fd = openSync(file, "w");
  try {
    const { dev, ino } = fstatSync(fd, { bigint: true });
    const run = spawnSync(process.execPath, ["--import", "tsx", MAIN, "frob"], {
      env: { ...process.env, JOURNAL_STREAM: journal(dev, ino) },
      stdio: ["ignore", "ignore", fd],
    });
    assert.equal(run.status, 64);
  } finally {
    closeSync(fd);
  }
  return readFileSync(file, "utf8");
}

test("rootsnap writes <N> prefixes when stderr is the stream JOURNAL_STREAM names", () => {
  assert.match(
    stderrOf((dev, ino) => `${dev}:${ino}`),
    /^<3>rootsnap: error: unknown verb "frob"/,
  );
});

test("an inherited JOURNAL_STREAM naming another stream gets no prefixes", () => {
  assert.match(
    stderrOf((dev, ino) => `${dev}:${ino + 1n}`),
    /^rootsnap: error: unknown verb "frob"/,
  );
});
