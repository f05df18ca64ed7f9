// The files a package installs beside the bundle, made from the verb table at build time:
// the two man pages, the three shell completions and the example configuration.
import { EXAMPLE_CONFIG } from "../config/keys.ts";
import { bashCompletion, fishCompletion, zshCompletion } from "./completions.ts";
import { configManual, rootsnapManual } from "./manpage.ts";

export interface Asset {
  /** Relative to dist/. */
  readonly path: string;
  /** Where a package installs it, from /. */
  readonly installed: string;
  readonly text: string;
}

/** `date` is YYYY-MM-DD, the date the man pages carry. */
export function assets(version: string, date: string): Asset[] {
  return [
    {
      path: "man/rootsnap.8",
      installed: "/usr/share/man/man8/rootsnap.8",
      text: rootsnapManual(version, date),
    },
    {
      path: "man/rootsnap.toml.5",
      installed: "/usr/share/man/man5/rootsnap.toml.5",
      text: configManual(version, date),
    },
    {
      path: "completions/rootsnap.bash",
      installed: "/usr/share/bash-completion/completions/rootsnap",
      text: bashCompletion(),
    },
    {
      path: "completions/_rootsnap",
      installed: "/usr/share/zsh/vendor-completions/_rootsnap",
      text: zshCompletion(),
    },
    {
      path: "completions/rootsnap.fish",
      installed: "/usr/share/fish/vendor_completions.d/rootsnap.fish",
      text: fishCompletion(),
    },
    {
      path: "rootsnap.toml.example",
      installed: "/usr/share/doc/rootsnap/examples/rootsnap.toml",
      text: EXAMPLE_CONFIG,
    },
  ];
}
