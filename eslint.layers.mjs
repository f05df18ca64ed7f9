// rootsnap's layers, lowest first: a module may import from its own directory and from
// layers below it, never from a layer above or from a peer on the same level. The verbs'
// modules (commands/) are peers of each other too: what two verbs share lives lower down.
import { dirname, relative, resolve } from "node:path";
import tseslint from "typescript-eslint";

export const LAYERS = [
  ["system"],
  ["lvm"],
  ["sets"],
  ["config"],
  ["backup", "boot"],
  ["lifecycle"],
  ["commands"],
  ["cli"],
];

/** Directories whose files are each other's peers, not one module. */
const SEPARATE_FILES = new Set(["commands"]);

const SRC = resolve(import.meta.dirname, "src");

function rankOf(directory) {
  return LAYERS.findIndex((level) => level.includes(directory));
}

/** The layer directory of a path under src/, or undefined outside it. */
function layerOf(path) {
  const rel = relative(SRC, path);
  if (rel.startsWith("..")) return undefined;
  const [first, ...rest] = rel.split("/");
  return rest.length === 0 ? undefined : first;
}

function order() {
  return LAYERS.map((level) => level.join("|")).join(" < ");
}

const layersRule = {
  meta: {
    type: "problem",
    docs: { description: "imports go only to the same or a lower layer of src/" },
    schema: [],
    messages: {
      upward: "src/{{from}} may not import src/{{to}}: {{to}} is a higher layer ({{order}})",
      peer: "src/{{from}} may not import src/{{to}}: they are peers on one layer ({{order}})",
      unknown: "src/{{dir}} is in no layer: add it to LAYERS in eslint.layers.mjs",
      command:
        "a verb's module may not import another's ({{to}}): move what both need into lifecycle/ or lower",
    },
  },
  create(context) {
    const file = context.filename;
    const from = layerOf(file);
    if (from === undefined) return {};
    const check = (node, source) => {
      if (typeof source !== "string" || !source.startsWith(".")) return;
      const target = resolve(dirname(file), source);
      const to = layerOf(target);
      if (to === undefined) return;
      const fromRank = rankOf(from);
      const toRank = rankOf(to);
      if (fromRank === -1 || toRank === -1) {
        context.report({ node, messageId: "unknown", data: { dir: fromRank === -1 ? from : to } });
        return;
      }
      const data = { from, to, order: order() };
      if (toRank > fromRank) context.report({ node, messageId: "upward", data });
      else if (toRank === fromRank && to !== from)
        context.report({ node, messageId: "peer", data });
      else if (to === from && SEPARATE_FILES.has(from) && target !== file)
        context.report({ node, messageId: "command", data: { to: relative(SRC, target) } });
    };
    const literal = (node) =>
      node.source?.type === "Literal" ? check(node.source, node.source.value) : undefined;
    return {
      ImportDeclaration: literal,
      ExportNamedDeclaration: literal,
      ExportAllDeclaration: literal,
      ImportExpression: literal,
    };
  },
};

export const layersPlugin = { rules: { layers: layersRule } };

/** The config block that applies the rule to every module under src/. */
export const layersConfig = {
  files: ["src/**/*.ts"],
  languageOptions: { parser: tseslint.parser },
  plugins: { rootsnap: layersPlugin },
  rules: { "rootsnap/layers": "error" },
};
