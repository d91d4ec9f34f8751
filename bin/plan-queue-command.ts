import { checkOutput, writeOutputFileSync } from "../real/output/index.js";
import { parseQueueUrl } from "../real/queue/connection.js";
import { defaultThreads, POOL_THREADS_MAX } from "../real/queue/threads.js";
import { buildVersion } from "../real/queue/version.js";
import type { FrisbeePlanOptions } from "../scenarios/frisbee/plan.js";
import { planShardFile } from "../scenarios/sweep/plan-shards.js";
import {
  assembleRows,
  cellsLocal,
  cellsQueued,
  frisbeeCells,
  FRISBEE_PLAN,
  monitorCellQueued,
  shardCells,
  swapCells,
  SWAP_PLAN,
  swapRows,
  type KeyedCell,
  type PlanKind,
  type PlanRowDone,
} from "../scenarios/sweep/plan-queue.js";
import type { SwapPlanOptions, SwapPlanRow } from "../sim/swap/plan.js";
import type { MonitorSimResult } from "../sim/monitor/driver.js";
import type { MonitorPlanParams } from "../sim/monitor/plan.js";
import { parseShard } from "../scenarios/sweep/seeds.js";
import { parseWhole, UsageError } from "./errors.js";
import { interruptAsAbort, SIGNAL_EXIT } from "./interrupt-abort.js";
import { progressBar } from "./progress.js";

type Grid = readonly { clients: number; loss: number }[];

/**
 * `plan frisbee --queue URL`: every (row, seed) cell becomes a job for `testbed worker`s; the rows
 * are put together as a local plan would make them. Resolves with the rows, or with an exit code
 * when the plan cannot be finished (interrupted, or a cell lost). `handOver` takes the caller's
 * exit-at-once handler off once the abort handler is in place, so no signal finds neither.
 */
export async function planFrisbeeQueued(o: FrisbeePlanOptions, grid: Grid, runs: number, queue: string, storing: boolean, handOver: () => void = () => {}): Promise<PlanRowDone[] | number> {
  const cells = frisbeeCells(o, grid, runs);
  const results = await planCellsQueued(FRISBEE_PLAN, cells, queue, `${storing ? "none stored" : "not storing"}, no chart written`, handOver);
  return typeof results === "number" ? results : (assembleRows(cells, results) as PlanRowDone[]);
}

/**
 * `plan swap --queue URL`: each row a job for `testbed worker`s. Resolves with the rows in grid
 * order, or with an exit code when the plan cannot be finished (interrupted, or a row lost).
 */
export async function planSwapQueued(o: SwapPlanOptions, queue: string): Promise<SwapPlanRow[] | number> {
  const cells = swapCells(o);
  const results = await planCellsQueued(SWAP_PLAN, cells, queue, "no chart written");
  return typeof results === "number" ? results : (swapRows(cells, results) as SwapPlanRow[]);
}

/**
 * A plan's cells as jobs: the results of every cell by key, or an exit code when they cannot all
 * be had. `nothing` says what an unfinished plan leaves ("none stored, no chart written").
 */
async function planCellsQueued<O, C extends KeyedCell, R>(kind: PlanKind<O, C, R>, cells: readonly C[], queue: string, nothing: string, handOver: () => void = () => {}): Promise<Map<string, R> | number> {
  const target = parseQueueUrl(queue);
  const bar = progressBar(`plan ${kind.name}`);
  const interrupted = interruptAsAbort();
  handOver();
  let done = 0;
  let run;
  try {
    run = await cellsQueued(kind, cells, {
      target,
      version: buildVersion(),
      signal: interrupted.signal,
      listener: { onNotice: (line) => process.stderr.write(`\r\x1b[Ktestbed: ${line}\n`) },
      onCell: () => bar.update(++done / cells.length, `${done} of ${cells.length} cells`),
    });
  } finally {
    bar.done();
    interrupted.off();
  }
  if (interrupted.by !== null) {
    console.error(`testbed: interrupted by ${interrupted.by}; ${run.results.size} of ${cells.length} cells computed; ${nothing}; its waiting jobs were removed from Redis`);
    return SIGNAL_EXIT[interrupted.by];
  }
  for (const l of run.lost) console.error(`testbed: cell ${l.key} LOST: ${l.reason}`);
  for (const n of run.nondeterministic) console.error(`testbed: cell ${n.key} NONDETERMINISTIC: fingerprints ${n.fingerprints.join(" and ")} from ${n.workers.join(" and ")}`);
  if (run.results.size < cells.length || run.nondeterministic.length > 0) {
    console.error(`testbed: plan incomplete: ${run.results.size} of ${cells.length} cells came back whole; ${nothing}`);
    return 1;
  }
  return run.results;
}

