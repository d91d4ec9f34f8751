import { planRowRuns, type FrisbeePlanOptions } from "../scenarios/frisbee/plan.js";
import { loadScenario, runScenario, type SimRun } from "../scenarios/runner.js";
import type { PlanRowDone } from "../scenarios/sweep/plan-queue.js";
import { replayLine } from "../scenarios/sweep/run-seed.js";
import { readSweepSpec, scenarioFor } from "../scenarios/sweep/spec.js";
import { runEngineBench, type EngineBenchOptions, type EngineBenchResult } from "../sim/bench/engine-bench.js";
import { runMonitorSim, type MonitorSimOptions, type MonitorSimResult } from "../sim/monitor/driver.js";
import { planSwapRow, type SwapPlanOptions, type SwapPlanRow } from "../sim/swap/plan.js";
import { runServiceSim } from "../sim/service/driver.js";
import { defaultServiceSim } from "../sim/service/options.js";
import type { ServiceSimResult } from "../sim/service/result.js";

/** A row of a Frisbee plan as the worker hands it back: the row and each seed's run. */
export type { PlanRowDone };

/**
 * The long, synchronous computations a command runs off its main thread (so that SIGINT and
 * SIGTERM are handled at once: a handler cannot run while the main thread computes). Each takes
 * plain data in, reports progress, and returns or emits plain data.
 */
export interface Jobs {
  sim: { input: { file: string; seed: number; label: string; varies: string[] }; output: SimRun };
  planFrisbee: { input: { o: FrisbeePlanOptions; grid: { clients: number; loss: number }[]; runs: number }; output: null; item: PlanRowDone };
  planMonitor: { input: MonitorSimOptions; output: MonitorSimResult };
  benchEngine: { input: EngineBenchOptions; output: EngineBenchResult };
  planSwap: { input: { o: SwapPlanOptions; grid: { nodes: number; deltaPct: number }[] }; output: null; item: SwapPlanRow };
  /** The options are built in the worker (its policies may hold functions, which do not cross threads). */
  planService: { input: { nodes: number; days: number; seed: number; overrides: Parameters<typeof defaultServiceSim>[3] }; output: ServiceSimResult };
}

export type JobName = keyof Jobs;

/** What a job may do besides returning: report progress, and hand back pieces as they are done. */
export interface JobContext {
  progress(fraction: number, note?: string): void;
  emit(item: unknown): void;
}

export const JOBS: { [K in JobName]: (input: Jobs[K]["input"], ctx: JobContext) => Jobs[K]["output"] } = {
  sim: ({ file, seed, label, varies }, ctx) => {
    if (varies.length === 0) return runScenario(loadScenario(file), { seed, onProgress: (f) => ctx.progress(f, label) });
    // A seed's draws (testbed sweep --vary), and a replay line that draws them again.
    const run = runScenario(scenarioFor(readSweepSpec(file, varies, seed), seed).scenario, { seed, onProgress: (f) => ctx.progress(f, label) });
    return { ...run, result: { ...run.result, replay: replayLine({ file, text: "", varies }, seed) } };
  },
  planFrisbee: ({ o, grid, runs }, ctx) => {
    grid.forEach(({ clients, loss }, index) => {
      const done = planRowRuns(o, clients, loss, runs, (f) => ctx.progress((index + f) / grid.length, `${clients} clients, loss ${loss}`));
      ctx.emit({ index, ...done } satisfies PlanRowDone);
    });
    return null;
  },
  planMonitor: (input, ctx) => runMonitorSim(input, (f) => ctx.progress(f, `${input.nodes} nodes`)),
  benchEngine: (input) => runEngineBench(input),
  planSwap: ({ o, grid }, ctx) => {
    grid.forEach(({ nodes, deltaPct }, i) => ctx.emit(planSwapRow(o, nodes, deltaPct, (f) => ctx.progress((i + f) / grid.length, `${nodes} nodes, ${deltaPct}%`))));
    return null;
  },
  planService: ({ nodes, days, seed, overrides }, ctx) => runServiceSim(defaultServiceSim(nodes, days, seed, overrides), (f) => ctx.progress(f, `${nodes} nodes`)),
};
