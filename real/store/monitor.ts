import Database from "better-sqlite3";
import { StoreError, guard, reasonOf } from "./errors.js";
import { eventParams, type StoredEventInput } from "./rows.js";
import { openStoreConnection } from "./connection.js";
import { claimWriter, type WriterClaim } from "./writers.js";

/** One node's monitor state as the store keeps it: enough to resume after a restart. */
export interface MonitorNodeInput {
  readonly name: string;
  readonly pool: string;
  readonly passes: number;
  readonly failures: number;
  /** Wall-clock microseconds since the Unix epoch. */
  readonly nextTestUs: number;
  readonly flapping: boolean;
  readonly probation: boolean;
  readonly history: number;
  readonly historyLength: number;
  readonly tests: number;
  readonly updatedUs: number;
}

export interface MonitorNodeRow extends MonitorNodeInput {
  readonly id: number;
}

/** A row that breaks the schema's promises: kept as it is, reported in one line, never thrown. */
export interface CorruptedMonitorRow {
  readonly id: number;
  readonly name: string | null;
  /** `<path>: corrupted data in table monitor_nodes, row id N, field F: why` */
  readonly problem: string;
  readonly raw: Record<string, unknown>;
}

/** Most node rows one load returns; the monitor holds no more nodes than this. */
export const MONITOR_NODES_MAX = 1_000_000;
/** Longest history bits a row may hold (the flap detector's limit). */
const HISTORY_LENGTH_MAX = 30;
const COUNTER_MAX = 0xffff_ffff;

export interface MonitorStore {
  readonly path: string;
  /** Every node row; a corrupted row is listed apart so that one bad row loses none of the others. */
  loadNodes(pools: readonly string[]): { nodes: MonitorNodeRow[]; corrupted: CorruptedMonitorRow[] };
  /** Writes node rows (by name, replacing) and events in one transaction: a move and its row land together. */
  save(nodes: readonly MonitorNodeInput[], events: readonly StoredEventInput[]): void;
  /** Keeps a corrupted row's cells as a `monitor.corrupt-row` event before anything replaces the row. */
  quarantine(row: CorruptedMonitorRow, timeUs: number): void;
  /** Events of the given kind prefix written outside any run, oldest first. */
  events(kind: string, limit?: number): StoredEventInput[];
  /** Takes the monitor's place as the store's one writer of node rows, or refuses naming who has it. */
  claimWriter(command: string): WriterClaim;
  close(): void;
}

const NODE_COLUMNS = "name, pool, passes, failures, next_test_us, flapping, probation, history, history_length, tests, updated_us";

/**
 * Opens the store for the monitor. `openStore` checks the file and applies the migrations first;
 * then the monitor keeps its own connection, so this file needs nothing private from store.ts.
 */
export function openMonitorStore(path: string): MonitorStore {
  return new SqliteMonitorStore(openStoreConnection(path), path);
}

class SqliteMonitorStore implements MonitorStore {
  private readonly statements;

  constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {
    this.statements = guard(path, "prepare monitor statements", () => ({
      all: db.prepare<[number]>(`SELECT id, ${NODE_COLUMNS} FROM monitor_nodes ORDER BY id LIMIT ?`),
      upsert: db.prepare(
        `INSERT INTO monitor_nodes (${NODE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET pool = excluded.pool, passes = excluded.passes, failures = excluded.failures,
           next_test_us = excluded.next_test_us, flapping = excluded.flapping, probation = excluded.probation,
           history = excluded.history, history_length = excluded.history_length, tests = excluded.tests,
           updated_us = excluded.updated_us`,
      ),
      event: db.prepare("INSERT INTO events (run_id, time_us, host, kind, data) VALUES (?, ?, ?, ?, ?)"),
      events: db.prepare<[string, number]>(
        "SELECT time_us, host, kind, data FROM events WHERE run_id IS NULL AND kind LIKE ? || '%' ORDER BY time_us, id LIMIT ?",
      ),
    }));
  }

  loadNodes(pools: readonly string[]): { nodes: MonitorNodeRow[]; corrupted: CorruptedMonitorRow[] } {
    const rows = guard(this.path, "read monitor_nodes", () => this.statements.all.all(MONITOR_NODES_MAX + 1)) as Record<string, unknown>[];
    if (rows.length > MONITOR_NODES_MAX) throw new StoreError(this.path, `monitor_nodes holds more than MONITOR_NODES_MAX (${MONITOR_NODES_MAX}) rows`);
    const nodes: MonitorNodeRow[] = [];
    const corrupted: CorruptedMonitorRow[] = [];
    const known = new Set(pools);
    for (const row of rows) {
      const decoded = decodeNode(row, known);
      if (typeof decoded === "string") {
        corrupted.push({
          id: Number(row["id"]),
          name: typeof row["name"] === "string" ? row["name"] : null,
          problem: `${this.path}: corrupted data in table monitor_nodes, row id ${String(row["id"])}, ${decoded}`,
          raw: row,
        });
      } else nodes.push(decoded);
    }
    return { nodes, corrupted };
  }

