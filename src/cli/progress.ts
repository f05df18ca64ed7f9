// Shows a long run's progress on stderr: a bar redrawn in place on a terminal, a line
// every few seconds elsewhere (a journal or a log file keeps every line).
import {
  progressBar,
  progressLine,
  type Progress,
  type ProgressListener,
} from "../backup/progress.ts";

const LINE_EVERY_MS = 5000;

export interface ProgressDisplay {
  readonly listener: ProgressListener;
  /** Clears the bar before anything else is printed. */
  end(): void;
}

export function progressDisplay(
  write: (text: string) => void,
  isTTY: boolean,
  quiet: boolean,
): ProgressDisplay {
  let shown = false;
  let lastLine = 0;
  const listener = (p: Progress): void => {
    if (quiet) return;
    if (isTTY) {
      write(`\r${progressBar(p)}\u001b[K`);
      shown = true;
    } else if (p.elapsedMs - lastLine >= LINE_EVERY_MS) {
      lastLine = p.elapsedMs;
      write(`${progressLine(p)}\n`);
    }
  };
  return {
    listener,
    end() {
      if (shown) write("\r\u001b[K");
      shown = false;
    },
  };
}
