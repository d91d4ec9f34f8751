import { randomBytes } from "node:crypto";
import { closeSync, existsSync, linkSync, openSync, readSync, renameSync, unlinkSync } from "node:fs";
import { Buffer } from "node:buffer";
import { basename, dirname, join } from "node:path";
import Database from "better-sqlite3";
import { NOT_SQLITE, StoreError, guard, reasonOf } from "./errors.js";
import { SCHEMA_VERSION, applyMigrations, assertKnownVersion, readSchemaVersion } from "./migrations.js";
import {
  EVENT_COLUMNS,
  RUN_COLUMNS,
  RUN_INSERT_COLUMNS,
  decodeEvent,
  decodeRun,
  eventParams,
  runParams,
  type EventParams,
  type EventRow,
  type NewRun,
  type RunParams,
  type RunRow,
  type StoredEventInput,
} from "./rows.js";
import { DEFAULT_STORE_PATH } from "./default-path.js";

export { DEFAULT_STORE_PATH };
/** How long a statement waits for another process's write lock before failing with "locked". */
export const BUSY_TIMEOUT_MS = 5_000;
/** Most runs one listRuns call returns; a larger limit is capped to it. */
export const RUNS_LIST_MAX = 10_000;
/** Most events one runEvents call returns; a larger limit is capped to it. */
export const EVENTS_LIST_MAX = 100_000;
/** Most events one insert call takes, since each call is one transaction held in memory. */
export const EVENTS_INSERT_MAX = 1_000_000;

export interface StoreOptions {
  /** Open without writing anything: no migration, no journal-mode change. */
  readonly readonly?: boolean;
  /** Refuse a missing file instead of creating a store: for commands that only read. */
  readonly mustExist?: boolean;
}

export interface ListRunsOptions {
  readonly limit?: number;
  readonly scenario?: string;
}

export interface RunEventsOptions {
  readonly limit?: number;
  readonly kind?: string;
}

export interface Store {
  readonly path: string;
  insertRun(run: NewRun): number;
  /** Inserts runs in one transaction, all or none; returns their ids. */
  insertRuns(runs: readonly NewRun[]): number[];
  /** Inserts all events in one transaction; returns how many were inserted. */
  insertEvents(runId: number | null, events: readonly StoredEventInput[]): number;
  /** Inserts a run and its events in one transaction; returns the run id. */
  insertRunWithEvents(run: NewRun, events: readonly StoredEventInput[]): number;
  getRun(id: number): RunRow | undefined;
  /** Newest first (by createdAt, then id). */
  listRuns(options?: ListRunsOptions): RunRow[];
  /** In time order (by timeUs, then insertion). */
  runEvents(runId: number, options?: RunEventsOptions): EventRow[];
  /** Deletes a run and, by cascade, its events; false if there was no such run. */
  deleteRun(id: number): boolean;
  schemaVersion(): number;
  close(): void;
}

const SQLITE_MAGIC = Buffer.from("SQLite format 3\0", "latin1");

/**
 * Opens (creating if needed) the store at `path`, or `:memory:`. Nothing is written to a file that
 * is not a SQLite database or whose schema is newer than this program: both are refused first. A
 * new store is made whole under a temporary name and linked into place, so no other process ever
 * sees a half-made one, and an empty file is never taken for a new store.
 */
