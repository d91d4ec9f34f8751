import { frisbeePlanChart, swapChart, type FrisbeeChartRow, type SwapChartPoint } from "../../core/chart/plans.js";
import type { RunRow } from "../store/index.js";
import type { ExperimentStore } from "../store/index.js";

/** Most swaps (of every experiment) the run history lists and charts. */
export const PORTAL_HISTORY_SWAPS_MAX = 200;
/** Most stored plan runs read to rebuild the plans (a plan of R rows and S seeds stored R×S). */
export const PORTAL_PLAN_RUNS_MAX = 1_000;
/** Most plans the run history shows, newest first. */
export const PORTAL_PLANS_MAX = 10;

/** One swap of any experiment, as the run history lists it. */
export interface HistorySwap {
  readonly id: number;
  readonly experiment: string;
  readonly kind: "swapin" | "swapout";
  readonly world: string;
  readonly nodes: number | null;
  readonly ok: boolean;
  /** The swap's own seconds (simulated, or the real swap's clock). */
  readonly seconds: number;
  readonly wallSeconds: number;
  readonly createdAt: string;
}

/** A `plan frisbee` stored in the store: its rows (one per clients and loss), rebuilt from its runs. */
export interface HistoryPlan {
  /** Its newest run's id: the plan's name in the chart's address. */
  readonly id: number;
  readonly createdAt: string;
  readonly model: string;
  readonly rows: readonly (FrisbeeChartRow & { readonly runs: number })[];
}

export interface RunHistory {
  readonly swaps: readonly HistorySwap[];
  readonly plans: readonly HistoryPlan[];
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

export function historySwap(r: RunRow): HistorySwap {
  const results = obj(r.results);
  return {
    id: r.id,
    experiment: r.scenario,
    kind: r.kind === "swapout" ? "swapout" : "swapin",
    world: typeof results.world === "string" ? results.world : "?",
    nodes: num(obj(results.summary).nodes),
    ok: r.ok,
    seconds: r.simSeconds,
    wallSeconds: r.wallSeconds,
    createdAt: r.createdAt,
  };
}

/** Every experiment's swaps and the stored Frisbee plans, newest first. */
export function runHistory(store: ExperimentStore): RunHistory {
  return {
    swaps: store.allSwapRuns(PORTAL_HISTORY_SWAPS_MAX).map(historySwap),
    plans: storedPlans(store.runsOfKind("plan-frisbee", PORTAL_PLAN_RUNS_MAX)),
  };
}

/**
 * A plan stores one run per seed, each holding the row it went into and the plan's options (with
 * that run's seed): runs whose options match but for the seed are one plan; a row asked again
 * (same clients and loss) keeps its newest answer.
 */
export function storedPlans(runs: readonly RunRow[]): HistoryPlan[] {
  const plans = new Map<string, { id: number; createdAt: string; model: string; rows: Map<string, FrisbeeChartRow & { runs: number }> }>();
  for (const r of runs) {
    const results = obj(r.results);
    const row = obj(results.row);
    const clients = num(row.clients);
    const loss = num(row.loss);
    const runtimeSecMean = num(row.runtimeSecMean);
    if (clients === null || loss === null || runtimeSecMean === null) continue;
    const { seed: _seed, ...options } = obj(results.options);
    const key = JSON.stringify(options);
    let plan = plans.get(key);
    if (plan === undefined) {
      if (plans.size >= PORTAL_PLANS_MAX) continue;
      plan = { id: r.id, createdAt: r.createdAt, model: typeof options.model === "string" ? options.model : "?", rows: new Map() };
      plans.set(key, plan);
    }
    const at = `${clients}/${loss}`;
    if (!plan.rows.has(at)) plan.rows.set(at, { clients, loss, runtimeSecMean, runs: num(row.runs) ?? 1 });
  }
  return [...plans.values()].map((p) => ({ id: p.id, createdAt: p.createdAt, model: p.model, rows: [...p.rows.values()].sort((a, b) => a.loss - b.loss || a.clients - b.clients) }));
}

/** The swaps that finished, on the planner's swap chart (one line per kind and world); undefined when none did. */
export function swapHistoryChart(swaps: readonly HistorySwap[]): string | undefined {
  const points: SwapChartPoint[] = swaps.flatMap((s) => (s.ok && s.nodes !== null ? [{ kind: s.kind, group: s.world, nodes: s.nodes, seconds: s.seconds }] : []));
  return points.length === 0 ? undefined : swapChart(points);
}

/** A stored plan on the planner's Frisbee chart, or undefined if the store holds no plan with that id. */
export function planHistoryChart(plans: readonly HistoryPlan[], id: number): string | undefined {
  const plan = plans.find((p) => p.id === id);
  return plan === undefined || plan.rows.length === 0 ? undefined : frisbeePlanChart(plan.rows);
}

/** The run history, read again only when the store's runs changed (a swap's flushes do not change them). */
export function cachedRunHistory(store: ExperimentStore): () => RunHistory {
  let mark = "";
  let history: RunHistory = { swaps: [], plans: [] };
  return () => {
    const now = store.runsMark();
    if (now !== mark) {
      history = runHistory(store);
      mark = now;
    }
    return history;
  };
}
