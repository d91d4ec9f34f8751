import { mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { StoreError, claimWriter, openStore, processStart } from "../../real/store/index.js";

const dir = mkdtempSync(join(tmpdir(), "testbed-writers-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let serial = 0;

function store(): Database.Database {
  const path = join(dir, `${serial++}.db`);
  openStore(path).close();
  return new Database(path);
}

function plant(db: Database.Database, pid: number, start: string, host = hostname()): void {
  db.prepare("INSERT INTO store_writers (role, pid, host, process_start, started_at, command) VALUES ('monitor', ?, ?, ?, '2026-01-01T00:00:00Z', 'testbed monitor')").run(pid, host, start);
}

describe("one writer per role", () => {
  it("refuses a second claim while the holder runs, naming its pid, host and start", () => {
    const db = store();
    plant(db, process.ppid, processStart(process.ppid));
    expect(() => claimWriter(db, "m.db", "monitor", "test")).toThrow(StoreError);
    expect(() => claimWriter(db, "m.db", "monitor", "test")).toThrow(`m.db: another monitor is writing to this store: pid ${process.ppid} on ${hostname()}, started 2026-01-01T00:00:00Z (testbed monitor); stop it first or give another --db`);
    db.close();
  });

  it("takes over from a holder that is gone, and from a reused pid with another start time", () => {
    const db = store();
    plant(db, 2 ** 22 + 12345, "");
    const claim = claimWriter(db, "m.db", "monitor", "test");
    expect(claim.tookOverFrom).toBe(`pid ${2 ** 22 + 12345} on ${hostname()}`);
    claim.release();
    plant(db, process.ppid, "1");
    expect(claimWriter(db, "m.db", "monitor", "test").tookOverFrom).toBe(`pid ${process.ppid} on ${hostname()}`);
    db.close();
  });

  it("frees the role on release, and leaves another host's claim alone (it cannot be checked)", () => {
    const db = store();
    claimWriter(db, "m.db", "monitor", "test").release();
    expect(db.prepare("SELECT COUNT(*) AS n FROM store_writers").get()).toEqual({ n: 0 });
    plant(db, 1, "", "some-other-host");
    expect(() => claimWriter(db, "m.db", "monitor", "test")).toThrow(/pid 1 on some-other-host/);
    db.close();
  });
});
