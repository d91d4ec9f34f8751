import type { Shard } from "./seeds.js";
import { combinePlanRuns, type FrisbeePlanOptions, type FrisbeePlanRow, type PlanRun, type PlanSeedRun } from "../frisbee/plan.js";
import type { MonitorPlanParams } from "../../sim/monitor/plan.js";
import { createJobPool } from "./jobs.js";
import type { ThreadTask } from "./job-thread.js";
import { runQueued, type QueuedOptions, type QueuedRun } from "./drivers.js";
import type { SwapPlanOptions, SwapPlanRow } from "../../sim/swap/plan.js";
import {
  decodeFrisbeeCell,
  decodeFrisbeeCellResult,
  decodeMonitorCellResult,
  decodeSwapCell,
  decodeSwapCellResult,
  type FrisbeeCell,
  type FrisbeeCellResult,
  type MonitorCellResult,
  type SwapCell,
  type SwapCellResult,
} from "./plan-jobs.js";

/**
 * A plan's cells as jobs: each (row, seed) of a Frisbee plan, each row of a swap plan, or the one
 * run of a monitor plan. The rows are put together from the cells in the order a local plan runs
 * them, so the submitter (or `sweep merge`, from shards) stores the same rows, with the same
 * fingerprints, and prints the same table.
 */
export interface KeyedCell {
  /** The grid row the cell belongs to. */
  readonly index: number;
  readonly key: string;
}

export interface PlanCell extends FrisbeeCell, KeyedCell {}
export interface SwapPlanCell extends SwapCell, KeyedCell {}

export interface PlanRowDone {
  readonly index: number;
  readonly row: FrisbeePlanRow;
  readonly runs: { seed: number; run: PlanRun }[];
}

/** Most cells one plan is cut into, so a shard file cannot ask for a grid that fills memory. */
export const PLAN_CELLS_MAX = 1_000_000;

/**
 * What differs between the plans whose cells run as jobs (locally in threads, on queue workers, or
 * as batch shards): how the cells are made, sent and checked. Everything else is shared.
 */
export interface PlanKind<O, C extends KeyedCell, R> {
  readonly name: "frisbee" | "swap";
  readonly jobKind: "plan-frisbee-cell" | "plan-swap-cell";
  /** Runs per row the plan allows (a swap row is one run). */
  readonly runsMax: number;
  /** How many cells the plan has, before any is made. */
  size(o: O, runs: number): number;
  /** Every cell, in the order a local plan runs them. */
  cells(o: O, runs: number): C[];
  /** The plan's options as a worker would check them: the options, or what is wrong with them. */
  decodeOptions(v: unknown): O | string;
  payload(c: C): unknown;
  task(c: C): ThreadTask;
  decodeResult(value: unknown, c: C): R | string;
  /** A cell whose run broke an invariant: the plan exits 1. */
  failed(r: R): boolean;
}

/** Every cell of a plan, row by row and seed by seed: the order a local plan runs them. */
export function frisbeeCells(o: FrisbeePlanOptions, grid: readonly { clients: number; loss: number }[], runs: number): PlanCell[] {
  return grid.flatMap(({ clients, loss }, index) =>
    Array.from({ length: runs }, (_, r) => ({ index, key: `${index}.${o.seed + r}`, options: o, clients, loss, seed: o.seed + r })),
  );
}

/** A Frisbee plan's grid, in the order `testbed plan frisbee` runs it. */
export function planGrid(o: FrisbeePlanOptions): { clients: number; loss: number }[] {
  return o.losses.flatMap((loss) => o.clients.map((clients) => ({ clients, loss })));
}

/** A swap plan's grid, in the order `testbed plan swap` runs it. */
export function swapGrid(o: SwapPlanOptions): { nodes: number; deltaPct: number }[] {
  return o.deltaPcts.flatMap((deltaPct) => o.nodes.map((nodes) => ({ nodes, deltaPct })));
}

/** A swap plan's cells: one per row, keyed by its index in the grid. */
export function swapCells(o: SwapPlanOptions): SwapPlanCell[] {
  return swapGrid(o).map(({ nodes, deltaPct }, index) => ({ index, key: String(index), options: o, nodes, deltaPct }));
}

export const FRISBEE_PLAN: PlanKind<FrisbeePlanOptions, PlanCell, FrisbeeCellResult> = {
  name: "frisbee",
  jobKind: "plan-frisbee-cell",
  runsMax: 1_000,
  size: (o, runs) => o.clients.length * o.losses.length * runs,
  cells: (o, runs) => frisbeeCells(o, planGrid(o), runs),
  decodeOptions: (v) => {
    // Checked as a worker checks a job's: through a cell of the plan.
    const cell = decodeFrisbeeCell({ options: v, clients: 1, loss: 0, seed: 0 });
    return typeof cell === "string" ? cell.replace(/^payload\.options\.?/, "") : cell.options;
  },
  payload: (c) => ({ options: c.options, clients: c.clients, loss: c.loss, seed: c.seed }),
  task: (c) => ({ kind: "plan-frisbee-cell", cell: c }),
  decodeResult: decodeFrisbeeCellResult,
  failed: (r) => !r.run.ok,
};

