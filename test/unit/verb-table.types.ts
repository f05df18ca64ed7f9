// Checked by tsc, never run: the verb table refuses an entry that lacks a part or whose
// parts do not fit together. Each @ts-expect-error fails the type check if its line
// compiles, so loosening VerbSpec breaks `npx tsc --noEmit`.
import { listJson, showJson } from "../../src/cli/json.ts";
import { verb, type Verb, type VerbName } from "../../src/cli/verbs.ts";

const about = {
  summary: "a verb for the type check",
  description: "Only compiled.",
  usage: "probe",
  args: { min: 0, max: 0 },
  globals: [],
  root: true,
  lock: false,
} as const;

export function entries(): Verb[] {
  return [
    // A whole entry compiles.
    verb({
      ...about,
      options: {},
      load: () => import("../../src/commands/list.ts"),
      implementation: "list",
      run: ({ list }, { context }) => list(context),
      text: () => undefined,
      json: listJson,
    }),
    // @ts-expect-error an entry without run is no verb
    verb({
      ...about,
      options: {},
      load: () => import("../../src/commands/list.ts"),
      implementation: "list",
      text: () => undefined,
      json: listJson,
    }),
    // @ts-expect-error nor is one without its JSON rendering
    verb({
      ...about,
      options: {},
      load: () => import("../../src/commands/list.ts"),
      implementation: "list",
      run: ({ list }, { context }) => list(context),
      text: () => undefined,
    }),
    // @ts-expect-error nor one without its text rendering
    verb({
      ...about,
      options: {},
      load: () => import("../../src/commands/list.ts"),
      implementation: "list",
      run: ({ list }, { context }) => list(context),
      json: listJson,
    }),
    verb({
      ...about,
      options: {},
      load: () => import("../../src/commands/list.ts"),
      // @ts-expect-error the implementation is a function its module exports
      implementation: "lister",
      run: ({ list }, { context }) => list(context),
      text: () => undefined,
      json: listJson,
    }),
    verb({
      ...about,
      options: {},
      load: () => import("../../src/commands/list.ts"),
      implementation: "list",
      // @ts-expect-error the JSON rendering takes the result run returns
      run: ({ list }, { context }) => list(context),
      text: () => undefined,
      json: showJson,
    }),
    verb({
      ...about,
      // @ts-expect-error an option is one the parser knows
      options: { colour: "in colour" },
      load: () => import("../../src/commands/list.ts"),
      implementation: "list",
      run: ({ list }, { context }) => list(context),
      text: () => undefined,
      json: listJson,
    }),
    verb({
      ...about,
      options: { follow: "keep going" },
      load: () => import("../../src/commands/list.ts"),
      implementation: "list",
      // @ts-expect-error a verb sees only its own options
      run: ({ list }, { context, options }) => (options.cancel ? list(context) : list(context)),
      text: () => undefined,
      json: listJson,
    }),
  ];
}

export const known: VerbName[] = ["list", "repair", "boot-finish"];
// @ts-expect-error the table has no verb that is not in it
export const unknown: VerbName = "frob";