export interface ShardFlags {
  shard?: string;
  out?: string;
  queue?: string;
  concurrency?: string;
  json?: boolean;
}

/**
 * `plan frisbee|swap --shard K/N --out FILE`: the K-th slice of the plan's cells, in this machine's
 * threads, written for `sweep merge`. Exits 1 when a cell broke an invariant, as the plan would.
 */
export async function planShard<O, C extends KeyedCell, R>(kind: PlanKind<O, C, R>, o: O, runs: number, f: ShardFlags): Promise<number> {
  const shard = parseShard(f.shard ?? "");
  if (f.out === undefined) throw new UsageError("--shard: a shard's cells are only useful merged; give --out FILE");
  if (f.queue !== undefined) throw new UsageError("--shard: runs a slice on this machine; give --queue or --shard, not both");
  checkOutput(f.out, { what: "plan shard" });
  const threads = f.concurrency === undefined ? defaultThreads() : parseWhole("--concurrency", f.concurrency, 1, POOL_THREADS_MAX);
  const cells = shardCells(kind.cells(o, runs), shard);
  const bar = progressBar(`plan shard ${shard.index}/${shard.count}`);
  let done = 0;
  let results;
  try {
    results = await cellsLocal(kind, cells, threads, () => bar.update(++done / Math.max(1, cells.length), `${done} of ${cells.length} cells`));
  } finally {
    bar.done();
  }
  const file = planShardFile(kind, { version: buildVersion().id, options: o, runs, shard }, cells, results);
  writeOutputFileSync(f.out, `${JSON.stringify(file)}\n`, { what: "plan shard" });
  const failed = file.cells.filter((c) => kind.failed(c.result)).length;
  if (f.json) console.log(JSON.stringify({ shard, cells: cells.length, failed, out: f.out }));
  else console.log(`plan ${kind.name} shard ${shard.index}/${shard.count}: ${cells.length} cells, ${failed} failing, written to ${f.out} (join the shards with testbed sweep merge)`);
  return failed === 0 ? 0 : 1;
}

/**
 * `plan monitor --queue URL`: the plan's one run as a job. Resolves with the result and the peak
 * memory of the worker that ran it, or with an exit code when it cannot be had.
 */
export async function planMonitorQueued(
  params: MonitorPlanParams,
  queue: string,
  storing: boolean,
  handOver: () => void = () => {},
): Promise<{ result: MonitorSimResult; peakRssMiB: number } | number> {
  const target = parseQueueUrl(queue);
  const interrupted = interruptAsAbort();
  handOver();
  let run;
  try {
    run = await monitorCellQueued(params, { target, version: buildVersion(), signal: interrupted.signal, listener: { onNotice: (line) => process.stderr.write(`\r\x1b[Ktestbed: ${line}\n`) } });
  } finally {
    interrupted.off();
  }
  if (interrupted.by !== null) {
    console.error(`testbed: interrupted by ${interrupted.by}; ${storing ? "no run stored" : "not storing"}; its job was removed from Redis`);
    return SIGNAL_EXIT[interrupted.by];
  }
  const cell = run.results.get("0");
  for (const l of run.lost) console.error(`testbed: the plan's job was LOST: ${l.reason}`);
  for (const n of run.nondeterministic) console.error(`testbed: the plan's job was NONDETERMINISTIC: fingerprints ${n.fingerprints.join(" and ")} from ${n.workers.join(" and ")}`);
  if (cell === undefined || run.nondeterministic.length > 0) return 1;
  return { result: cell.result, peakRssMiB: cell.peakRssMiB };
}
