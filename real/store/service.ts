import type Database from "better-sqlite3";
import { guard } from "./errors.js";
import { openStoreConnection } from "./connection.js";
import { epochNowUs } from "../runtime/clock.js";

/** The service's state as the controller last saw it (migration 6's tables). */
export interface ServiceNodeRow {
  readonly service: string;
  readonly node: string;
  readonly address: string;
  readonly nodeSet: string;
  readonly version: string | null;
  readonly previous: string | null;
  readonly healthy: boolean;
  readonly restarts: number;
  readonly error: string | null;
  readonly updatedAt: string;
}

export interface ServiceBatchRow {
  readonly batch: number;
  readonly first: number;
  readonly size: number;
  readonly failed: number;
}

export interface ServiceRolloutRow {
  readonly id: number;
  readonly service: string;
  readonly version: string;
  readonly state: string;
  readonly reason: string;
  readonly targets: number;
  readonly startedAt: string;
  readonly seconds: number;
  readonly batches: readonly ServiceBatchRow[];
}

export interface ServiceChecksumRow {
  readonly service: string;
  readonly roundAt: string;
  readonly nodeSet: string;
  readonly file: string;
  readonly decided: string | null;
  readonly supporters: number;
  readonly expected: number;
  readonly minority: readonly string[];
}

/** A node the sweep restarted (migration 8). */
export interface ServiceRestartRow {
  readonly service: string;
  readonly node: string;
  readonly at: string;
  readonly reason: "silent" | "gave-up";
  /** Through its agent, through the operator's restart command, or not at all (unreachable, no command). */
  readonly how: "agent" | "command" | "none";
  readonly ok: boolean;
  /** Why it was restarted and how it went, in words. */
  readonly detail: string;
}

/** A node the sweep brought to the wanted version (migration 10). */
export interface ServiceReconcileRow {
  readonly service: string;
  readonly node: string;
  readonly at: string;
  /** The version it ran (null: none). */
  readonly from: string | null;
  readonly to: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** Most rows one listing returns. */
export const SERVICE_ROWS_MAX = 100_000;

export interface ServiceStore {
  saveNodes(rows: readonly ServiceNodeRow[]): void;
  /** A finished rollout and its batches, in one transaction; returns its id. */
  saveRollout(r: Omit<ServiceRolloutRow, "id">): number;
  saveChecksums(rows: readonly ServiceChecksumRow[]): void;
  saveRestarts(rows: readonly ServiceRestartRow[]): void;
  saveReconciles(rows: readonly ServiceReconcileRow[]): void;
  /** Restarts and other service events, into the store's events table. */
  saveEvents(events: readonly { host: string; kind: string; data: Record<string, unknown> }[]): void;
  nodes(service: string): ServiceNodeRow[];
  rollouts(service: string, limit?: number): ServiceRolloutRow[];
  checksums(service: string, limit?: number): ServiceChecksumRow[];
  /** The latest restarts first. */
  restarts(service: string, limit?: number): ServiceRestartRow[];
  /** The latest first. */
  reconciles(service: string, limit?: number): ServiceReconcileRow[];
  close(): void;
}

export function openServiceStore(path: string): ServiceStore {
  return new SqliteServiceStore(openStoreConnection(path), path);
}

class SqliteServiceStore implements ServiceStore {
  private readonly s;

