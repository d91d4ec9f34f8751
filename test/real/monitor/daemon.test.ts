import fc from "fast-check";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type AddressInfo } from "node:net";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { createRng } from "../../../core/engine/rng.js";
import { deployedConfig } from "../../../core/monitor/index.js";
import { RealMonitor, type RealMonitorOptions } from "../../../real/monitor/daemon.js";
import type { MonitorLine } from "../../../real/monitor/lines.js";
import { openMonitorStore } from "../../../real/store/index.js";

const dir = mkdtempSync(join(tmpdir(), "testbed-mond-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SEC = 1_000_000;
let dbs = 0;

function options(nodes: string[], template: string, extra: Partial<RealMonitorOptions> = {}): RealMonitorOptions {
  return {
    nodes,
    test: { kind: "command", template },
    config: deployedConfig({ window: 4, testTimeoutUs: 10 * SEC, entryJitterUs: 0 }),
    dbPath: join(dir, `m${++dbs}.db`),
    loadMax: 8,
    once: true,
    seed: 1,
    log: () => {},
    warn: () => {},
    load: () => 0,
    ...extra,
  };
}

/** Gone, or a zombie: killed, waiting for a parent (here possibly a PID 1 that never reaps) to collect it. */
function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

describe("real monitor with test commands", () => {
  it("passes nodes whose command exits 0 and moves the others to the bad pool", async () => {
    const o = options(["up1", "up2", "down1"], 'case {node} in up*) exit 0;; *) exit 1;; esac');
    const s = await new RealMonitor(o).run();
    expect(s).toMatchObject({ nodes: 3, added: 3, testsRun: 3, timeouts: 0 });
    const store = openMonitorStore(o.dbPath);
    const rows = store.loadNodes(["good", "bad"]).nodes;
    expect(rows.map((r) => [r.name, r.pool, r.passes, r.failures, r.tests])).toEqual([
      ["up1", "good", 1, 0, 1],
      ["up2", "good", 1, 0, 1],
      ["down1", "bad", 0, 1, 1],
    ]);
    const moves = store.events("monitor.move").map((e) => `${e.host}:${String(e.data["from"])}>${String(e.data["to"])}`);
    expect(moves.sort()).toEqual(["down1:->good", "down1:good>bad", "up1:->good", "up2:->good"]);
    store.close();
  });

  it("probes with a TCP connect: a listening port passes, a closed one fails", async () => {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      const open = options(["127.0.0.1"], "", { test: { kind: "tcp", port } });
      expect((await new RealMonitor(open).run()).pools["good"]).toBe(1);
      const closed = new Promise<number>((resolve) => {
        const probe = createServer();
        probe.listen(0, "127.0.0.1", () => {
          const p = (probe.address() as AddressInfo).port;
          probe.close(() => resolve(p));
        });
      });
      const closedPort = await closed;
      const said: MonitorLine[] = [];
      const shut = options(["127.0.0.1"], "", { test: { kind: "tcp", port: closedPort }, log: (l) => said.push(l) });
      const s = await new RealMonitor(shut).run();
      expect(s.testsRun).toBe(1);
      expect(said.find((l) => l.kind === "tested")?.fields["reason"]).toBe(`connection refused on port ${closedPort} (ECONNREFUSED)`);
      const store = openMonitorStore(shut.dbPath);
      expect(store.loadNodes(["good", "bad"]).nodes[0]?.pool).toBe("bad");
      store.close();
    } finally {
      server.close();
    }
  });

  it("starts no test while the load average is above --load-max, and starts them when it falls", async () => {
    let load = 20;
    const started: number[] = [];
    const o = options(["a", "b"], "", {
      loadMax: 8,
      loadRecheckMs: 20,
      load: () => load,
      runTest: (_spec, _node, done) => {
        started.push(load);
        const t = setImmediate(() => done(true));
        return { stop: () => clearImmediate(t) };
      },
    });
    const said: MonitorLine[] = [];
    const running = new RealMonitor({ ...o, log: (l) => said.push(l) }).run();
    await new Promise((r) => setTimeout(r, 150));
    expect(started).toEqual([]);
    load = 0.5;
    expect((await running).testsRun).toBe(2);
    expect(started).toEqual([0.5, 0.5]);
    // The gate's closing and opening are said, once each, with the load and the limit.
    const gate = said.filter((l) => l.kind === "paused" || l.kind === "resumed").map((l) => l.text);
    expect(gate).toEqual(["load 20 is above --load-max 8: no new test starts (0 in flight finish)", "load 0.5 is back under --load-max 8: testing resumes"]);
  });

  it("kills a test that hangs at its timeout, with whatever it started, and counts it failed", async () => {
    const pidFile = join(dir, "hang.pid");
    const o = options(["h1"], `sh -c 'echo $$ > ${pidFile}; exec sleep 60'`, {
      config: deployedConfig({ window: 1, testTimeoutUs: 1 * SEC, entryJitterUs: 0 }),
    });
    const startedMs = Date.now();
    const s = await new RealMonitor(o).run();
    expect(Date.now() - startedMs).toBeLessThan(20_000);
    expect(s.timeouts).toBe(1);
    // Entering the bad pool it is tested again at once; that test is stopped with the monitor.
    expect((s.pools["bad"] ?? 0) + (s.pools["testing"] ?? 0)).toBe(1);
    const store = openMonitorStore(o.dbPath);
    expect(store.loadNodes(["good", "bad"]).nodes.map((r) => [r.name, r.pool, r.failures])).toEqual([["h1", "bad", 1]]);
    store.close();
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    for (let i = 0; i < 50 && !processGone(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(processGone(pid)).toBe(true);
  });

  it("resumes every node in its pool with its counters after a restart, and forgets none", async () => {
    let clock = 1_700_000_000_000_000;
    const first = options(["a", "b", "c"], 'test {node} != b', { clockUs: () => clock });
    await new RealMonitor(first).run();
    // Thirteen hours later every backoff has run out: the restarted monitor tests all three again.
    clock += 13 * 3_600 * SEC;
    const s = await new RealMonitor({ ...first, nodes: ["a", "b", "c", "d"] }).run();
    expect(s).toMatchObject({ resumed: 3, added: 1, corrupted: 0 });
    const store = openMonitorStore(first.dbPath);
    const rows = store.loadNodes(["good", "bad"]).nodes;
    expect(rows.map((r) => [r.name, r.pool, r.passes, r.failures, r.tests])).toEqual([
      ["a", "good", 2, 0, 2],
      ["b", "bad", 0, 2, 2],
      ["c", "good", 2, 0, 2],
      ["d", "good", 1, 0, 1],
    ]);
    for (const r of rows.filter((x) => x.pool === "good" && x.passes === 2)) {
      expect(r.nextTestUs - clock).toBeGreaterThanOrEqual(2 * 2 * 600 * SEC - 10 * SEC);
    }
    store.close();
  });

  it("brings a stored next test time beyond the pool's longest backoff back within it", async () => {
    const clock = 1_700_000_000_000_000;
    const first = options(["a"], "false", { clockUs: () => clock });
    await new RealMonitor(first).run();
    const db = new Database(first.dbPath);
    db.prepare("UPDATE monitor_nodes SET next_test_us = ?").run(2 ** 52);
    db.close();
    await new RealMonitor({ ...first, once: false, runForMs: 30 }).run();
    const store = openMonitorStore(first.dbPath);
    const row = store.loadNodes(["good", "bad"]).nodes[0];
    expect(row?.pool).toBe("bad");
    expect(row!.nextTestUs - clock).toBeLessThanOrEqual((12 * 3_600 + 120) * SEC);
    store.close();
  });

  it("warns in one line about a corrupted row, keeps it as an event, and loses no other node", async () => {
    const warnings: string[] = [];
    let clock = 1_700_000_000_000_000;
    const first = options(["a", "b", "c"], "true", { clockUs: () => clock });
    await new RealMonitor(first).run();
    clock += 13 * 3_600 * SEC;
    const db = new Database(first.dbPath);
    db.prepare("UPDATE monitor_nodes SET passes = -5 WHERE name = 'b'").run();
    db.close();
    const s = await new RealMonitor({ ...first, warn: (l) => warnings.push(l) }).run();
    expect(s).toMatchObject({ resumed: 2, added: 1, corrupted: 1 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/corrupted data in table monitor_nodes, row id 2, field passes: expected a count, got -5; row kept as event monitor\.corrupt-row, node b starts again in pool good$/);
    const store = openMonitorStore(first.dbPath);
    expect(store.loadNodes(["good", "bad"]).nodes.map((r) => r.name)).toEqual(["a", "b", "c"]);
    expect(store.events("monitor.corrupt-row")).toHaveLength(1);
    store.close();
  });

  it("makes every pool move an event in the store, in order, ending in the stored pool", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.nat(), async (nodeCount, restarts, seed) => {
        const nodes = Array.from({ length: nodeCount }, (_, i) => `n${i}`);
        const rng = createRng(seed);
        let clock = 1_700_000_000_000_000;
        const o = options(nodes, "unused", {
          clockUs: () => clock,
          runTest: (_spec, _node, done) => {
            const passed = rng.chance(0.5);
            const t = setImmediate(() => done(passed));
            return { stop: () => clearImmediate(t) };
          },
        });
        let moves = 0;
        for (let i = 0; i < restarts; i++) {
          moves += (await new RealMonitor(o).run()).moves;
          clock += 13 * 3_600 * SEC;
        }
        const store = openMonitorStore(o.dbPath);
        const events = store.events("monitor.move");
        expect(events).toHaveLength(moves);
        const stored = new Map(store.loadNodes(["good", "bad"]).nodes.map((r) => [r.name, r.pool]));
        for (const name of nodes) {
          const chain = events.filter((e) => e.host === name).map((e) => [String(e.data["from"]), String(e.data["to"])]);
          expect(chain[0]?.[0]).toBe("-");
          for (let i = 1; i < chain.length; i++) expect(chain[i]?.[0]).toBe(chain[i - 1]?.[1]);
          expect(stored.get(name)).toBe(chain[chain.length - 1]?.[1]);
        }
        store.close();
        expect(existsSync(o.dbPath)).toBe(true);
      }),
      { numRuns: 15 },
    );
  });
});
