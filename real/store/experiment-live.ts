import type Database from "better-sqlite3";
import { guard } from "./errors.js";
import { EVENT_COLUMNS, RUN_COLUMNS, RUN_INSERT_COLUMNS, decodeEvent, decodeRun, eventParams, runParams, type EventRow, type NewRun, type RunRow, type StoredEventInput } from "./rows.js";
import { SiteVariableStore } from "./sitevars.js";

/** What a swap records of one node at a flush. */
export interface NodeProgress {
  readonly node: string;
  readonly phase: string;
  readonly pnode: string;
  readonly attempt: number;
  readonly bytesWritten: number;
  readonly imageBytes: number;
  readonly secondsLeft: number | null;
  readonly lastReportUs: number | null;
  readonly ready: boolean;
  readonly reason: string;
}

/** One flush of a running swap: its clock, figures, the nodes that changed and the events since the last flush. */
export interface SwapProgress {
  readonly clockUs: number;
  readonly secondsLeft: number | null;
  readonly progress: Readonly<Record<string, unknown>>;
  readonly nodes: readonly NodeProgress[];
  readonly events: readonly StoredEventInput[];
}

export interface PartitionRow {
  readonly node: string;
  readonly partition: number;
  readonly image: string;
  readonly delta: string | null;
  readonly deltaBytes: number | null;
  readonly savedAt: string | null;
}

export interface ExperimentEvent extends EventRow {
  readonly experiment: string | null;
}

/** Most events one read returns. */
export const EXPERIMENT_EVENTS_MAX = 10_000;
/** Most swap runs one read returns. */
export const SWAP_RUNS_MAX = 1_000;

/**
 * The parts of the experiment store a running swap, the node-configuration server and the portal
 * use: live progress (one transaction per flush), ready bits, partitions and their deltas, events.
 */
export class ExperimentLive {
  readonly sitevars: SiteVariableStore;
  private readonly live;

