import Database from "better-sqlite3";
import { transition, type ExperimentAction, type ExperimentState } from "../../core/experiment/states.js";
import type { ExperimentSpec } from "../../core/experiment/spec.js";
import { StoreError, guard } from "./errors.js";
import { openStoreConnection } from "./connection.js";
import { decodeExperiment, decodeNode, EXPERIMENT_COLUMNS, ExperimentError, NODE_COLUMNS, type ExperimentRow, type ExperimentSummary, type Serving } from "./experiment-rows.js";
import { ExperimentLive } from "./experiment-live.js";
import { claimWriter, type WriterClaim } from "./writers.js";

export type { ExperimentRow, ExperimentSummary, LiveNode, Serving } from "./experiment-rows.js";
export type { ExperimentEvent, NodeProgress, SwapProgress, PartitionRow } from "./experiment-live.js";

/** A node of an experiment and the host name other nodes reach it by. */
export interface ExperimentNode {
  readonly node: string;
  readonly host: string;
}

export { ExperimentError } from "./experiment-rows.js";

/** Most nodes one experiment holds. */
export const EXPERIMENT_NODES_MAX = 100_000;
/** Most experiments one list returns. */
export const EXPERIMENTS_LIST_MAX = 10_000;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export interface ExperimentStore extends ExperimentLive {
  readonly path: string;
  /** Creates an experiment with its nodes; fails if the name is taken. */
  createExperiment(name: string, nodes: readonly ExperimentNode[], syncServer?: string | null): void;
  /** Creates an experiment from its file: nodes, partitions and the file itself, in state new. */
  createFromSpec(spec: ExperimentSpec): void;
  /** Names the experiment's sync server node; null goes back to the default. */
  setSyncServer(name: string, node: string | null): void;
  experiment(name: string): ExperimentRow | undefined;
  /** The experiment without its nodes (a node-configuration request reads it for one node). */
  experimentHead(name: string): ExperimentRow | undefined;
  /** The address a node of an experiment has, or null. */
  hostOf(experiment: string, node: string): string | null;
  /** What the running swap serves its nodes. */
  setServing(name: string, serving: Serving): void;
  /** Newest first. */
  listExperiments(limit?: number): ExperimentSummary[];
  /** The node serving the experiment's barriers: the chosen one, else the first node by name. */
  syncServerOf(name: string): ExperimentNode;
  /**
   * Moves the experiment through the transition table, checked and written in one immediate
   * transaction, so two processes asking at once cannot both start a swap. Returns the new state.
   */
  transition(name: string, action: ExperimentAction, reason?: string, world?: "sim" | "real"): ExperimentState;
  /** Deletes an experiment the table lets go (new, swapped or failed), with its nodes, partitions and saved disk records. */
  deleteExperiment(name: string): void;
  setSaveDiskState(name: string, save: boolean): void;
  /** The addresses nodes have in this world (the node-configuration server knows nodes by them). */
  setNodeHosts(name: string, hosts: ReadonlyMap<string, string>): void;
  /**
   * Claims the right to run a swap of the experiment for this process (one writer per swap);
   * refused in one line naming the process that holds it. A claim left by a process that is gone
   * is taken over, and says whose it was.
   */
  claimSwap(name: string, command: string): WriterClaim;
  close(): void;
}

/** `mustExist`: refuse a missing file rather than create a store (for commands that only read). */
/** The name an experiment's node has in the store's disk-state records (node_disks): one per experiment node, whichever machine stands for it. */
export function diskStateNode(experiment: string, node: string): string {
  return `${experiment}/${node}`;
}

export function openExperimentStore(path: string, options: { mustExist?: boolean } = {}): ExperimentStore {
  return new SqliteExperimentStore(openStoreConnection(path, options), path);
}

class SqliteExperimentStore extends ExperimentLive implements ExperimentStore {
  private readonly statements;

