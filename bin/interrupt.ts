// The leaf module, not real/output/index.js: every command loads this one at start-up (issue 12).
import { cleanUpNow, type Leftovers } from "../real/output/leftovers.js";
import { SIGNAL_EXIT } from "./interrupt-abort.js";

/** The exit codes every command shares (README, "Commands"). */
export const EXIT_FAILED = 1;
export const EXIT_BAD_INPUT = 2;
/** A target written in place (a block device, a fixed-size file) was left partly written. */
export const EXIT_INCOMPLETE = 3;

const SIGNALS = Object.keys(SIGNAL_EXIT) as NodeJS.Signals[];

/**
 * What an interrupted command says it left, besides its files: "3 of 8 rows computed, none stored".
 * Null for nothing to add.
 */
export type InterruptNote = () => string | null;

/**
 * Makes SIGINT, SIGTERM and SIGHUP stop a batch command cleanly: temporary files and scratch
 * folders are removed, one line says what was left, and the process exits with 128 + the signal's
 * number, or EXIT_INCOMPLETE when a target written in place was left partly written.
 * `open` are things to close first (a store). Returns a function that takes the handlers off again.
 */
export function exitCleanlyOnInterrupt(note: InterruptNote = () => null, ...open: ({ close(): void } | null)[]): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    const left = cleanUpNow();
    closeAll(open);
    // The work is done and reported; a late signal only ends the process sooner, with the command's own code.
    if (finished) process.exit(process.exitCode ?? 0);
    if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
    process.stderr.write(`testbed: interrupted by ${signal}; ${describeLeftovers(left, note())}\n`);
    process.exit(left.incomplete.length > 0 ? EXIT_INCOMPLETE : ((SIGNAL_EXIT as Readonly<Record<string, number>>)[signal] ?? EXIT_FAILED));
  };
  for (const s of SIGNALS) process.on(s, handler);
  const mine = { open };
  openNow.add(mine);
  return () => {
    for (const s of SIGNALS) process.off(s, handler);
    openNow.delete(mine);
  };
}

let finished = false;

/** Says the command's work is done (outputs written, rows stored, results printed): see the handler above. */
export function markFinished(): void {
  finished = true;
}

/** What the installed interrupt handlers would close: a closed pipe stops the command the same way. */
const openNow = new Set<{ open: readonly ({ close(): void } | null)[] }>();

/** A store closed cleanly folds its write-ahead log back in, leaving no -wal and -shm files beside it. */
function closeAll(open: readonly ({ close(): void } | null)[]): void {
  for (const o of open) {
    try {
      o?.close();
    } catch {
      // exiting anyway
    }
  }
}

/** 128 + SIGPIPE's number: what a shell reports for a program that wrote into a closed pipe. */
export const EXIT_CLOSED_PIPE = 141;

/**
 * Output into a closed pipe (`testbed ... --help | head -1`) stops the command quietly, as SIGPIPE
 * stops other programs: no stack trace, scratch and temporary files removed, stores closed, exit
 * 141. Only a target written in place and left part-written is worth a line (on stderr, if that is
 * still open), with EXIT_INCOMPLETE. Any other stream error is a real failure and stays one.
 */
export function exitQuietlyOnClosedPipe(): void {
  const onError = (error: NodeJS.ErrnoException): void => {
    if (error.code !== "EPIPE") throw error;
    const left = cleanUpNow();
    for (const o of openNow) closeAll(o.open);
    if (left.incomplete.length > 0) {
      try {
        process.stderr.write(`testbed: output closed; ${describeLeftovers(left, null)}\n`);
      } catch {
        // stderr is closed too: the exit code says it
      }
    }
    process.exit(left.incomplete.length > 0 ? EXIT_INCOMPLETE : EXIT_CLOSED_PIPE);
  };
  process.stdout.on("error", onError);
  process.stderr.on("error", onError);
}

/** One clause per kind of leftover, in the order a user cares: damage first. */
export function describeLeftovers(left: Leftovers, extra: string | null): string {
  const parts: string[] = [];
  for (const path of left.incomplete) parts.push(`${path} is incomplete (written in place)`);
  if (extra !== null) parts.push(extra);
  if (left.removed.length > 0) parts.push(`nothing written to ${left.removed.join(", ")}`);
  if (left.scratch.length > 0) parts.push("scratch files removed");
  if (parts.length === 0) parts.push("nothing was left");
  return parts.join("; ");
}

/** A safety net for any exit (a bug's crash included): no temporary file of ours outlives the process. */
export function cleanUpOnExit(): void {
  process.on("exit", () => {
    cleanUpNow();
  });
}
