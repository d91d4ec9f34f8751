import type { Micros } from "../../core/engine/time.js";
import type { GateRule, RolloutConfig, VoteRule } from "../../core/service/index.js";

const SEC = 1_000_000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** Fault rates of the simulated nodes; every mean is per node. */
export interface ServiceFaults {
  /** Mean time between crashes of one service process. */
  readonly crashMeanUs: Micros;
  /** Mean time between hangs of a node's watchdog (it then neither restarts nor reports). */
  readonly hangMeanUs: Micros;
  readonly rebootMeanUs: Micros;
  readonly rebootDownUsMin: Micros;
  readonly rebootDownUsMax: Micros;
  /** Partitions per day: each cuts a share of the nodes from the controller and from the others. */
  readonly partitionsPerDay: number;
  readonly partitionShare: number;
  readonly partitionUsMin: Micros;
  readonly partitionUsMax: Micros;
  /** A file corrupted on one node (per node); and, per day, a bad mirror corrupting one file alike on a share of the nodes. */
  readonly corruptMeanUs: Micros;
  readonly badMirrorsPerDay: number;
  readonly badMirrorShare: number;
  readonly heartbeatLoss: number;
  /** Share of nodes on which a bad release's new version fails. */
  readonly badReleaseShare: number;
}

export interface ServicePolicies {
  /** Version gate; a broken one lets a peer of another version through. */
  readonly gate?: GateRule;
  /** Checksum vote; a broken one lets a minority decide. */
  readonly vote?: VoteRule;
  /** Applied to each rollout's configuration; a broken one ignores the unavailability budget. */
  readonly rolloutConfig?: (c: RolloutConfig) => RolloutConfig;
  /** A broken rollout that answers its rollback for the node without changing it back. */
  readonly rollbackLies?: boolean;
  /** Nodes reconciled per sweep (0: never, a broken controller that leaves laggards behind). */
  readonly reconcileMax?: number;
}

export interface ServiceSimOptions {
  readonly nodes: number;
  readonly durationUs: Micros;
  readonly seed: number | string;
  readonly faults: ServiceFaults;
  /** Faults stop this long before the end, so the run ends with everything healed (a liveness phase). */
  readonly healUs: Micros;
  /** A release every releaseEveryUs from firstReleaseUs: alpha first, production an hour later if alpha held. */
  readonly firstReleaseUs: Micros;
  readonly releaseEveryUs: Micros;
  /** Every badReleaseEvery-th release fails on badReleaseShare of the nodes (0: none). */
  readonly badReleaseEvery: number;
  /** Share of the nodes in the alpha set (at least one node). */
  readonly alphaShare: number;
  readonly maxUnavailablePct: number;
  readonly maxFailPct: number;
  readonly maxParallel: number;
  readonly batchPct: number;
  /** Restart-less state updates published this often. */
  readonly stateUpdateEveryUs: Micros;
  readonly checksumEveryUs: Micros;
  /** Nodes that observe peers' heartbeats, and peers each watches. */
  readonly observers: number;
  readonly peersPerObserver: number;
  readonly policies: ServicePolicies;
  /** Extra faults at fixed times (tests use them to build a case). */
  readonly scripted?: readonly ScriptedFault[];
}

export type ScriptedFault =
  | { readonly type: "partition"; readonly atUs: Micros; readonly forUs: Micros; readonly nodes: readonly number[] }
  | { readonly type: "reboot"; readonly atUs: Micros; readonly forUs: Micros; readonly node: number }
  | { readonly type: "corrupt"; readonly atUs: Micros; readonly nodes: readonly number[]; readonly file: number; readonly tag: number }
  | { readonly type: "checksum"; readonly atUs: Micros };

export function defaultFaults(overrides: Partial<ServiceFaults> = {}): ServiceFaults {
  return {
    crashMeanUs: 2 * DAY,
    hangMeanUs: 10 * DAY,
    rebootMeanUs: 7 * DAY,
    rebootDownUsMin: 2 * MIN,
    rebootDownUsMax: 10 * MIN,
    partitionsPerDay: 1,
    partitionShare: 0.05,
    partitionUsMin: 10 * MIN,
    partitionUsMax: HOUR,
    corruptMeanUs: 30 * DAY,
    badMirrorsPerDay: 0.5,
    badMirrorShare: 0.1,
    heartbeatLoss: 0.001,
    badReleaseShare: 0.3,
    ...overrides,
  };
}

export function defaultServiceSim(nodes: number, days: number, seed: number | string, overrides: Partial<ServiceSimOptions> = {}): ServiceSimOptions {
  return {
    nodes,
    durationUs: Math.round(days * DAY),
    seed,
    faults: defaultFaults(),
    healUs: Math.min(6 * HOUR, Math.round((days * DAY) / 4)),
    firstReleaseUs: Math.min(6 * HOUR, Math.round((days * DAY) / 8)),
    releaseEveryUs: DAY,
    badReleaseEvery: 3,
    alphaShare: 0.02,
    maxUnavailablePct: 5,
    maxFailPct: 10,
    maxParallel: 10,
    batchPct: 10,
    stateUpdateEveryUs: HOUR,
    checksumEveryUs: DAY,
    observers: Math.min(50, nodes),
    peersPerObserver: Math.min(8, nodes - 1),
    policies: {},
    ...overrides,
  };
}

export const SERVICE_SIM_NODES_MAX = 100_000;
export const PROCESSES_PER_NODE = 2;
export const FILES_PER_NODE = 2;
export const SIM_US = { SEC, MIN, HOUR, DAY } as const;

export function checkServiceSim(o: ServiceSimOptions): string | null {
  if (!Number.isInteger(o.nodes) || o.nodes < 2 || o.nodes > SERVICE_SIM_NODES_MAX) return `nodes: expected 2 to ${SERVICE_SIM_NODES_MAX}, got ${o.nodes}`;
  if (!Number.isSafeInteger(o.durationUs) || o.durationUs < HOUR) return `duration: expected at least an hour, got ${o.durationUs / SEC} s`;
  for (const [name, v] of [["maxUnavailablePct", o.maxUnavailablePct], ["maxFailPct", o.maxFailPct], ["batchPct", o.batchPct]] as const) {
    if (!Number.isFinite(v) || v < 0 || v > 100) return `${name}: expected 0 to 100, got ${v}`;
  }
  if (o.batchPct <= 0) return `batchPct: expected above 0, got ${o.batchPct}`;
  if (!Number.isInteger(o.maxParallel) || o.maxParallel < 1) return `maxParallel: expected at least 1, got ${o.maxParallel}`;
  if (o.faults.heartbeatLoss < 0 || o.faults.heartbeatLoss >= 1) return `heartbeatLoss: expected 0 up to 1, got ${o.faults.heartbeatLoss}`;
  return null;
}