  constructor(db: Database.Database, path: string) {
    super(db, path);
    this.statements = guard(path, "prepare experiment statements", () => ({
      insert: db.prepare("INSERT INTO experiments (name, sync_server, created_at, updated_at, spec, save_disk_state) VALUES (?, ?, ?, ?, ?, ?)"),
      insertNode: db.prepare("INSERT INTO experiment_nodes (experiment, node, host) VALUES (?, ?, ?)"),
      insertPartition: db.prepare("INSERT INTO partitions (experiment, node, partition, image) VALUES (?, ?, ?, ?)"),
      get: db.prepare<[string]>(`SELECT ${EXPERIMENT_COLUMNS} FROM experiments WHERE name = ?`),
      list: db.prepare<[number]>(
        `SELECT e.name, e.state, e.state_reason, e.world, e.updated_at, e.created_at, e.seconds_left,
           (SELECT COUNT(*) FROM experiment_nodes n WHERE n.experiment = e.name) AS nodes,
           (SELECT COUNT(*) FROM experiment_nodes n WHERE n.experiment = e.name AND n.ready = 1) AS ready
         FROM experiments e ORDER BY e.created_at DESC, e.name LIMIT ?`,
      ),
      nodes: db.prepare<[string, number]>(`SELECT ${NODE_COLUMNS} FROM experiment_nodes WHERE experiment = ? ORDER BY rowid LIMIT ?`),
      setServer: db.prepare("UPDATE experiments SET sync_server = ? WHERE name = ?"),
      setState: db.prepare("UPDATE experiments SET state = ?, state_reason = ?, world = COALESCE(?, world), updated_at = ? WHERE name = ?"),
      delete: db.prepare("DELETE FROM experiments WHERE name = ?"),
      // Its nodes' disk records (named EXPERIMENT/NODE, diskStateNode): compared by prefix, not LIKE,
      // whose wildcards an experiment name may hold.
      deleteDisks: db.prepare<[number, string]>("DELETE FROM node_disks WHERE substr(node, 1, ?) = ?"),
      setSave: db.prepare("UPDATE experiments SET save_disk_state = ?, updated_at = ? WHERE name = ?"),
      setHost: db.prepare("UPDATE experiment_nodes SET host = ? WHERE experiment = ? AND node = ?"),
      host: db.prepare<[string, string]>("SELECT host FROM experiment_nodes WHERE experiment = ? AND node = ?"),
      setServing: db.prepare("UPDATE experiments SET serving = ? WHERE name = ?"),
    }));
  }

  createExperiment(name: string, nodes: readonly ExperimentNode[], syncServer: string | null = null): void {
    this.checkNew(name, nodes.map((n) => n.node), syncServer);
    guard(this.path, `create experiment ${name}`, () =>
      this.db.transaction(() => {
        const now = new Date().toISOString();
        this.statements.insert.run(name, syncServer, now, now, null, 0);
        for (const n of nodes) this.statements.insertNode.run(name, n.node, n.host);
      }).immediate(),
    );
  }

  createFromSpec(spec: ExperimentSpec): void {
    this.checkNew(spec.name, spec.nodes.map((n) => n.name), spec.syncServer);
    guard(this.path, `create experiment ${spec.name}`, () =>
      this.db.transaction(() => {
        const now = new Date().toISOString();
        this.statements.insert.run(spec.name, spec.syncServer, now, now, JSON.stringify(spec), spec.saveDiskState ? 1 : 0);
        for (const n of spec.nodes) {
          this.statements.insertNode.run(spec.name, n.name, n.name);
          for (const p of n.partitions) this.statements.insertPartition.run(spec.name, n.name, p.partition, p.image);
        }
      }).immediate(),
    );
  }

  setSyncServer(name: string, node: string | null): void {
    const exp = this.require(name);
    if (node !== null && !exp.nodes.some((n) => n.node === node)) throw new ExperimentError(`${node} is not a node of experiment ${name}`);
    guard(this.path, `set the sync server of ${name}`, () => this.statements.setServer.run(node, name));
  }

  experiment(name: string): ExperimentRow | undefined {
    const row = guard(this.path, `read experiment ${name}`, () => this.statements.get.get(name));
    if (row === undefined) return undefined;
    const nodes = guard(this.path, `read the nodes of ${name}`, () => this.statements.nodes.all(name, EXPERIMENT_NODES_MAX));
    return decodeExperiment(this.path, row, nodes.map((n) => decodeNode(this.path, n)));
  }

  experimentHead(name: string): ExperimentRow | undefined {
    const row = guard(this.path, `read experiment ${name}`, () => this.statements.get.get(name));
    return row === undefined ? undefined : decodeExperiment(this.path, row, []);
  }

  hostOf(experiment: string, node: string): string | null {
    const row = guard(this.path, `read the address of ${node}`, () => this.statements.host.get(experiment, node)) as { host: string } | undefined;
    return row?.host ?? null;
  }

  setServing(name: string, serving: Serving): void {
    guard(this.path, `record what ${name} serves`, () => this.statements.setServing.run(JSON.stringify(serving), name));
  }

