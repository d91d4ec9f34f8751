import { checkMonitorConfig, deployedConfig } from "../../core/monitor/index.js";
import type { MonitorSimOptions } from "./driver.js";
import { checkMix, defaultMix } from "./models.js";

/**
 * What `testbed plan monitor` asks, as numbers, and the simulation it runs. One function builds the
 * simulation's options, so a plan run here and one run by a queue worker are the same run.
 */
export interface MonitorPlanParams {
  readonly nodes: number;
  readonly days: number;
  readonly window: number;
  readonly flakyPct: number;
  /** How long a test of an up node takes; a down node's test takes a quarter to a half of it. */
  readonly passUsMin: number;
  readonly passUsMax: number;
  readonly seed: number;
}

/** The plan's limits: a million nodes, a year. */
export const PLAN_NODES_MAX = 1_000_000;
export const PLAN_DAYS_MAX = 365;
const SEC = 1_000_000;

/** The simulation's options, or what is wrong with the parameters (one line). */
export function monitorPlanOptions(p: MonitorPlanParams): MonitorSimOptions | string {
  if (!Number.isInteger(p.nodes) || p.nodes < 1 || p.nodes > PLAN_NODES_MAX) return `nodes: expected a whole number from 1 to ${PLAN_NODES_MAX}, got ${p.nodes}`;
  if (!(p.days > 0 && p.days <= PLAN_DAYS_MAX)) return `days: expected a number of days above 0 up to ${PLAN_DAYS_MAX}, got ${p.days}`;
  if (!Number.isSafeInteger(p.seed) || p.seed < 0) return `seed: expected a whole number from 0, got ${p.seed}`;
  const mix = {
    ...defaultMix(p.nodes, p.days, p.flakyPct),
    passUsMin: p.passUsMin,
    passUsMax: p.passUsMax,
    failUsMin: Math.max(1, Math.round(p.passUsMin / 4)),
    failUsMax: Math.max(1, Math.round(p.passUsMax / 2)),
  };
  const mixProblem = checkMix(mix);
  if (mixProblem !== null) return `node mix: ${mixProblem}`;
  const config = deployedConfig({ window: p.window, entriesMax: p.nodes });
  const configProblem = checkMonitorConfig(config);
  if (configProblem !== null) return `monitor configuration: ${configProblem}`;
  return { nodes: p.nodes, durationUs: Math.round(p.days * 86_400 * SEC), seed: p.seed, config, mix };
}
