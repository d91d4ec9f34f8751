/*
 * StoreError in a module of its own (errors.ts loads SQLite): bin/failure.ts classifies every
 * command's errors, and a command that never opens the store should not load it (issue 12).
 */

/**
 * A failure of the world outside the program: a file that cannot be read, is not a SQLite database,
 * carries a schema newer than this program, or holds a corrupted row. The message is one line,
 * `<path>: <what is wrong>`, fit to show a user as is.
 */
export class StoreError extends Error {
  override readonly name = "StoreError";
  readonly path: string;

  constructor(path: string, problem: string, options?: { cause?: unknown }) {
    super(`${path}: ${oneLine(problem)}`, options);
    this.path = path;
  }
}

/** Messages from SQLite, Node and JSON.parse may hold newlines; a StoreError never does. */
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, "; ").trim();
}
