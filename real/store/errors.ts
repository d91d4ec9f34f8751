import Database from "better-sqlite3";

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

export const NOT_SQLITE = "not a testbed database (file is not a SQLite database)";

/** Messages from SQLite, Node and JSON.parse may hold newlines; a StoreError never does. */
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, "; ").trim();
}

export function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs `fn`, turning an error reported by SQLite (locked, full disk, corrupt file, read-only, a
 * violated constraint) into a StoreError that says what was being done. Other errors are bugs and
 * pass through unchanged.
 */
export function guard<T>(path: string, action: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw translate(error, path, action);
  }
}

export function translate(error: unknown, path: string, action: string): unknown {
  if (!(error instanceof Database.SqliteError)) return error;
  if (error.code === "SQLITE_NOTADB") return new StoreError(path, NOT_SQLITE, { cause: error });
  return new StoreError(path, `cannot ${action} (${error.message})`, { cause: error });
}
