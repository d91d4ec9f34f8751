import { Fingerprint } from "../../core/engine/index.js";
import type { MonitorPlanParams } from "../../sim/monitor/plan.js";
import { runFrisbeeCell, runMonitorCell, runSwapCell, type FrisbeeCell, type FrisbeeCellResult, type MonitorCellResult, type SwapCell, type SwapCellResult } from "./plan-jobs.js";
import { runSeed, type SeedResult } from "./run-seed.js";
import { prepareSpec, type PreparedSpec, type SweepSpec } from "./spec.js";

/**
 * The code a worker thread runs: one job at a time, synchronously. Sweep seeds parse their spec once
 * per thread; plan cells carry their whole question; `echo` does no simulation at all, so the
 * benchmark can measure what the queue and the threads cost per job.
 */
export type ThreadTask =
  | { readonly kind: "sweep-seed"; readonly specId: string; readonly spec: SweepSpec; readonly seed: number }
  | { readonly kind: "plan-frisbee-cell"; readonly cell: FrisbeeCell }
  | { readonly kind: "plan-monitor-cell"; readonly params: MonitorPlanParams }
  | { readonly kind: "plan-swap-cell"; readonly cell: SwapCell }
  | { readonly kind: "echo"; readonly key: string };

export type ThreadResult = SeedResult | FrisbeeCellResult | MonitorCellResult | SwapCellResult | { readonly fingerprint: string };

/** Specs kept parsed per thread. */
const SPECS_CACHED_MAX = 8;
const specs = new Map<string, PreparedSpec>();

export default function runTask(task: ThreadTask): ThreadResult {
  switch (task.kind) {
    case "sweep-seed":
      return runSeed(prepared(task.specId, task.spec), task.seed);
    case "plan-frisbee-cell":
      return runFrisbeeCell(task.cell);
    case "plan-monitor-cell":
      return runMonitorCell(task.params);
    case "plan-swap-cell":
      return runSwapCell(task.cell);
    case "echo":
      return { fingerprint: echoFingerprint(task.key) };
  }
}

function prepared(id: string, spec: SweepSpec): PreparedSpec {
  let p = specs.get(id);
  if (p === undefined) {
    p = prepareSpec(spec);
    if (specs.size >= SPECS_CACHED_MAX) specs.delete(specs.keys().next().value as string);
    specs.set(id, p);
  }
  return p;
}

export function echoFingerprint(key: string): string {
  const f = new Fingerprint();
  f.mixString(key);
  return f.hex();
}