  listExperiments(limit = EXPERIMENTS_LIST_MAX): ExperimentSummary[] {
    const rows = guard(this.path, "list experiments", () => this.statements.list.all(Math.min(limit, EXPERIMENTS_LIST_MAX))) as {
      name: string;
      state: ExperimentState;
      state_reason: string;
      world: "sim" | "real" | null;
      updated_at: string;
      created_at: string;
      seconds_left: number | null;
      nodes: number;
      ready: number;
    }[];
    return rows.map((r) => ({ name: r.name, state: r.state, reason: r.state_reason, world: r.world, nodes: r.nodes, ready: r.ready, secondsLeft: r.seconds_left, createdAt: r.created_at, updatedAt: r.updated_at }));
  }

  syncServerOf(name: string): ExperimentNode {
    const exp = this.require(name);
    if (exp.spec !== null && exp.spec.syncServer === null) throw new ExperimentError(`experiment ${name} has no sync server`);
    const byName = [...exp.nodes].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    const chosen = exp.syncServer === null ? byName[0] : exp.nodes.find((n) => n.node === exp.syncServer);
    if (chosen === undefined) throw new StoreError(this.path, `corrupted data in table experiments: sync server of ${name} is not one of its nodes`);
    return { node: chosen.node, host: chosen.host };
  }

  transition(name: string, action: ExperimentAction, reason = "", world?: "sim" | "real"): ExperimentState {
    const move = this.db.transaction((): ExperimentState => {
      const exp = this.require(name);
      const t = transition(exp.state, action);
      if (!t.ok) throw new ExperimentError(`experiment ${name}: ${t.why}`);
      if (t.to === "deleted") throw new Error("transition: delete goes through deleteExperiment");
      this.statements.setState.run(t.to, reason, world ?? null, new Date().toISOString(), name);
      return t.to;
    });
    return guard(this.path, `change the state of ${name}`, () => move.immediate());
  }

  deleteExperiment(name: string): void {
    const remove = this.db.transaction(() => {
      const exp = this.require(name);
      const t = transition(exp.state, "delete");
      if (!t.ok) throw new ExperimentError(`experiment ${name}: ${t.why}`);
      this.statements.delete.run(name);
      // Its saved disks go with it, so that image gc may remove their deltas and signatures.
      const prefix = diskStateNode(name, "");
      this.statements.deleteDisks.run(prefix.length, prefix);
    });
    guard(this.path, `delete experiment ${name}`, () => remove.immediate());
  }

  setSaveDiskState(name: string, save: boolean): void {
    this.require(name);
    guard(this.path, `set save-disk-state of ${name}`, () => this.statements.setSave.run(save ? 1 : 0, new Date().toISOString(), name));
  }

  setNodeHosts(name: string, hosts: ReadonlyMap<string, string>): void {
    this.require(name);
    guard(this.path, `set the node addresses of ${name}`, () =>
      this.db.transaction(() => {
        for (const [node, host] of hosts) this.statements.setHost.run(host, name, node);
      }).immediate(),
    );
  }

  claimSwap(name: string, command: string): WriterClaim {
    return claimWriter(this.db, this.path, `swap of ${name}`, command);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private checkNew(name: string, nodes: readonly string[], syncServer: string | null): void {
    checkNewExperiment(name, nodes, syncServer);
    if (this.experiment(name) !== undefined) throw new ExperimentError(`experiment ${name} already exists`);
  }

  protected require(name: string): ExperimentRow {
    const exp = this.experiment(name);
    if (exp === undefined) throw new ExperimentError(`no experiment named ${name}`);
    return exp;
  }
}

/**
 * What a new experiment must be, whatever the store holds: a command checks it before it opens
 * (and so perhaps creates) a store, so a refused experiment leaves no store behind.
 */
export function checkNewExperiment(name: string, nodes: readonly string[], syncServer: string | null): void {
  if (!NAME_PATTERN.test(name)) throw new ExperimentError(`"${name}" is not an experiment name (letters, digits, _ . -; at most 63)`);
  if (nodes.length === 0) throw new ExperimentError(`experiment ${name} needs at least one node`);
  if (nodes.length > EXPERIMENT_NODES_MAX) throw new ExperimentError(`experiment ${name} has ${nodes.length} nodes, at most ${EXPERIMENT_NODES_MAX}`);
  const seen = new Set<string>();
  for (const n of nodes) {
    if (!NAME_PATTERN.test(n)) throw new ExperimentError(`"${n}" is not a node name`);
    if (seen.has(n)) throw new ExperimentError(`node ${n} is listed twice`);
    seen.add(n);
  }
  if (syncServer !== null && !seen.has(syncServer)) throw new ExperimentError(`sync server ${syncServer} is not a node of ${name}`);
}
