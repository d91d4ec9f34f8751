import type { SwapSummary } from "../../core/experiment/machine.js";
import type { ExperimentStore, ExperimentSummary, LiveNode } from "../store/index.js";
import type { RunHistory } from "./history.js";
import { portalBarriers, PORTAL_SYNC_EVENTS_MAX, type PortalBarrier } from "./barriers.js";

/** Most nodes one experiment page carries (a 100,000-node experiment shows its first ones and says so). */
export const PORTAL_NODES_MAX = 10_000;
/** Most swaps the run history shows. */
export const PORTAL_RUNS_MAX = 50;
/** Most experiments the list shows. */
export const PORTAL_EXPERIMENTS_MAX = 500;

/** One node as the page draws it: figures of the last flush, heartbeat age in swap seconds. */
export interface PortalNode {
  readonly name: string;
  readonly phase: string;
  readonly pnode: string;
  readonly attempt: number;
  readonly bytesWritten: number;
  readonly imageBytes: number;
  readonly secondsLeft: number | null;
  /** Swap seconds since the node's last progress report (Frisbee heartbeat), or null. */
  readonly heartbeatAgeSec: number | null;
  readonly ready: boolean;
  readonly reason: string;
}

export interface PortalRun {
  readonly id: number;
  readonly kind: string;
  readonly ok: boolean;
  readonly seed: string;
  readonly simSeconds: number;
  readonly wallSeconds: number;
  readonly createdAt: string;
  readonly world: unknown;
  readonly nodes: number | null;
  /** Per phase, the mean and longest seconds a node spent in it (the swap's summary). */
  readonly phases: Readonly<Record<string, { readonly meanSec: number; readonly maxSec: number; readonly nodes: number }>>;
  /** Swap seconds at which every node was loaded, booted, past the barrier, and the swap ended. */
  readonly milestones: Readonly<Record<string, number | null>>;
  readonly outcome: string;
}

export interface ExperimentSnapshot {
  readonly name: string;
  readonly state: string;
  readonly reason: string;
  readonly world: string | null;
  readonly saveDiskState: boolean;
  readonly simulated: boolean;
  readonly clockSec: number;
  readonly secondsLeft: number | null;
  readonly updatedAt: string;
  readonly syncServer: string | null;
  /** The swap's figures (barrier and who it waits for, setup pool and flapping nodes, phases). */
  readonly progress: Readonly<Record<string, unknown>>;
  /** Every barrier: the boot barrier, then the sync server's (real experiments), each with who waits. */
  readonly barriers: readonly PortalBarrier[];
  readonly nodeCount: number;
  readonly nodes: readonly PortalNode[];
  readonly partitions: readonly { node: string; partition: number; image: string; deltaBytes: number | null; savedAt: string | null }[];
  readonly runs: readonly PortalRun[];
}

/** The first page: the experiments, and the run history (every swap, the stored plans). */
export function listSnapshot(store: ExperimentStore, history: RunHistory): { experiments: ExperimentSummary[]; history: RunHistory } {
  return { experiments: store.listExperiments(PORTAL_EXPERIMENTS_MAX), history };
}

/** Everything the experiment page shows, or undefined for an experiment the store does not hold. */
export function experimentSnapshot(store: ExperimentStore, name: string): ExperimentSnapshot | undefined {
  const row = store.experiment(name);
  if (row === undefined) return undefined;
  return {
    name: row.name,
    state: row.state,
    reason: row.reason,
    world: row.world,
    saveDiskState: row.saveDiskState,
    simulated: row.spec?.sim !== null && row.spec?.sim !== undefined,
    clockSec: row.clockUs / 1e6,
    secondsLeft: row.secondsLeft,
    updatedAt: row.updatedAt,
    syncServer: row.syncServer ?? row.spec?.syncServer ?? null,
    progress: row.progress,
    barriers: barriersOf(store, row),
    nodeCount: row.nodes.length,
    nodes: row.nodes.slice(0, PORTAL_NODES_MAX).map((n) => portalNode(n, row.clockUs)),
    partitions: store.partitions(name).slice(0, PORTAL_NODES_MAX).map((p) => ({ node: p.node, partition: p.partition, image: p.image, deltaBytes: p.deltaBytes, savedAt: p.savedAt })),
    runs: store.swapRuns(name, PORTAL_RUNS_MAX).map(portalRun),
  };
}

/** A simulated experiment has no sync server of its own: only real ones' events are read. */
function barriersOf(store: ExperimentStore, row: NonNullable<ReturnType<ExperimentStore["experiment"]>>): PortalBarrier[] {
  const simulated = row.spec?.sim !== null && row.spec?.sim !== undefined;
  const events = simulated ? [] : store.syncEvents(row.name, PORTAL_SYNC_EVENTS_MAX);
  return portalBarriers(row.progress, events, new Map(row.nodes.map((n) => [n.host, n.node])));
}

function portalNode(n: LiveNode, clockUs: number): PortalNode {
  return {
    name: n.node,
    phase: n.phase,
    pnode: n.pnode,
    attempt: n.attempt,
    bytesWritten: n.bytesWritten,
    imageBytes: n.imageBytes,
    secondsLeft: n.secondsLeft,
    heartbeatAgeSec: n.lastReportUs === null ? null : Math.max(0, Math.round((clockUs - n.lastReportUs) / 1e5) / 10),
    ready: n.ready,
    reason: n.reason,
  };
}

function portalRun(r: ReturnType<ExperimentStore["swapRuns"]>[number]): PortalRun {
  const results = (r.results ?? {}) as { world?: unknown; summary?: Partial<Pick<SwapSummary, "nodes" | "phases" | "milestones" | "outcome">> };
  return {
    id: r.id,
    kind: r.kind,
    ok: r.ok,
    seed: r.seed,
    simSeconds: r.simSeconds,
    wallSeconds: r.wallSeconds,
    createdAt: r.createdAt,
    world: results.world ?? null,
    nodes: typeof results.summary?.nodes === "number" ? results.summary.nodes : null,
    phases: results.summary?.phases ?? {},
    milestones: { ...(results.summary?.milestones ?? {}) },
    outcome: results.summary?.outcome?.reason ?? "",
  };
}