  save(nodes: readonly MonitorNodeInput[], events: readonly StoredEventInput[]): void {
    const nodeParams = nodes.map(nodeParamsOf);
    const eventRows = events.map((e) => eventParams(null, e));
    const write = this.db.transaction(() => {
      for (const p of nodeParams) this.statements.upsert.run(...p);
      for (const p of eventRows) this.statements.event.run(...p);
    });
    guard(this.path, "save monitor state", () => write.immediate());
  }

  quarantine(row: CorruptedMonitorRow, timeUs: number): void {
    const raw: Record<string, string | number | null> = {};
    for (const [k, v] of Object.entries(row.raw)) raw[k] = typeof v === "bigint" ? String(v) : (v as string | number | null);
    this.save([], [{ timeUs, host: row.name ?? `row ${row.id}`, kind: "monitor.corrupt-row", data: { problem: row.problem, row: raw } }]);
  }

  events(kind: string, limit = 100_000): StoredEventInput[] {
    const rows = guard(this.path, "read events", () => this.statements.events.all(kind, limit)) as { time_us: number; host: string; kind: string; data: string }[];
    return rows.map((r) => {
      try {
        return { timeUs: r.time_us, host: r.host, kind: r.kind, data: JSON.parse(r.data) as Record<string, unknown> };
      } catch (error) {
        throw new StoreError(this.path, `corrupted data in table events, kind ${r.kind}, field data: not valid JSON (${reasonOf(error)})`);
      }
    });
  }

  claimWriter(command: string): WriterClaim {
    return claimWriter(this.db, this.path, "monitor", command);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

type NodeParams = [string, string, number, number, number, number, number, number, number, number, number];

function nodeParamsOf(n: MonitorNodeInput): NodeParams {
  const problem = checkNode(n);
  if (problem !== null) throw new Error(`monitor node ${JSON.stringify(n.name)}: ${problem}`);
  return [n.name, n.pool, n.passes, n.failures, n.nextTestUs, n.flapping ? 1 : 0, n.probation ? 1 : 0, n.history, n.historyLength, n.tests, n.updatedUs];
}

function counter(v: unknown, max = COUNTER_MAX): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max;
}

/** The first field of a node that cannot be right, as `field F: why`, or null. */
function checkNode(n: MonitorNodeInput, pools?: ReadonlySet<string>): string | null {
  const bad = (field: string, why: string, value: unknown): string => `field ${field}: ${why}, got ${JSON.stringify(value) ?? String(value)}`;
  if (typeof n.name !== "string" || n.name === "") return bad("name", "expected a node name", n.name);
  if (typeof n.pool !== "string" || (pools !== undefined && !pools.has(n.pool))) return bad("pool", `expected one of ${[...(pools ?? [])].join(", ")}`, n.pool);
  if (!counter(n.passes)) return bad("passes", "expected a count", n.passes);
  if (!counter(n.failures)) return bad("failures", "expected a count", n.failures);
  if (n.passes > 0 && n.failures > 0) return bad("failures", "consecutive passes and failures cannot both be non-zero", n.failures);
  if (!counter(n.nextTestUs, Number.MAX_SAFE_INTEGER)) return bad("next_test_us", "expected microseconds since the epoch", n.nextTestUs);
  if (!counter(n.historyLength, HISTORY_LENGTH_MAX)) return bad("history_length", `expected 0 to ${HISTORY_LENGTH_MAX}`, n.historyLength);
  if (!counter(n.history, 2 ** n.historyLength - 1)) return bad("history", `expected ${n.historyLength} bits`, n.history);
  if (!counter(n.tests, Number.MAX_SAFE_INTEGER)) return bad("tests", "expected a count", n.tests);
  if (!counter(n.updatedUs, Number.MAX_SAFE_INTEGER)) return bad("updated_us", "expected microseconds since the epoch", n.updatedUs);
  return null;
}

function decodeNode(row: Record<string, unknown>, pools: ReadonlySet<string>): MonitorNodeRow | string {
  const flag = (field: string): boolean | string => (row[field] === 0 || row[field] === 1 ? row[field] === 1 : `field ${field}: expected 0 or 1, got ${JSON.stringify(row[field])}`);
  const flapping = flag("flapping");
  if (typeof flapping === "string") return flapping;
  const probation = flag("probation");
  if (typeof probation === "string") return probation;
  const node = {
    id: row["id"] as number,
    name: row["name"] as string,
    pool: row["pool"] as string,
    passes: row["passes"] as number,
    failures: row["failures"] as number,
    nextTestUs: row["next_test_us"] as number,
    flapping,
    probation,
    history: row["history"] as number,
    historyLength: row["history_length"] as number,
    tests: row["tests"] as number,
    updatedUs: row["updated_us"] as number,
  };
  return checkNode(node, pools) ?? node;
}
