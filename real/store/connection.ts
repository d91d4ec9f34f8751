import Database from "better-sqlite3";
import { StoreError, guard, reasonOf } from "./errors.js";
import { applyMigrations } from "./migrations.js";
import { BUSY_TIMEOUT_MS, openStore, type StoreOptions } from "./store.js";

/**
 * A second connection to a store file for one part of the schema (monitor nodes, experiments):
 * `openStore` checks and migrates the file first, so the tables are there; `:memory:` gets its
 * own migrated database.
 */
export function openStoreConnection(path: string, options: StoreOptions = {}): Database.Database {
  let db: Database.Database;
  if (path === ":memory:") {
    db = new Database(":memory:");
    applyMigrations(db, path);
  } else {
    openStore(path, options).close();
    try {
      db = new Database(path, { fileMustExist: true });
    } catch (error) {
      throw new StoreError(path, `cannot open (${reasonOf(error)})`, { cause: error });
    }
  }
  guard(path, "configure the connection", () => {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma("foreign_keys = ON");
  });
  return db;
}
