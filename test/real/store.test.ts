import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  MIGRATIONS,
  SCHEMA_VERSION,
  StoreError,
  applyMigrations,
  openStore,
  readSchemaVersion,
  type Migration,
  type NewRun,
  type Store,
  type StoredEventInput,
} from "../../real/store/index.js";

let dir: string;
const opened: { close(): void }[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "testbed-store-"));
});

afterEach(() => {
  for (const handle of opened.splice(0)) handle.close();
  rmSync(dir, { recursive: true, force: true });
});

function dbPath(name = "testbed.db"): string {
  return join(dir, name);
}

function open(path: string, options: { readonly?: boolean } = {}): Store {
  const store = openStore(path, options);
  opened.push(store);
  return store;
}

/** A plain better-sqlite3 connection, to look at or damage the file behind the store's back. */
function raw(path: string, options: Database.Options = {}): Database.Database {
  const db = new Database(path, options);
  opened.push(db);
  return db;
}

function sampleRun(overrides: Partial<NewRun> = {}): NewRun {
  return {
    kind: "sim",
    scenario: "scenarios/lossy-multicast.json",
    seed: "42",
    fingerprint: "0123456789abcdef",
    events: 1234,
    simSeconds: 12.5,
    wallSeconds: 0.25,
    ok: true,
    results: { clients: 3, lostChunks: [1, 2], verdict: "pass", nested: { empty: null } },
    createdAt: "2024-05-01T10:00:00.000Z",
    ...overrides,
  };
}

function event(timeUs: number, kind = "chunk", host = "node1", data: Record<string, unknown> = {}): StoredEventInput {
  return { timeUs, host, kind, data };
}

/** Expects `fn` to throw a StoreError and returns its message. */
function storeErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StoreError);
    const message = (error as StoreError).message;
    expect(message).not.toMatch(/[\r\n]/);
    return message;
  }
  throw new Error("expected a StoreError, but nothing was thrown");
}

