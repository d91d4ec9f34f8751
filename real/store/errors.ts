import Database from "better-sqlite3";
import { StoreError } from "./store-error.js";

export { StoreError };

export const NOT_SQLITE = "not a testbed database (file is not a SQLite database)";

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
