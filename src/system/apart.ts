// Whether rootsnap's programs start in a session of their own, where a Ctrl-C on the terminal
// (sent to its whole foreground process group) does not reach them. Its own module, so the
// executable sets it from a signal handler without loading the runner first.
let apart = false;

/** From now on every program rootsnap starts leads a session of its own (setsid). */
export function startChildrenApart(): void {
  apart = true;
}

export function childrenApart(): boolean {
  return apart;
}
