// Whether a descriptor is a terminal, asked of the descriptor itself: process.stdin and
// process.stderr would each be a stream object made only to answer it.
export { isatty } from "node:tty";
