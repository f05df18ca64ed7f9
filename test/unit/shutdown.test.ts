import assert from "node:assert/strict";
import { test } from "node:test";
import { shutdownSeconds } from "../../src/commands/doctor.ts";

const line = (seconds: number, message: string): string =>
  JSON.stringify({ __REALTIME_TIMESTAMP: String(seconds * 1e6), MESSAGE: message });

test("the shutdown runs from the first stop to the last line of the boot", () => {
  const journal = [
    line(1000, "Started rootsnap-finish.service"),
    line(1100, "Stopping user@0.service - User Manager for UID 0..."),
    line(1101, "Stopped target local-fs.target"),
    line(1104.5, "Reached target shutdown.target - System Shutdown."),
    line(1107, "Shutting down."),
    "",
  ].join("\n");
  assert.equal(shutdownSeconds(journal), 7);
});

test("a boot with no shutdown in its journal measures nothing", () => {
  assert.equal(shutdownSeconds(line(5, "Started foo.service")), undefined);
  assert.equal(shutdownSeconds(""), undefined);
});
