import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { openMonitorStore, type MonitorNodeInput } from "../../../real/store/index.js";

const dir = mkdtempSync(join(tmpdir(), "testbed-monstore-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const POOLS = ["good", "bad"];

function node(name: string, fields: Partial<MonitorNodeInput> = {}): MonitorNodeInput {
  return { name, pool: "good", passes: 2, failures: 0, nextTestUs: 1_700_000_000_000_000, flapping: false, probation: false, history: 0, historyLength: 3, tests: 3, updatedUs: 1_700_000_000_000_000, ...fields };
}

describe("monitor store", () => {
  it("saves node rows and their move events together, and loads them back", () => {
    const path = join(dir, "a.db");
    const s = openMonitorStore(path);
    s.save([node("n1"), node("n2", { pool: "bad", passes: 0, failures: 4, history: 0b101, historyLength: 5, probation: true })], [
      { timeUs: 5, host: "n2", kind: "monitor.move", data: { from: "good", to: "bad", reason: "result" } },
    ]);
    s.save([node("n1", { passes: 3 })], []);
    s.close();
    const again = openMonitorStore(path);
    const { nodes, corrupted } = again.loadNodes(POOLS);
    expect(corrupted).toEqual([]);
    expect(nodes.map((n) => [n.name, n.pool, n.passes, n.failures, n.probation, n.history])).toEqual([
      ["n1", "good", 3, 0, false, 0],
      ["n2", "bad", 0, 4, true, 0b101],
    ]);
    expect(again.events("monitor.move")).toEqual([{ timeUs: 5, host: "n2", kind: "monitor.move", data: { from: "good", to: "bad", reason: "result" } }]);
    again.close();
  });

  it("reports a corrupted row in one line naming table, row and field, and still loads the others", () => {
    const path = join(dir, "b.db");
    const s = openMonitorStore(path);
    s.save([node("n1"), node("n2"), node("n3")], []);
    s.close();
    const db = new Database(path);
    db.prepare("UPDATE monitor_nodes SET pool = 'nowhere' WHERE name = 'n2'").run();
    db.prepare("UPDATE monitor_nodes SET flapping = 7 WHERE name = 'n3'").run();
    db.close();
    const again = openMonitorStore(path);
    const { nodes, corrupted } = again.loadNodes(POOLS);
    expect(nodes.map((n) => n.name)).toEqual(["n1"]);
    expect(corrupted.map((c) => c.problem)).toEqual([
      `${path}: corrupted data in table monitor_nodes, row id 2, field pool: expected one of good, bad, got "nowhere"`,
      `${path}: corrupted data in table monitor_nodes, row id 3, field flapping: expected 0 or 1, got 7`,
    ]);
    for (const c of corrupted) expect(c.problem).not.toMatch(/\n/);
    again.quarantine(corrupted[0]!, 9);
    const kept = again.events("monitor.corrupt-row");
    expect(kept).toHaveLength(1);
    expect(kept[0]!.host).toBe("n2");
    expect((kept[0]!.data["row"] as Record<string, unknown>)["pool"]).toBe("nowhere");
    again.close();
  });

  it("never throws on rows of random cells: each loads or is reported corrupted in one line", () => {
    const path = join(dir, "fuzz.db");
    openMonitorStore(path).close();
    const cell = fc.oneof(fc.integer({ min: -5, max: 2 ** 40 }), fc.constantFrom(0, 1, 2, 31), fc.string({ maxLength: 6 }), fc.constant(null), fc.double(), fc.uint8Array({ maxLength: 4 }));
    fc.assert(
      fc.property(fc.array(fc.array(cell, { minLength: 10, maxLength: 10 }), { maxLength: 6 }), (rows) => {
        const db = new Database(path);
        // A table without STRICT types stands in for a file damaged or edited outside testbed.
        db.exec("DROP TABLE IF EXISTS monitor_nodes; CREATE TABLE monitor_nodes (id INTEGER PRIMARY KEY, name UNIQUE, pool, passes, failures, next_test_us, flapping, probation, history, history_length, tests, updated_us)");
        rows.forEach((cells, i) => db.prepare("INSERT INTO monitor_nodes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").run(i + 1, `n${i}`, ...cells.slice(0, 10)));
        db.close();
        const s = openMonitorStore(path);
        const { nodes, corrupted } = s.loadNodes(POOLS);
        s.close();
        expect(nodes.length + corrupted.length).toBe(rows.length);
        for (const c of corrupted) expect(c.problem).toMatch(/^.*: corrupted data in table monitor_nodes, row id \d+, field \w+: [^\n]+$/);
      }),
      { numRuns: 100 },
    );
  });

  it("refuses to write a node whose counters cannot be right (a bug, not a user error)", () => {
    const s = openMonitorStore(":memory:");
    expect(() => s.save([node("n1", { passes: -1 })], [])).toThrow(/field passes/);
    expect(s.loadNodes(POOLS).nodes).toEqual([]);
    s.close();
  });
});
