// The boot integration verbs on the command line: setup, uninstall, next-boot, doctor,
// and boot-finish (run by rootsnap-finish.service, not by people).
import { nodeBootFiles } from "../system/files.ts";
import { diffOf, type InstallResult } from "../boot/install.ts";
import { DEFAULT_EXECUTABLE } from "../boot/units.ts";
import type { Context } from "../system/context.ts";
import { OperationError } from "../system/errors.ts";
import type { Invocation } from "./args.ts";
import type { Io } from "./app.ts";
import { commandLines, jsonDocument, table } from "./render.ts";

type VerbInvocation = Extract<Invocation, { kind: "verb" }>;

function installJson(result: InstallResult): string {
  return jsonDocument({
    dry_run: result.dryRun,
    changed: !result.unchanged,
    files: result.changes.map((change) => ({
      path: change.path,
      action:
        change.before === undefined ? "create" : change.after === undefined ? "remove" : "update",
    })),
    warnings: result.warnings,
    commands: commandLines(result.commands),
  });
}

function showInstall(
  io: Io,
  call: VerbInvocation,
  context: Context,
  result: InstallResult,
  done: string,
): void {
  for (const warning of result.warnings) context.output.warn(warning);
  if (call.flags.json) {
    io.stdout(installJson(result));
    return;
  }
  if (result.dryRun) {
    io.stdout(diffOf(result.changes));
    for (const line of commandLines(result.commands)) io.stdout(`${line}\n`);
    return;
  }
  context.output.note(result.unchanged ? `nothing to do: ${done} already` : done);
}

/** --json: the document; --dry-run: the commands; true when either was printed. */
function printData(
  io: Io,
  call: VerbInvocation,
  result: { dryRun: boolean; commands: readonly (readonly string[])[] },
  body: Record<string, unknown>,
): boolean {
  if (call.flags.json) {
    io.stdout(
      jsonDocument({ dry_run: result.dryRun, ...body, commands: commandLines(result.commands) }),
    );
    return true;
  }
  if (!result.dryRun) return false;
  for (const line of commandLines(result.commands)) io.stdout(`${line}\n`);
  return true;
}

export async function runBootVerb(io: Io, call: VerbInvocation, context: Context): Promise<void> {
  const files = io.bootFiles ?? nodeBootFiles;
  const json = call.flags.json;
  switch (call.verb) {
    case "setup": {
      const { setup } = await import("../commands/setup.ts");
      const result = await setup(context, io.executable ?? DEFAULT_EXECUTABLE, files);
      showInstall(
        io,
        call,
        context,
        result,
        "boot integration is set up; rootsnap next-boot takes a set at the next boot",
      );
      return;
    }
    case "uninstall": {
      const { uninstall } = await import("../commands/uninstall.ts");
      const result = await uninstall(context, files);
      showInstall(io, call, context, result, "boot integration is removed");
      return;
    }
    case "next-boot": {
      const { nextBoot } = await import("../commands/next-boot.ts");
      const result = await nextBoot(
        context,
        call.cancel,
        files,
        io.executable ?? DEFAULT_EXECUTABLE,
      );
      for (const warning of result.warnings) context.output.warn(warning);
      const body = { next_boot: result.entry, changed: result.changed };
      if (!printData(io, call, result, body))
        context.output.note(
          result.entry === null
            ? "the next boot is a normal boot"
            : result.entry === "rootsnap-boot"
              ? "the next boot (only) takes a boot-time set"
              : `the next boot starts GRUB entry ${result.entry}, not rootsnap's`,
        );
      return;
    }
    case "doctor": {
      const { doctor } = await import("../commands/doctor.ts");
      const checks = await doctor(context, files);
      if (json) io.stdout(jsonDocument({ checks }));
      else
        io.stdout(
          table(
            ["STATUS", "CHECK", "DETAIL"],
            checks.map((c) => [c.status, c.name, c.detail]),
          ),
        );
      const failed = checks.filter((check) => check.status === "fail");
      if (failed.length > 0) {
        throw new OperationError(
          `${failed.length} check(s) failed: ${failed.map((check) => check.name).join(", ")}`,
          "fix what the failed lines say, then run rootsnap doctor again",
        );
      }
      return;
    }
    case "boot-finish": {
      const { bootFinish } = await import("../commands/boot-finish.ts");
      const result = await bootFinish(context, files, io.executable ?? DEFAULT_EXECUTABLE);
      if (result.bootFailure !== null)
        context.output.warn(`this boot's set was not made: ${result.bootFailure}`);
      for (const warning of result.warnings) context.output.warn(warning);
      for (const snapshot of result.mergesFinished)
        context.output.note(`merge of ${snapshot} finished`);
      if (result.oneShotCleared) context.output.note("one-shot rootsnap boot entry cleared");
      for (const path of result.bootCopies) context.output.note(`/boot copied to ${path}`);
      for (const name of result.pruned)
        context.output.note(`removed /boot copy ${name} of a set that is gone`);
      printData(io, call, result, {
        merges_finished: result.mergesFinished,
        one_shot_cleared: result.oneShotCleared,
        boot_copies: result.bootCopies,
        pruned: result.pruned,
        sets_pruned: result.setsPruned,
        boot_failure: result.bootFailure,
        warnings: result.warnings,
      });
      return;
    }
    default:
      throw new Error(`not a boot verb: ${call.verb}`);
  }
}
