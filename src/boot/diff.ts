// A unified diff of two small texts, for what --dry-run shows of each file.

function lines(text: string | undefined): string[] {
  if (text === undefined || text === "") return [];
  return text.replace(/\n$/, "").split("\n");
}

type Edit = { op: " " | "-" | "+"; line: string };

/** Longest-common-subsequence edit script; the boot files are a few hundred lines at most. */
function edits(before: readonly string[], after: readonly string[]): Edit[] {
  const rows = before.length + 1;
  const cols = after.length + 1;
  const lcs = new Uint32Array(rows * cols);
  for (let i = before.length - 1; i >= 0; i -= 1) {
    for (let j = after.length - 1; j >= 0; j -= 1) {
      lcs[i * cols + j] =
        before[i] === after[j]
          ? (lcs[(i + 1) * cols + j + 1] ?? 0) + 1
          : Math.max(lcs[(i + 1) * cols + j] ?? 0, lcs[i * cols + j + 1] ?? 0);
    }
  }
  const script: Edit[] = [];
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    if (i < before.length && j < after.length && before[i] === after[j]) {
      script.push({ op: " ", line: before[i] ?? "" });
      i += 1;
      j += 1;
    } else if (
      i < before.length &&
      (j >= after.length || (lcs[(i + 1) * cols + j] ?? 0) >= (lcs[i * cols + j + 1] ?? 0))
    ) {
      script.push({ op: "-", line: before[i] ?? "" });
      i += 1;
    } else {
      script.push({ op: "+", line: after[j] ?? "" });
      j += 1;
    }
  }
  return script;
}

/** `diff -u` style output with 3 lines of context; "" when the texts are equal. */
export function unifiedDiff(
  path: string,
  before: string | undefined,
  after: string | undefined,
): string {
  if (before === after) return "";
  const script = edits(lines(before), lines(after));
  const changed = script.map((edit, index) => (edit.op === " " ? -1 : index)).filter((i) => i >= 0);
  if (changed.length === 0) return "";
  const out = [
    `--- ${before === undefined ? "/dev/null" : path}`,
    `+++ ${after === undefined ? "/dev/null" : path}`,
  ];
  const context = 3;
  let start = 0;
  while (start < changed.length) {
    let end = start;
    while (
      end + 1 < changed.length &&
      (changed[end + 1] ?? 0) - (changed[end] ?? 0) <= 2 * context
    ) {
      end += 1;
    }
    const from = Math.max(0, (changed[start] ?? 0) - context);
    const to = Math.min(script.length, (changed[end] ?? 0) + context + 1);
    const hunk = script.slice(from, to);
    const oldStart = script.slice(0, from).filter((edit) => edit.op !== "+").length + 1;
    const newStart = script.slice(0, from).filter((edit) => edit.op !== "-").length + 1;
    const oldCount = hunk.filter((edit) => edit.op !== "+").length;
    const newCount = hunk.filter((edit) => edit.op !== "-").length;
    out.push(
      `@@ -${oldCount === 0 ? oldStart - 1 : oldStart},${oldCount} +${newCount === 0 ? newStart - 1 : newStart},${newCount} @@`,
    );
    for (const edit of hunk) out.push(`${edit.op}${edit.line}`);
    start = end + 1;
  }
  return `${out.join("\n")}\n`;
}