export const SWAP_PLAN: PlanKind<SwapPlanOptions, SwapPlanCell, SwapCellResult> = {
  name: "swap",
  jobKind: "plan-swap-cell",
  runsMax: 1,
  size: (o) => o.nodes.length * o.deltaPcts.length,
  cells: (o) => swapCells(o),
  decodeOptions: (v) => {
    const cell = decodeSwapCell({ options: v, nodes: 1, deltaPct: 0 });
    return typeof cell === "string" ? cell.replace(/^payload\.options\.?/, "") : cell.options;
  },
  payload: (c) => ({ options: c.options, nodes: c.nodes, deltaPct: c.deltaPct }),
  task: (c) => ({ kind: "plan-swap-cell", cell: { options: c.options, nodes: c.nodes, deltaPct: c.deltaPct } }),
  decodeResult: decodeSwapCellResult,
  // A swap row has no invariants to break: its figures are the answer.
  failed: () => false,
};

/** The K-th of N interleaved slices of the cells, as --shard cuts seeds. */
export function shardCells<C>(cells: readonly C[], shard: Shard): C[] {
  return cells.filter((_, i) => i % shard.count === shard.index - 1);
}

/** The plan's rows from its cells' results, in grid order; null when a cell is missing. */
export function assembleRows(cells: readonly PlanCell[], results: ReadonlyMap<string, FrisbeeCellResult>): PlanRowDone[] | null {
  const byRow = new Map<number, PlanSeedRun[]>();
  for (const cell of cells) {
    const r = results.get(cell.key);
    if (r === undefined) return null;
    byRow.set(cell.index, [...(byRow.get(cell.index) ?? []), { seed: cell.seed, row: r.row, run: r.run }]);
  }
  return [...byRow].map(([index, done]) => ({ index, row: combinePlanRuns(done), runs: done.map(({ seed, run }) => ({ seed, run })) }));
}

/** A swap plan's rows in grid order; null when one is missing. */
export function swapRows(cells: readonly SwapPlanCell[], results: ReadonlyMap<string, SwapCellResult>): SwapPlanRow[] | null {
  const rows = cells.map((c) => results.get(c.key)?.row);
  return rows.every((r) => r !== undefined) ? (rows as SwapPlanRow[]) : null;
}

/** Cells as jobs for `testbed worker`s: each result checked against its cell, by key. */
export async function cellsQueued<O, C extends KeyedCell, R>(kind: PlanKind<O, C, R>, cells: readonly C[], q: QueuedOptions & { onCell?: () => void }): Promise<QueuedRun<R>> {
  const byKey = new Map(cells.map((c) => [c.key, c]));
  return runQueued(
    cells.map((c) => ({ key: c.key, kind: kind.jobKind, payload: kind.payload(c) })),
    {
      ...q,
      what: `plan ${kind.name}, ${cells.length} cells`,
      decode: (key, value) => {
        const cell = byKey.get(key);
        return cell === undefined ? "no such cell" : kind.decodeResult(value, cell);
      },
      ...(q.onCell === undefined ? {} : { onResult: q.onCell }),
    },
  );
}

/** Cells in this machine's threads (a shard of a plan): results by key. */
export async function cellsLocal<O, C extends KeyedCell, R>(kind: PlanKind<O, C, R>, cells: readonly C[], threads: number, onCell?: () => void): Promise<Map<string, R>> {
  const pool = createJobPool(threads);
  const results = new Map<string, R>();
  let next = 0;
  try {
    const lane = async (): Promise<void> => {
      while (next < cells.length) {
        const cell = cells[next++] as C;
        results.set(cell.key, (await pool.run(kind.task(cell))) as R);
        onCell?.();
      }
    };
    await Promise.all(Array.from({ length: Math.min(threads, cells.length) }, lane));
  } finally {
    await pool.close();
  }
  return results;
}

export async function monitorCellQueued(params: MonitorPlanParams, o: QueuedOptions): Promise<QueuedRun<MonitorCellResult>> {
  return runQueued([{ key: "0", kind: "plan-monitor-cell", payload: params }], {
    ...o,
    what: `plan monitor, ${params.nodes} nodes`,
    decode: (_key, value) => decodeMonitorCellResult(value, params.seed),
  });
}
