// How one word is written into each file setup makes, so that the program reading the file
// gets the word back exactly: a systemd command line, apt.conf's quoted string, a pacman hook's
// Exec line and a dnf5 actions line. What a format cannot carry is refused before (program.ts).

/** Characters systemd, apt, alpm and dnf all read literally in a bare word. */
const PLAIN = /^[A-Za-z0-9_./:,+=@-]+$/;

const C_ESCAPES: Record<string, string> = { "\n": "\\n", "\t": "\\t", "\r": "\\r" };

/**
 * One word of an ExecStart= command line (systemd.service(5), "Command lines"): double
 * quotes with C-style backslash escapes, `%` as `%%` (specifiers are expanded first) and, in
 * an argument, `$` as `$$`. The executable itself is never variable-expanded, so its `$`
 * stays single.
 */
export function systemdQuote(word: string, role: "executable" | "argument" = "argument"): string {
  if (PLAIN.test(word)) return word;
  let quoted = "";
  for (const char of word) {
    const code = char.charCodeAt(0);
    if (char === "\\" || char === '"') quoted += `\\${char}`;
    else if (char === "%") quoted += "%%";
    else if (char === "$" && role === "argument") quoted += "$$";
    else if (C_ESCAPES[char] !== undefined) quoted += C_ESCAPES[char];
    else if (code < 0x20 || code === 0x7f) quoted += `\\x${code.toString(16).padStart(2, "0")}`;
    else quoted += char;
  }
  return `"${quoted}"`;
}

/** An ExecStart= value that runs argv; argv[0] is an absolute path. */
export function execLine(argv: readonly string[]): string {
  return argv.map((word, i) => systemdQuote(word, i === 0 ? "executable" : "argument")).join(" ");
}

/**
 * A list element of apt.conf(5) holding a shell line: apt reads it as a quoted word in which
 * `%XX` is decoded, so `%` and `"` go in as `%25` and `%22`.
 */
export function aptConfString(value: string): string {
  return `"${value.replace(/%/g, "%25").replace(/"/g, "%22")}"`;
}

/**
 * One word of a pacman hook's `Exec =` (alpm-hooks(5)): split on whitespace, quotes group, and
 * a backslash escapes only the quote it stands before. For words without quotes, backslashes
 * or control characters (program.ts refuses those in the program's path).
 */
export function pacmanWord(word: string): string {
  return PLAIN.test(word) ? word : `"${word}"`;
}

/**
 * One word of a dnf5 actions command (libdnf5-actions(8)): split on spaces, a backslash
 * escapes the next character, `${` starts a variable. Every other character gets its
 * backslash; letters never do (`\n`, `\t`, ... are escapes).
 */
export function dnfWord(word: string): string {
  return word.replace(/[^A-Za-z0-9_./,+=@-]/g, "\\$&");
}