describe("migrations", () => {
  it("create the schema and record the version", () => {
    const path = dbPath();
    const store = open(path);
    expect(store.schemaVersion()).toBe(SCHEMA_VERSION);
    store.close();

    const db = raw(path, { readonly: true });
    const names = db.prepare("SELECT name FROM sqlite_schema ORDER BY name").pluck().all();
    expect(names).toEqual(
      expect.arrayContaining(["schema_version", "runs", "events", "events_run_time", "events_kind"]),
    );
    const versions = db.prepare("SELECT version, description FROM schema_version ORDER BY version").all();
    expect(versions).toEqual(MIGRATIONS.map(({ version, description }) => ({ version, description })));
  });

  it("work on an in-memory database", () => {
    expect(open(":memory:").schemaVersion()).toBe(SCHEMA_VERSION);
  });

  it("keep the rows of an existing file on re-opening and do not run again", () => {
    const path = dbPath();
    const first = open(path);
    const id = first.insertRun(sampleRun());
    first.close();

    const second = open(path);
    expect(second.getRun(id)).toEqual({ id, ...sampleRun() });
    expect(second.schemaVersion()).toBe(SCHEMA_VERSION);
    second.close();

    const db = raw(path);
    expect(db.prepare("SELECT COUNT(*) FROM schema_version").pluck().get()).toBe(MIGRATIONS.length);
    expect(applyMigrations(db, path)).toEqual([]);
  });

  it("apply only the migrations newer than the database, each exactly once", () => {
    const path = dbPath();
    const db = raw(path);
    const create: Migration = {
      version: 1,
      description: "versions and a counter",
      sql: "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL); CREATE TABLE counter (x INTEGER);",
    };
    const count: Migration = { version: 2, description: "count once", sql: "INSERT INTO counter VALUES (1);" };

    expect(applyMigrations(db, path, [create])).toEqual([1]);
    expect(applyMigrations(db, path, [create, count])).toEqual([2]);
    expect(applyMigrations(db, path, [create, count])).toEqual([]);
    expect(db.prepare("SELECT COUNT(*) FROM counter").pluck().get()).toBe(1);
    expect(readSchemaVersion(db, path)).toBe(2);
  });

  it("roll back a migration that fails and report it as a StoreError", () => {
    const path = dbPath();
    const db = raw(path);
    const broken: Migration = {
      version: 2,
      description: "half done",
      sql: "CREATE TABLE half (x INTEGER); INSERT INTO missing VALUES (1);",
    };
    const first = MIGRATIONS[0];
    if (first === undefined) throw new Error("no migrations");

    const message = storeErrorOf(() => applyMigrations(db, path, [first, broken]));
    expect(message).toMatch(new RegExp(`^${escape(path)}: cannot apply migration 2 \\(half done\\) \\(.*missing`));
    expect(readSchemaVersion(db, path)).toBe(1);
    expect(db.prepare("SELECT name FROM sqlite_schema WHERE name = 'half'").get()).toBeUndefined();
  });

  it("refuse a database with a newer schema version and leave it unmodified", () => {
    const path = dbPath();
    open(path).close();
    const newer = SCHEMA_VERSION + 8;
    const db = new Database(path);
    // Out of WAL, so that switching it back (which rewrites the header) would show in the bytes.
    db.pragma("journal_mode = DELETE");
    db.prepare("INSERT INTO schema_version (version, description) VALUES (?, 'from the future')").run(newer);
    db.close();
    const before = readFileSync(path);

    const message = storeErrorOf(() => openStore(path));
    expect(message).toBe(
      `${path}: schema version ${newer} is newer than this testbed (knows ${SCHEMA_VERSION}); upgrade testbed`,
    );
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it("refuse a SQLite file that belongs to another program and leave it unmodified", () => {
    const path = dbPath("other.db");
    const db = new Database(path);
    db.exec("CREATE TABLE recipes (name TEXT)");
    db.close();
    const before = readFileSync(path);

    const message = storeErrorOf(() => openStore(path));
    expect(message).toBe(`${path}: not a testbed database (has table "recipes" but no schema_version table)`);
    expect(readFileSync(path).equals(before)).toBe(true);
  });
});

describe("opening a store", () => {
  it("turns on WAL mode for a file database", () => {
    const path = dbPath();
    open(path);
    expect(raw(path, { readonly: true }).pragma("journal_mode", { simple: true })).toBe("wal");
  });

  it("refuses a file of random bytes with one line naming the path and leaves the file untouched", () => {
    const path = dbPath("random.db");
    const before = randomBytes(8192);
    writeFileSync(path, before);

    const message = storeErrorOf(() => openStore(path));
    expect(message).toBe(`${path}: not a testbed database (file is not a SQLite database)`);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(existsSync(`${path}-wal`)).toBe(false);
    expect(existsSync(`${path}-shm`)).toBe(false);
  });

  it("refuses a path in a missing directory with one line naming the path", () => {
    const path = join(dir, "no-such-dir", "testbed.db");
    expect(storeErrorOf(() => openStore(path))).toMatch(new RegExp(`^${escape(path)}: cannot create \\(`));
  });

  it("refuses to open a missing file read-only, and creates nothing", () => {
    const path = dbPath("missing.db");
    expect(storeErrorOf(() => openStore(path, { readonly: true }))).toBe(
      `${path}: no such store file (a command that works on what is already stored never creates one)`,
    );
    expect(existsSync(path)).toBe(false);
  });

  it("opens a read-only store that reads runs but refuses to write them", () => {
    const path = dbPath();
    const writer = open(path);
    writer.insertRun(sampleRun());
    writer.close();

    const reader = open(path, { readonly: true });
    expect(reader.listRuns()).toHaveLength(1);
    expect(storeErrorOf(() => reader.insertRun(sampleRun()))).toMatch(/cannot insert run \(.*readonly/);
  });
});

describe("runs", () => {
  it("round-trip with their results JSON", () => {
    const store = open(":memory:");
    const failed = sampleRun({ ok: false, results: ["a", 1, false], seed: "seed-x", events: 0, simSeconds: 0 });
    const firstId = store.insertRun(sampleRun());
    const secondId = store.insertRun(failed);

    expect(secondId).not.toBe(firstId);
    expect(store.getRun(firstId)).toEqual({ id: firstId, ...sampleRun() });
    expect(store.getRun(secondId)).toEqual({ id: secondId, ...failed });
  });

  it("round-trip any JSON value as results", () => {
    const store = open(":memory:");
    fc.assert(
      fc.property(fc.jsonValue(), (results) => {
        const id = store.insertRun(sampleRun({ results }));
        expect(store.getRun(id)?.results).toEqual(JSON.parse(JSON.stringify(results)));
      }),
      { numRuns: 200 },
    );
  });

  it("are absent when the id was never stored", () => {
    expect(open(":memory:").getRun(999)).toBeUndefined();
  });

  it("are listed newest first, by scenario, and up to a limit", () => {
    const store = open(":memory:");
    const at = (minute: number): string => `2024-05-01T10:${String(minute).padStart(2, "0")}:00.000Z`;
    const early = store.insertRun(sampleRun({ scenario: "a", createdAt: at(1) }));
    const late = store.insertRun(sampleRun({ scenario: "b", createdAt: at(30) }));
    const middle = store.insertRun(sampleRun({ scenario: "a", createdAt: at(10) }));
    const sameTime = store.insertRun(sampleRun({ scenario: "a", createdAt: at(10) }));

    const ids = (rows: { id: number }[]): number[] => rows.map((row) => row.id);
    expect(ids(store.listRuns())).toEqual([late, sameTime, middle, early]);
    expect(ids(store.listRuns({ limit: 2 }))).toEqual([late, sameTime]);
    expect(ids(store.listRuns({ scenario: "a" }))).toEqual([sameTime, middle, early]);
    expect(ids(store.listRuns({ scenario: "a", limit: 1 }))).toEqual([sameTime]);
    expect(store.listRuns({ scenario: "none" })).toEqual([]);
  });

  it("give a StoreError naming table, row and field when a results cell is corrupted", () => {
    const path = dbPath();
    const store = open(path);
    store.insertRun(sampleRun());
    const id = store.insertRun(sampleRun());
    raw(path).prepare("UPDATE runs SET results = 'not json {' WHERE id = ?").run(id);

    const expected = new RegExp(
      `^${escape(path)}: corrupted data in table runs, row id ${id}, field results: not valid JSON \\(`,
    );
    expect(storeErrorOf(() => store.getRun(id))).toMatch(expected);
    expect(storeErrorOf(() => store.listRuns())).toMatch(expected);
  });

  it("refuse a createdAt that is not an ISO time, as a bug, before writing", () => {
    const store = open(":memory:");
    expect(() => store.insertRun(sampleRun({ createdAt: "yesterday" }))).toThrow(/createdAt/);
    expect(() => store.insertRun(sampleRun({ createdAt: "yesterday" }))).not.toThrow(StoreError);
    expect(store.listRuns()).toEqual([]);
  });
});

describe("events", () => {
  it("are stored and listed in time order, ties in insertion order", () => {
    const store = open(":memory:");
    const runId = store.insertRun(sampleRun());
    const stored = [event(30, "a"), event(10, "b", "node2", { chunk: 7 }), event(20, "c"), event(10, "d")];

    expect(store.insertEvents(runId, stored)).toBe(4);
    const rows = store.runEvents(runId);
    expect(rows.map((row) => row.kind)).toEqual(["b", "d", "c", "a"]);
    expect(rows[0]).toEqual({ id: expect.any(Number), runId, timeUs: 10, host: "node2", kind: "b", data: { chunk: 7 } });
  });

  it("are listed in time order for any insertion order", () => {
    const store = open(":memory:");
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 1_000 }), { maxLength: 50 }), (times) => {
        const runId = store.insertRun(sampleRun());
        store.insertEvents(runId, times.map((timeUs, index) => event(timeUs, "k", "h", { index })));
        const expected = times
          .map((timeUs, index) => ({ timeUs, index }))
          .sort((a, b) => a.timeUs - b.timeUs || a.index - b.index);
        const listed = store.runEvents(runId).map((row) => ({ timeUs: row.timeUs, index: row.data["index"] }));
        expect(listed).toEqual(expected);
      }),
      { numRuns: 100 },
    );
  });

  it("are filtered by kind and up to a limit", () => {
    const store = open(":memory:");
    const runId = store.insertRun(sampleRun());
    const otherRun = store.insertRun(sampleRun());
    store.insertEvents(runId, [event(1, "join"), event(2, "chunk"), event(3, "join"), event(4, "join")]);
    store.insertEvents(otherRun, [event(0, "join")]);

    expect(store.runEvents(runId, { kind: "join" }).map((row) => row.timeUs)).toEqual([1, 3, 4]);
    expect(store.runEvents(runId, { kind: "join", limit: 2 }).map((row) => row.timeUs)).toEqual([1, 3]);
    expect(store.runEvents(runId, { limit: 2 }).map((row) => row.timeUs)).toEqual([1, 2]);
    expect(store.runEvents(runId, { kind: "leave" })).toEqual([]);
  });

  it("are deleted with their run", () => {
    const path = dbPath();
    const store = open(path);
    const runId = store.insertRun(sampleRun());
    const keptId = store.insertRun(sampleRun());
    store.insertEvents(runId, [event(1), event(2)]);
    store.insertEvents(keptId, [event(3)]);

    expect(store.deleteRun(runId)).toBe(true);
    expect(store.getRun(runId)).toBeUndefined();
    expect(raw(path).prepare("SELECT run_id FROM events").pluck().all()).toEqual([keptId]);
    expect(store.deleteRun(runId)).toBe(false);
  });

  it("are stored without a run when a daemon writes them", () => {
    const path = dbPath();
    const store = open(path);
    expect(store.insertEvents(null, [event(5, "up", "pc1", { pid: 1 })])).toBe(1);
    expect(raw(path).prepare("SELECT run_id, host, data FROM events").all()).toEqual([
      { run_id: null, host: "pc1", data: '{"pid":1}' },
    ]);
  });

  it("are refused with a StoreError for a run that does not exist", () => {
    const store = open(":memory:");
    expect(storeErrorOf(() => store.insertEvents(77, [event(1)]))).toMatch(/cannot insert events \(FOREIGN KEY/);
  });

  it("give a StoreError naming table, row and field when a data cell is corrupted", () => {
    const path = dbPath();
    const store = open(path);
    const runId = store.insertRun(sampleRun());
    store.insertEvents(runId, [event(1)]);
    raw(path).prepare("UPDATE events SET data = '[1, 2]'").run();

    expect(storeErrorOf(() => store.runEvents(runId))).toMatch(
      new RegExp(`^${escape(path)}: corrupted data in table events, row id \\d+, field data: expected a JSON object$`),
    );
  });

  it("are stored with their run atomically: a failed event leaves neither", () => {
    const path = dbPath();
    const store = open(path);
    raw(path).exec(`
      CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.kind = 'poison'
      BEGIN SELECT RAISE(ABORT, 'poisoned event'); END;
    `);

    const message = storeErrorOf(() => store.insertRunWithEvents(sampleRun(), [event(1), event(2, "poison")]));
    expect(message).toMatch(/cannot insert run with events \(poisoned event\)/);
    expect(store.listRuns()).toEqual([]);
    expect(raw(path).prepare("SELECT COUNT(*) FROM events").pluck().get()).toBe(0);

    const runId = store.insertRunWithEvents(sampleRun(), [event(2), event(1)]);
    expect(store.runEvents(runId).map((row) => row.timeUs)).toEqual([1, 2]);
  });

  it("insert 10,000 in one call", () => {
    const store = open(":memory:");
    const runId = store.insertRun(sampleRun());
    const many = Array.from({ length: 10_000 }, (_, index) => event(index * 10, index % 2 === 0 ? "even" : "odd"));

    expect(store.insertEvents(runId, many)).toBe(10_000);
    expect(store.runEvents(runId)).toHaveLength(10_000);
    expect(store.runEvents(runId, { kind: "odd" })).toHaveLength(5_000);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
