import { isExperimentState, type ExperimentState } from "../../core/experiment/states.js";
import type { ExperimentSpec } from "../../core/experiment/spec.js";
import { StoreError } from "./errors.js";

/** A request about experiments that cannot be met (unknown experiment or node, a state that forbids it): the user's mistake. */
export class ExperimentError extends Error {
  override readonly name = "ExperimentError";
}

/** A node of an experiment with what the last swap recorded of it. */
export interface LiveNode {
  readonly node: string;
  /** The address the node is reached by (and known by, to the node-configuration server). */
  readonly host: string;
  readonly phase: string;
  readonly pnode: string;
  readonly attempt: number;
  readonly bytesWritten: number;
  readonly imageBytes: number;
  readonly secondsLeft: number | null;
  /** The swap clock (microseconds) of the node's last progress report, or null. */
  readonly lastReportUs: number | null;
  /** Emulab's ready bit. */
  readonly ready: boolean;
  readonly reason: string;
}

export interface ExperimentRow {
  readonly name: string;
  /** The node the user chose with set-sync-server, or null for the default. */
  readonly syncServer: string | null;
  readonly nodes: readonly LiveNode[];
  readonly createdAt: string;
  readonly state: ExperimentState;
  readonly reason: string;
  /** The experiment file it was created from; null for one made with `experiment create --nodes`. */
  readonly spec: ExperimentSpec | null;
  /** The world of the last swap-in. */
  readonly world: "sim" | "real" | null;
  readonly saveDiskState: boolean;
  /** The running (or last) swap's clock, microseconds since it started. */
  readonly clockUs: number;
  readonly secondsLeft: number | null;
  /** The last swap's figures: barrier, setup pool, phases (JSON the swap driver wrote). */
  readonly progress: Readonly<Record<string, unknown>>;
  /** What the running swap serves its nodes, for the node-configuration server. */
  readonly serving: Serving;
  readonly updatedAt: string;
}

/** What a running swap serves its nodes: where each image is multicast, the sync server's port, the heartbeat. */
export interface Serving {
  readonly images?: Readonly<Record<string, { readonly group: string; readonly port: number; readonly chunks: number }>>;
  readonly syncPort?: number;
  readonly heartbeatSec?: number;
}

export interface ExperimentSummary {
  readonly name: string;
  readonly state: ExperimentState;
  readonly reason: string;
  readonly world: "sim" | "real" | null;
  readonly nodes: number;
  readonly ready: number;
  readonly secondsLeft: number | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export const EXPERIMENT_COLUMNS = "name, sync_server, created_at, state, state_reason, spec, world, save_disk_state, clock_us, seconds_left, progress, serving, updated_at";
export const NODE_COLUMNS = "node, host, phase, pnode, attempt, bytes_written, image_bytes, seconds_left, last_report_us, ready, reason";

interface RawExperiment {
  name: string;
  sync_server: string | null;
  created_at: string;
  state: string;
  state_reason: string;
  spec: string | null;
  world: "sim" | "real" | null;
  save_disk_state: number;
  clock_us: number;
  seconds_left: number | null;
  progress: string;
  serving: string;
  updated_at: string;
}

function corrupted(path: string, what: string): StoreError {
  return new StoreError(path, `corrupted data in table experiments: ${what}`);
}

export function decodeExperiment(path: string, raw: unknown, nodes: LiveNode[]): ExperimentRow {
  const r = raw as RawExperiment;
  if (!isExperimentState(r.state)) throw corrupted(path, `experiment ${r.name} has state "${String(r.state).slice(0, 40)}"`);
  return {
    name: r.name,
    syncServer: r.sync_server,
    nodes,
    createdAt: r.created_at,
    state: r.state,
    reason: r.state_reason,
    spec: r.spec === null ? null : (parseJson(path, r.spec, `the file of ${r.name}`) as ExperimentSpec),
    world: r.world,
    saveDiskState: r.save_disk_state === 1,
    clockUs: r.clock_us,
    secondsLeft: r.seconds_left,
    progress: parseJson(path, r.progress, `the progress of ${r.name}`) as Record<string, unknown>,
    serving: parseJson(path, r.serving, `what ${r.name} serves`) as Serving,
    updatedAt: r.updated_at,
  };
}

function parseJson(path: string, text: string, what: string): unknown {
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== "object") throw new Error("not an object");
    return value;
  } catch {
    throw corrupted(path, `${what} is not a JSON object`);
  }
}

export function decodeNode(_path: string, raw: unknown): LiveNode {
  const r = raw as {
    node: string;
    host: string;
    phase: string;
    pnode: string;
    attempt: number;
    bytes_written: number;
    image_bytes: number;
    seconds_left: number | null;
    last_report_us: number | null;
    ready: number;
    reason: string;
  };
  return {
    node: r.node,
    host: r.host,
    phase: r.phase,
    pnode: r.pnode,
    attempt: r.attempt,
    bytesWritten: r.bytes_written,
    imageBytes: r.image_bytes,
    secondsLeft: r.seconds_left,
    lastReportUs: r.last_report_us,
    ready: r.ready === 1,
    reason: r.reason,
  };
}