export function openStore(path: string, options: StoreOptions = {}): Store {
  const readonly = options.readonly ?? false;
  const memory = path === ":memory:";
  if (!memory && !checkFile(path, readonly || options.mustExist === true)) createStoreFile(path);
  let db: Database.Database;
  try {
    db = new Database(path, { readonly, fileMustExist: !memory });
  } catch (error) {
    throw new StoreError(path, `cannot open (${reasonOf(error)})`, { cause: error });
  }
  try {
    prepareDatabase(db, path, readonly, memory);
    return new SqliteStore(db, path);
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * Refuses a file that exists but is not a SQLite database (an empty one included), before SQLite
 * sees it. Returns false if there is no file (refused if it must exist).
 */
function checkFile(path: string, mustExist: boolean): boolean {
  const header = readHeader(path, SQLITE_MAGIC.length);
  if (header === undefined) {
    if (mustExist) throw new StoreError(path, "no such store file (a command that works on what is already stored never creates one)");
    return false;
  }
  if (header.length === 0) throw new StoreError(path, "not a testbed database (empty file)");
  if (!header.equals(SQLITE_MAGIC)) throw new StoreError(path, NOT_SQLITE);
  return true;
}

/**
 * Makes a new, migrated store at `path`: built under a temporary name in the same folder, then
 * hard-linked to `path`, which fails if another process made one first (its store is then used).
 */
function createStoreFile(path: string): void {
  const temp = join(dirname(path), `.${basename(path)}.testbed-${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
  let db: Database.Database;
  try {
    db = new Database(temp);
  } catch (error) {
    throw new StoreError(path, `cannot create (${reasonOf(error)})`, { cause: error });
  }
  try {
    prepareDatabase(db, path, false, false);
    db.close();
    placeNewFile(temp, path);
  } finally {
    if (db.open) db.close();
    for (const leftover of [temp, `${temp}-wal`, `${temp}-shm`]) {
      try {
        unlinkSync(leftover);
      } catch {
        // not there
      }
    }
  }
}

/** Puts `temp` at `path` unless something is there already (then that stays). */
function placeNewFile(temp: string, path: string): void {
  try {
    linkSync(temp, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return;
    // A file system without hard links: a rename, which only a race within this instant could make replace a store.
    if ((code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP") && !existsSync(path)) {
      renameSync(temp, path);
      return;
    }
    throw new StoreError(path, `cannot create (${reasonOf(error)})`, { cause: error });
  }
}

/** The first `bytes` bytes of the file (fewer if it is shorter), or undefined if there is none. */
function readHeader(path: string, bytes: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new StoreError(path, `cannot read file (${reasonOf(error)})`, { cause: error });
  }
  try {
    const header = Buffer.alloc(bytes);
    return header.subarray(0, readSync(fd, header, 0, bytes, 0));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EISDIR") throw new StoreError(path, "is a directory, not a store file", { cause: error });
    throw new StoreError(path, `cannot read file (${reasonOf(error)})`, { cause: error });
  } finally {
    closeSync(fd);
  }
}

function prepareDatabase(db: Database.Database, path: string, readonly: boolean, memory: boolean): void {
  guard(path, "configure the connection", () => {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma("foreign_keys = ON");
  });
  // Checked before anything below writes: switching to WAL alone rewrites the file header.
  const version = guard(path, "read the schema version", () => readSchemaVersion(db, path));
  assertKnownVersion(path, version, SCHEMA_VERSION);
  if (readonly) {
    if (version < SCHEMA_VERSION) {
      throw new StoreError(
        path,
        `schema version ${version} is older than this testbed (needs ${SCHEMA_VERSION}); open it once read-write to upgrade`,
      );
    }
    return;
  }
  if (!memory) {
    const mode = guard(path, "switch to WAL journal mode", () => db.pragma("journal_mode = WAL", { simple: true }));
    if (mode !== "wal") throw new StoreError(path, `cannot switch to WAL journal mode (still ${String(mode)})`);
  }
  applyMigrations(db, path);
}

function listLimit(limit: number | undefined, max: number): number {
  if (limit === undefined) return max;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`limit: expected a positive integer, got ${limit}`);
  return Math.min(limit, max);
}

function assertId(id: number, what: string): void {
  if (!Number.isSafeInteger(id) || id < 1) throw new Error(`${what}: expected a positive integer id, got ${id}`);
}

class SqliteStore implements Store {
  private readonly statements;

  constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {
    this.statements = guard(path, "prepare statements", () => ({
      insertRun: db.prepare<RunParams>(
        `INSERT INTO runs (${RUN_INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertEvent: db.prepare<EventParams>(
        "INSERT INTO events (run_id, time_us, host, kind, data) VALUES (?, ?, ?, ?, ?)",
      ),
      getRun: db.prepare<[number]>(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?`),
      listRuns: db.prepare<[number]>(`SELECT ${RUN_COLUMNS} FROM runs ORDER BY created_at DESC, id DESC LIMIT ?`),
      listScenarioRuns: db.prepare<[string, number]>(
        `SELECT ${RUN_COLUMNS} FROM runs WHERE scenario = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
      ),
      runEvents: db.prepare<[number, number]>(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE run_id = ? ORDER BY time_us, id LIMIT ?`,
      ),
      runEventsOfKind: db.prepare<[number, string, number]>(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE run_id = ? AND kind = ? ORDER BY time_us, id LIMIT ?`,
      ),
      deleteRun: db.prepare<[number]>("DELETE FROM runs WHERE id = ?"),
    }));
  }

  insertRun(run: NewRun): number {
    const params = runParams(run);
    return guard(this.path, "insert run", () => Number(this.statements.insertRun.run(...params).lastInsertRowid));
  }

  insertRuns(runs: readonly NewRun[]): number[] {
    const params = runs.map(runParams);
    const insertAll = this.db.transaction((): number[] => params.map((p) => Number(this.statements.insertRun.run(...p).lastInsertRowid)));
    return guard(this.path, "insert runs", () => insertAll());
  }

  insertEvents(runId: number | null, events: readonly StoredEventInput[]): number {
    const rows = this.eventRows(runId, events);
    return guard(this.path, "insert events", () => this.insertEventRows(rows));
  }

  insertRunWithEvents(run: NewRun, events: readonly StoredEventInput[]): number {
    const params = runParams(run);
    const rows = this.eventRows(null, events);
    const insertBoth = this.db.transaction((): number => {
      const runId = Number(this.statements.insertRun.run(...params).lastInsertRowid);
      for (const row of rows) row[0] = runId;
      this.insertEventRows(rows);
      return runId;
    });
    return guard(this.path, "insert run with events", () => insertBoth());
  }

  getRun(id: number): RunRow | undefined {
    assertId(id, "run id");
    const row = guard(this.path, "read run", () => this.statements.getRun.get(id));
    return row === undefined ? undefined : decodeRun(this.path, row);
  }

  listRuns(options: ListRunsOptions = {}): RunRow[] {
    const limit = listLimit(options.limit, RUNS_LIST_MAX);
    const { scenario } = options;
    const rows = guard(this.path, "list runs", () =>
      scenario === undefined
        ? this.statements.listRuns.all(limit)
        : this.statements.listScenarioRuns.all(scenario, limit),
    );
    return rows.map((row) => decodeRun(this.path, row));
  }

  runEvents(runId: number, options: RunEventsOptions = {}): EventRow[] {
    assertId(runId, "run id");
    const limit = listLimit(options.limit, EVENTS_LIST_MAX);
    const { kind } = options;
    const rows = guard(this.path, "list events", () =>
      kind === undefined
        ? this.statements.runEvents.all(runId, limit)
        : this.statements.runEventsOfKind.all(runId, kind, limit),
    );
    return rows.map((row) => decodeEvent(this.path, row));
  }

  deleteRun(id: number): boolean {
    assertId(id, "run id");
    return guard(this.path, "delete run", () => this.statements.deleteRun.run(id).changes > 0);
  }

  schemaVersion(): number {
    return guard(this.path, "read the schema version", () => readSchemaVersion(this.db, this.path));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Checks every event before any is written, so a bad one leaves nothing half-stored. */
  private eventRows(runId: number | null, events: readonly StoredEventInput[]): EventParams[] {
    if (runId !== null) assertId(runId, "run id");
    if (events.length > EVENTS_INSERT_MAX) {
      throw new Error(`events: ${events.length} in one call, more than EVENTS_INSERT_MAX (${EVENTS_INSERT_MAX})`);
    }
    return events.map((event) => eventParams(runId, event));
  }

  /** One prepared statement in one transaction (nested in the caller's, if any, as a savepoint). */
  private insertEventRows(rows: readonly EventParams[]): number {
    const insertAll = this.db.transaction((): number => {
      for (const row of rows) this.statements.insertEvent.run(...row);
      return rows.length;
    });
    return insertAll();
  }
}