  constructor(
    private readonly db: Database.Database,
    private readonly path: string,
  ) {
    this.s = guard(path, "prepare service statements", () => ({
      node: db.prepare(
        `INSERT INTO service_nodes (service, node, address, node_set, version, previous, healthy, restarts, error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (service, node) DO UPDATE SET address = excluded.address, node_set = excluded.node_set, version = excluded.version, previous = excluded.previous,
           healthy = excluded.healthy, restarts = excluded.restarts, error = excluded.error, updated_at = excluded.updated_at`,
      ),
      rollout: db.prepare("INSERT INTO service_rollouts (service, version, state, reason, targets, started_at, seconds) VALUES (?, ?, ?, ?, ?, ?, ?)"),
      batch: db.prepare("INSERT INTO service_batches (rollout_id, batch, first, size, failed) VALUES (?, ?, ?, ?, ?)"),
      checksum: db.prepare("INSERT INTO service_checksums (service, round_at, node_set, file, decided, supporters, expected, minority) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
      restart: db.prepare("INSERT INTO service_restarts (service, node, at, reason, how, ok, detail) VALUES (?, ?, ?, ?, ?, ?, ?)"),
      restarts: db.prepare<[string, number]>("SELECT * FROM service_restarts WHERE service = ? ORDER BY id DESC LIMIT ?"),
      reconcile: db.prepare("INSERT INTO service_reconciles (service, node, at, from_version, to_version, ok, detail) VALUES (?, ?, ?, ?, ?, ?, ?)"),
      reconciles: db.prepare<[string, number]>("SELECT * FROM service_reconciles WHERE service = ? ORDER BY id DESC LIMIT ?"),
      event: db.prepare("INSERT INTO events (run_id, time_us, host, kind, data) VALUES (NULL, ?, ?, ?, ?)"),
      nodes: db.prepare<[string, number]>("SELECT * FROM service_nodes WHERE service = ? ORDER BY node LIMIT ?"),
      rollouts: db.prepare<[string, number]>("SELECT * FROM service_rollouts WHERE service = ? ORDER BY id DESC LIMIT ?"),
      batches: db.prepare<[number]>("SELECT batch, first, size, failed FROM service_batches WHERE rollout_id = ? ORDER BY batch"),
      checksums: db.prepare<[string, number]>("SELECT * FROM service_checksums WHERE service = ? ORDER BY id DESC LIMIT ?"),
    }));
  }

  saveNodes(rows: readonly ServiceNodeRow[]): void {
    const write = this.db.transaction(() => {
      for (const r of rows) this.s.node.run(r.service, r.node, r.address, r.nodeSet, r.version, r.previous, r.healthy ? 1 : 0, r.restarts, r.error, r.updatedAt);
    });
    guard(this.path, "save service nodes", () => write.immediate());
  }

  saveRollout(r: Omit<ServiceRolloutRow, "id">): number {
    const write = this.db.transaction((): number => {
      const id = Number(this.s.rollout.run(r.service, r.version, r.state, r.reason, r.targets, r.startedAt, r.seconds).lastInsertRowid);
      for (const b of r.batches) this.s.batch.run(id, b.batch, b.first, b.size, b.failed);
      return id;
    });
    return guard(this.path, "save a rollout", () => write.immediate());
  }

  saveChecksums(rows: readonly ServiceChecksumRow[]): void {
    const write = this.db.transaction(() => {
      for (const r of rows) this.s.checksum.run(r.service, r.roundAt, r.nodeSet, r.file, r.decided, r.supporters, r.expected, JSON.stringify(r.minority));
    });
    guard(this.path, "save checksum results", () => write.immediate());
  }

  saveRestarts(rows: readonly ServiceRestartRow[]): void {
    const write = this.db.transaction(() => {
      for (const r of rows) this.s.restart.run(r.service, r.node, r.at, r.reason, r.how, r.ok ? 1 : 0, r.detail);
    });
    guard(this.path, "save sweep restarts", () => write.immediate());
  }

  saveReconciles(rows: readonly ServiceReconcileRow[]): void {
    const write = this.db.transaction(() => {
      for (const r of rows) this.s.reconcile.run(r.service, r.node, r.at, r.from, r.to, r.ok ? 1 : 0, r.detail);
    });
    guard(this.path, "save sweep reconciles", () => write.immediate());
  }

  saveEvents(events: readonly { host: string; kind: string; data: Record<string, unknown> }[]): void {
    const now = epochNowUs();
    const write = this.db.transaction(() => {
      for (const e of events) this.s.event.run(now, e.host, e.kind, JSON.stringify(e.data));
    });
    guard(this.path, "save service events", () => write.immediate());
  }

  nodes(service: string): ServiceNodeRow[] {
    const rows = guard(this.path, "read service_nodes", () => this.s.nodes.all(service, SERVICE_ROWS_MAX)) as Record<string, unknown>[];
    return rows.map((r) => ({
      service: r["service"] as string,
      node: r["node"] as string,
      address: r["address"] as string,
      nodeSet: r["node_set"] as string,
      version: r["version"] as string | null,
      previous: r["previous"] as string | null,
      healthy: r["healthy"] === 1,
      restarts: r["restarts"] as number,
      error: r["error"] as string | null,
      updatedAt: r["updated_at"] as string,
    }));
  }

  rollouts(service: string, limit = 20): ServiceRolloutRow[] {
    const rows = guard(this.path, "read service_rollouts", () => this.s.rollouts.all(service, Math.min(limit, SERVICE_ROWS_MAX))) as Record<string, unknown>[];
    return rows.map((r) => ({
      id: r["id"] as number,
      service: r["service"] as string,
      version: r["version"] as string,
      state: r["state"] as string,
      reason: r["reason"] as string,
      targets: r["targets"] as number,
      startedAt: r["started_at"] as string,
      seconds: r["seconds"] as number,
      batches: guard(this.path, "read service_batches", () => this.s.batches.all(r["id"] as number)) as ServiceBatchRow[],
    }));
  }

  checksums(service: string, limit = 100): ServiceChecksumRow[] {
    const rows = guard(this.path, "read service_checksums", () => this.s.checksums.all(service, Math.min(limit, SERVICE_ROWS_MAX))) as Record<string, unknown>[];
    return rows.map((r) => ({
      service: r["service"] as string,
      roundAt: r["round_at"] as string,
      nodeSet: r["node_set"] as string,
      file: r["file"] as string,
      decided: r["decided"] as string | null,
      supporters: r["supporters"] as number,
      expected: r["expected"] as number,
      minority: JSON.parse(r["minority"] as string) as string[],
    }));
  }

  restarts(service: string, limit = 100): ServiceRestartRow[] {
    const rows = guard(this.path, "read service_restarts", () => this.s.restarts.all(service, Math.min(limit, SERVICE_ROWS_MAX))) as Record<string, unknown>[];
    return rows.map((r) => ({
      service: r["service"] as string,
      node: r["node"] as string,
      at: r["at"] as string,
      reason: r["reason"] as ServiceRestartRow["reason"],
      how: r["how"] as ServiceRestartRow["how"],
      ok: r["ok"] === 1,
      detail: r["detail"] as string,
    }));
  }

  reconciles(service: string, limit = 100): ServiceReconcileRow[] {
    const rows = guard(this.path, "read service_reconciles", () => this.s.reconciles.all(service, Math.min(limit, SERVICE_ROWS_MAX))) as Record<string, unknown>[];
    return rows.map((r) => ({
      service: r["service"] as string,
      node: r["node"] as string,
      at: r["at"] as string,
      from: r["from_version"] as string | null,
      to: r["to_version"] as string,
      ok: r["ok"] === 1,
      detail: r["detail"] as string,
    }));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