  constructor(
    protected readonly db: Database.Database,
    readonly path: string,
  ) {
    this.sitevars = new SiteVariableStore(db, path);
    this.live = guard(path, "prepare experiment progress statements", () => ({
      clock: db.prepare("UPDATE experiments SET clock_us = ?, seconds_left = ?, progress = ?, updated_at = ? WHERE name = ?"),
      node: db.prepare(
        "UPDATE experiment_nodes SET phase = ?, pnode = ?, attempt = ?, bytes_written = ?, image_bytes = ?, seconds_left = ?, last_report_us = ?, ready = ?, reason = ? WHERE experiment = ? AND node = ?",
      ),
      event: db.prepare("INSERT INTO events (run_id, time_us, host, kind, data, experiment) VALUES (?, ?, ?, ?, ?, ?)"),
      byHost: db.prepare<[string]>(
        "SELECT n.experiment, n.node, e.state FROM experiment_nodes n JOIN experiments e ON e.name = n.experiment WHERE n.host = ? AND e.state IN ('swapping-in', 'active', 'swapping-out') LIMIT 2",
      ),
      ready: db.prepare("UPDATE experiment_nodes SET ready = 1 WHERE experiment = ? AND node = ?"),
      readyCount: db.prepare<[string]>("SELECT SUM(ready) AS ready, SUM(phase <> 'failed') AS total FROM experiment_nodes WHERE experiment = ?"),
      partitions: db.prepare<[string]>("SELECT node, partition, image, delta, delta_bytes, saved_at FROM partitions WHERE experiment = ? ORDER BY node, partition"),
      setDelta: db.prepare("UPDATE partitions SET delta = ?, delta_bytes = ?, saved_at = ? WHERE experiment = ? AND node = ? AND partition = ?"),
      // The sync server's events of an experiment, newest first (the portal's barriers).
      syncEventsOf: db.prepare<[string, number]>(`SELECT ${EVENT_COLUMNS}, experiment FROM events WHERE experiment = ? AND kind LIKE 'sync.%' ORDER BY id DESC LIMIT ?`),
      eventsOf: db.prepare<[string, number, number]>(`SELECT ${EVENT_COLUMNS}, experiment FROM events WHERE experiment = ? AND id > ? ORDER BY id LIMIT ?`),
      eventsAfter: db.prepare<[number, number]>(`SELECT ${EVENT_COLUMNS}, experiment FROM events WHERE id > ? ORDER BY id LIMIT ?`),
      lastEvent: db.prepare("SELECT MAX(id) AS id FROM events"),
      runsMark: db.prepare("SELECT MAX(id) AS id, COUNT(*) AS n FROM runs"),
      insertRun: db.prepare(`INSERT INTO runs (${RUN_INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      linkEvents: db.prepare("UPDATE events SET run_id = ? WHERE experiment = ? AND run_id IS NULL AND id > ?"),
      swapRuns: db.prepare<[string, number]>(`SELECT ${RUN_COLUMNS} FROM runs WHERE scenario = ? AND kind IN ('swapin', 'swapout') ORDER BY id DESC LIMIT ?`),
      allSwapRuns: db.prepare<[number]>(`SELECT ${RUN_COLUMNS} FROM runs WHERE kind IN ('swapin', 'swapout') ORDER BY id DESC LIMIT ?`),
      runsOfKind: db.prepare<[string, number]>(`SELECT ${RUN_COLUMNS} FROM runs WHERE kind = ? ORDER BY id DESC LIMIT ?`),
    }));
  }

  /** Writes one flush of a swap in one transaction: the experiment's clock and figures, changed nodes, new events. */
  saveProgress(name: string, p: SwapProgress): void {
    const rows = p.events.map((e) => [...eventParams(null, e), name] as const);
    guard(this.path, `record the progress of ${name}`, () =>
      this.db.transaction(() => {
        this.live.clock.run(p.clockUs, p.secondsLeft, JSON.stringify(p.progress), new Date().toISOString(), name);
        for (const n of p.nodes) {
          this.live.node.run(n.phase, n.pnode, n.attempt, n.bytesWritten, n.imageBytes, n.secondsLeft, n.lastReportUs, n.ready ? 1 : 0, n.reason, name, n.node);
        }
        for (const row of rows) this.live.event.run(...row);
      }).immediate(),
    );
  }

  /** Events alone, in one transaction (a burst between flushes). */
  saveEvents(name: string, events: readonly StoredEventInput[]): void {
    const rows = events.map((e) => [...eventParams(null, e), name] as const);
    guard(this.path, `record the events of ${name}`, () =>
      this.db.transaction(() => {
        for (const row of rows) this.live.event.run(...row);
      }).immediate(),
    );
  }

  /** The experiment and node a node-configuration request comes from, by the address it comes from. */
  nodeByHost(host: string): { experiment: string; node: string } | "unknown" | "ambiguous" {
    const rows = guard(this.path, "look a node up by address", () => this.live.byHost.all(host)) as { experiment: string; node: string }[];
    if (rows.length === 0) return "unknown";
    if (rows.length > 1) return "ambiguous";
    const row = rows[0] as { experiment: string; node: string };
    return { experiment: row.experiment, node: row.node };
  }

  setReady(experiment: string, node: string): void {
    guard(this.path, "set a ready bit", () => this.live.ready.run(experiment, node));
  }

  readyCount(experiment: string): { ready: number; total: number } {
    const row = guard(this.path, "count ready bits", () => this.live.readyCount.get(experiment)) as { ready: number | null; total: number | null };
    return { ready: row.ready ?? 0, total: row.total ?? 0 };
  }

  partitions(experiment: string): PartitionRow[] {
    const rows = guard(this.path, `read the partitions of ${experiment}`, () => this.live.partitions.all(experiment)) as {
      node: string;
      partition: number;
      image: string;
      delta: string | null;
      delta_bytes: number | null;
      saved_at: string | null;
    }[];
    return rows.map((r) => ({ node: r.node, partition: r.partition, image: r.image, delta: r.delta, deltaBytes: r.delta_bytes, savedAt: r.saved_at }));
  }

  /** Records the delta saved over a node's partition (null clears it). */
  setDelta(experiment: string, node: string, partition: number, delta: string | null, deltaBytes: number | null): void {
    guard(this.path, "record a delta", () => this.live.setDelta.run(delta, deltaBytes, delta === null ? null : new Date().toISOString(), experiment, node, partition));
  }

  /** Events of one experiment after id `afterId`, oldest first. */
  experimentEvents(experiment: string, afterId = 0, limit = EXPERIMENT_EVENTS_MAX): ExperimentEvent[] {
    const rows = guard(this.path, `read the events of ${experiment}`, () => this.live.eventsOf.all(experiment, afterId, Math.min(limit, EXPERIMENT_EVENTS_MAX)));
    return rows.map((r) => ({ ...decodeEvent(this.path, r), experiment: (r as { experiment: string | null }).experiment }));
  }

  /** The last `limit` events of the experiment's sync server (kinds sync.*), oldest first. */
  syncEvents(experiment: string, limit = EXPERIMENT_EVENTS_MAX): ExperimentEvent[] {
    const rows = guard(this.path, `read the barrier events of ${experiment}`, () => this.live.syncEventsOf.all(experiment, Math.min(limit, EXPERIMENT_EVENTS_MAX)));
    return rows.map((r) => ({ ...decodeEvent(this.path, r), experiment: (r as { experiment: string | null }).experiment })).reverse();
  }

  /** Every event after id `afterId`, oldest first. */
  eventsAfter(afterId: number, limit = EXPERIMENT_EVENTS_MAX): ExperimentEvent[] {
    const rows = guard(this.path, "read events", () => this.live.eventsAfter.all(afterId, Math.min(limit, EXPERIMENT_EVENTS_MAX)));
    return rows.map((r) => ({ ...decodeEvent(this.path, r), experiment: (r as { experiment: string | null }).experiment }));
  }

  /** The experiment's swaps as recorded runs, newest first. */
  swapRuns(experiment: string, limit = SWAP_RUNS_MAX): RunRow[] {
    const rows = guard(this.path, `read the swaps of ${experiment}`, () => this.live.swapRuns.all(experiment, Math.min(limit, SWAP_RUNS_MAX)));
    return rows.map((r) => decodeRun(this.path, r));
  }

  /** Every experiment's swaps, newest first (the portal's run history). */
  allSwapRuns(limit = SWAP_RUNS_MAX): RunRow[] {
    const rows = guard(this.path, "read the swaps", () => this.live.allSwapRuns.all(Math.min(limit, SWAP_RUNS_MAX)));
    return rows.map((r) => decodeRun(this.path, r));
  }

  /** Stored runs of one kind (a planner's, such as "plan-frisbee"), newest first. */
  runsOfKind(kind: string, limit = SWAP_RUNS_MAX): RunRow[] {
    const rows = guard(this.path, `read the ${kind} runs`, () => this.live.runsOfKind.all(kind, Math.min(limit, SWAP_RUNS_MAX)));
    return rows.map((r) => decodeRun(this.path, r));
  }

  /**
   * SQLite's data_version: changes whenever another connection commits to the file, so a reader
   * (the portal) learns that a swap in another process moved without reading every table.
   */
  dataVersion(): number {
    return guard(this.path, "read the data version", () => this.db.pragma("data_version", { simple: true })) as number;
  }

  /** Changes whenever a run is added or removed: the portal rebuilds its run history only then. */
  runsMark(): string {
    const row = guard(this.path, "read the runs' mark", () => this.live.runsMark.get()) as { id: number | null; n: number };
    return `${row.id ?? 0}/${row.n}`;
  }

  lastEventId(): number {
    const row = guard(this.path, "read the last event id", () => this.live.lastEvent.get()) as { id: number | null };
    return row.id ?? 0;
  }

  /** Stores a finished swap as a run and ties the experiment's events since `fromEventId` to it. */
  recordSwapRun(experiment: string, run: NewRun, fromEventId: number): number {
    const params = runParams(run);
    return guard(this.path, `record the swap of ${experiment}`, () =>
      this.db.transaction((): number => {
        const id = Number(this.live.insertRun.run(...params).lastInsertRowid);
        this.live.linkEvents.run(id, experiment, fromEventId);
        return id;
      }).immediate(),
    );
  }
}
