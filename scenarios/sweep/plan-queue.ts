import type { Shard } from "./seeds.js";
import { combinePlanRuns, type FrisbeePlanOptions, type FrisbeePlanRow, type PlanRun, type PlanSeedRun } from "../frisbee/plan.js";
import type { MonitorPlanParams } from "../../sim/monitor/plan.js";
import { createJobPool } from "./jobs.js";
import { runQueued, type QueuedOptions, type QueuedRun } from "./drivers.js";
import type { SwapPlanOptions } from "../../sim/swap/plan.js";
import { decodeFrisbeeCellResult, decodeMonitorCellResult, decodeSwapCellResult, type FrisbeeCell, type FrisbeeCellResult, type MonitorCellResult, type SwapCellResult } from "./plan-jobs.js";

/**
 * A plan's cells as jobs: each (row, seed) of a Frisbee plan, or the one run of a monitor plan. The
 * rows are put together from the cells in the order a local plan runs them, so the submitter
 * stores the same rows, with the same fingerprints, and prints the same table.
 */
export interface PlanCell extends FrisbeeCell {
  /** The grid row the cell belongs to. */
  readonly index: number;
  readonly key: string;
}

export interface PlanRowDone {
  readonly index: number;
  readonly row: FrisbeePlanRow;
  readonly runs: { seed: number; run: PlanRun }[];
}

/** Every cell of a plan, row by row and seed by seed: the order a local plan runs them. */
export function frisbeeCells(o: FrisbeePlanOptions, grid: readonly { clients: number; loss: number }[], runs: number): PlanCell[] {
  return grid.flatMap(({ clients, loss }, index) =>
    Array.from({ length: runs }, (_, r) => ({ index, key: `${index}.${o.seed + r}`, options: o, clients, loss, seed: o.seed + r })),
  );
}

/** The K-th of N interleaved slices of the cells, as --shard cuts seeds. */
export function shardCells(cells: readonly PlanCell[], shard: Shard): PlanCell[] {
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

export async function frisbeeCellsQueued(cells: readonly PlanCell[], o: QueuedOptions & { onCell?: () => void }): Promise<QueuedRun<FrisbeeCellResult>> {
  const byKey = new Map(cells.map((c) => [c.key, c]));
  return runQueued(
    cells.map((c) => ({ key: c.key, kind: "plan-frisbee-cell", payload: { options: c.options, clients: c.clients, loss: c.loss, seed: c.seed } })),
    {
      ...o,
      what: `plan frisbee, ${cells.length} cells`,
      decode: (key, value) => {
        const cell = byKey.get(key);
        return cell === undefined ? "no such cell" : decodeFrisbeeCellResult(value, cell);
      },
      ...(o.onCell === undefined ? {} : { onResult: o.onCell }),
    },
  );
}

/** Cells in this machine's threads (a shard of a plan): results by key. */
export async function frisbeeCellsLocal(cells: readonly PlanCell[], threads: number, onCell?: () => void): Promise<Map<string, FrisbeeCellResult>> {
  const pool = createJobPool(threads);
  const results = new Map<string, FrisbeeCellResult>();
  let next = 0;
  try {
    const lane = async (): Promise<void> => {
      while (next < cells.length) {
        const cell = cells[next++] as PlanCell;
        results.set(cell.key, (await pool.run({ kind: "plan-frisbee-cell", cell })) as FrisbeeCellResult);
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

/** A swap plan's rows as jobs, keyed by their index in the grid. */
export async function swapCellsQueued(o: SwapPlanOptions, grid: readonly { nodes: number; deltaPct: number }[], q: QueuedOptions & { onCell?: () => void }): Promise<QueuedRun<SwapCellResult>> {
  return runQueued(
    grid.map(({ nodes, deltaPct }, i) => ({ key: String(i), kind: "plan-swap-cell", payload: { options: o, nodes, deltaPct } })),
    {
      ...q,
      what: `plan swap, ${grid.length} rows`,
      decode: (key, value) => {
        const cell = grid[Number(key)];
        return cell === undefined ? "no such row" : decodeSwapCellResult(value, cell);
      },
      ...(q.onCell === undefined ? {} : { onResult: q.onCell }),
    },
  );
}
