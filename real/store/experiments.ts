import Database from "better-sqlite3";
import { StoreError, guard } from "./errors.js";
import { openStoreConnection } from "./connection.js";

/** A node of an experiment and the host name other nodes reach it by. */
export interface ExperimentNode {
  readonly node: string;
  readonly host: string;
}

export interface ExperimentRow {
  readonly name: string;
  /** The node the user chose with set-sync-server, or null for the default. */
  readonly syncServer: string | null;
  readonly nodes: readonly ExperimentNode[];
  readonly createdAt: string;
}

/** A request about experiments that cannot be met (unknown experiment or node): the user's mistake. */
export class ExperimentError extends Error {
  override readonly name = "ExperimentError";
}

/** Most nodes one experiment holds. */
export const EXPERIMENT_NODES_MAX = 100_000;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export interface ExperimentStore {
  readonly path: string;
  /** Creates an experiment with its nodes; fails if the name is taken. */
  createExperiment(name: string, nodes: readonly ExperimentNode[], syncServer?: string | null): void;
  /** Names the experiment's sync server node; null goes back to the default. */
  setSyncServer(name: string, node: string | null): void;
  experiment(name: string): ExperimentRow | undefined;
  /** The node serving the experiment's barriers: the chosen one, else the first node by name. */
  syncServerOf(name: string): ExperimentNode;
  close(): void;
}

export function openExperimentStore(path: string): ExperimentStore {
  return new SqliteExperimentStore(openStoreConnection(path), path);
}

class SqliteExperimentStore implements ExperimentStore {
  private readonly statements;

  constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {
    this.statements = guard(path, "prepare experiment statements", () => ({
      insert: db.prepare("INSERT INTO experiments (name, sync_server, created_at) VALUES (?, ?, ?)"),
      insertNode: db.prepare("INSERT INTO experiment_nodes (experiment, node, host) VALUES (?, ?, ?)"),
      get: db.prepare<[string]>("SELECT name, sync_server, created_at FROM experiments WHERE name = ?"),
      nodes: db.prepare<[string, number]>("SELECT node, host FROM experiment_nodes WHERE experiment = ? ORDER BY node LIMIT ?"),
      setServer: db.prepare("UPDATE experiments SET sync_server = ? WHERE name = ?"),
    }));
  }

  createExperiment(name: string, nodes: readonly ExperimentNode[], syncServer: string | null = null): void {
    if (!NAME_PATTERN.test(name)) throw new ExperimentError(`"${name}" is not an experiment name (letters, digits, _ . -; at most 63)`);
    if (nodes.length === 0) throw new ExperimentError(`experiment ${name} needs at least one node`);
    if (nodes.length > EXPERIMENT_NODES_MAX) throw new ExperimentError(`experiment ${name} has ${nodes.length} nodes, at most ${EXPERIMENT_NODES_MAX}`);
    const seen = new Set<string>();
    for (const n of nodes) {
      if (!NAME_PATTERN.test(n.node)) throw new ExperimentError(`"${n.node}" is not a node name`);
      if (seen.has(n.node)) throw new ExperimentError(`node ${n.node} is listed twice`);
      seen.add(n.node);
    }
    if (syncServer !== null && !seen.has(syncServer)) throw new ExperimentError(`sync server ${syncServer} is not a node of ${name}`);
    if (this.experiment(name) !== undefined) throw new ExperimentError(`experiment ${name} already exists`);
    guard(this.path, `create experiment ${name}`, () =>
      this.db.transaction(() => {
        this.statements.insert.run(name, syncServer, new Date().toISOString());
        for (const n of nodes) this.statements.insertNode.run(name, n.node, n.host);
      }).immediate(),
    );
  }

  setSyncServer(name: string, node: string | null): void {
    const exp = this.require(name);
    if (node !== null && !exp.nodes.some((n) => n.node === node)) throw new ExperimentError(`${node} is not a node of experiment ${name}`);
    guard(this.path, `set the sync server of ${name}`, () => this.statements.setServer.run(node, name));
  }

  experiment(name: string): ExperimentRow | undefined {
    const row = guard(this.path, `read experiment ${name}`, () => this.statements.get.get(name)) as
      | { name: string; sync_server: string | null; created_at: string }
      | undefined;
    if (row === undefined) return undefined;
    const nodes = guard(this.path, `read the nodes of ${name}`, () => this.statements.nodes.all(name, EXPERIMENT_NODES_MAX)) as ExperimentNode[];
    return { name: row.name, syncServer: row.sync_server, nodes: nodes.map((n) => ({ node: n.node, host: n.host })), createdAt: row.created_at };
  }

  syncServerOf(name: string): ExperimentNode {
    const exp = this.require(name);
    const chosen = exp.syncServer === null ? exp.nodes[0] : exp.nodes.find((n) => n.node === exp.syncServer);
    if (chosen === undefined) throw new StoreError(this.path, `corrupted data in table experiments: sync server of ${name} is not one of its nodes`);
    return chosen;
  }

  close(): void {
    this.db.close();
  }

  private require(name: string): ExperimentRow {
    const exp = this.experiment(name);
    if (exp === undefined) throw new ExperimentError(`no experiment named ${name}`);
    return exp;
  }
}
