import type { Micros, Rng } from "../../core/engine/index.js";
import type { SimSpec } from "../../core/experiment/spec.js";

/** How many setups a flaky node fails before one passes. */
export const FLAKY_FAILURES_MAX = 2;

/**
 * What the simulator decides about each physical node that is not a protocol: how long it boots
 * and sets up, whether its setup is flaky or always fails, whether it crashes while loading. Which
 * nodes misbehave is drawn once from the seed; spares (beyond the experiment's nodes) are sound.
 */
export interface NodeModels {
  bootUs(rng: Rng, pnode: number): Micros;
  setupUs(rng: Rng, pnode: number): Micros;
  /** Whether this physical node's next setup passes (each call is one setup). */
  setupPasses(pnode: number, attempt: number): boolean;
  isBad(pnode: number): boolean;
  crashesDuringLoad(pnode: number, attempt: number): boolean;
  /** The physical nodes drawn for each misbehaviour, for the report. */
  readonly flaky: readonly number[];
  readonly bad: readonly number[];
  readonly crash: readonly number[];
}

export function drawNodeModels(rng: Rng, nodes: number, sim: SimSpec): NodeModels {
  // A partial shuffle picks distinct nodes for the three kinds of trouble.
  const picked = sim.flakyNodes + sim.badNodes + sim.crashNodes;
  const order = Array.from({ length: nodes }, (_, i) => i);
  for (let i = 0; i < picked; i++) {
    const j = i + rng.int(nodes - i);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const flaky = order.slice(0, sim.flakyNodes).sort((a, b) => a - b);
  const bad = order.slice(sim.flakyNodes, sim.flakyNodes + sim.badNodes).sort((a, b) => a - b);
  const crash = order.slice(sim.flakyNodes + sim.badNodes, picked).sort((a, b) => a - b);
  const failuresLeft = new Map(flaky.map((p) => [p, 1 + rng.int(FLAKY_FAILURES_MAX)]));
  const badSet = new Set(bad);
  const crashSet = new Set(crash);
  const uniform = (r: Rng, [lo, hi]: readonly [Micros, Micros]): Micros => lo + Math.round(r.next() * (hi - lo));
  return {
    flaky,
    bad,
    crash,
    bootUs: (r) => uniform(r, sim.bootUs),
    setupUs: (r) => uniform(r, sim.setupUs),
    setupPasses: (pnode) => {
      if (badSet.has(pnode)) return false;
      const left = failuresLeft.get(pnode) ?? 0;
      if (left === 0) return true;
      failuresLeft.set(pnode, left - 1);
      return false;
    },
    isBad: (pnode) => badSet.has(pnode),
    crashesDuringLoad: (pnode, attempt) => attempt === 1 && crashSet.has(pnode),
  };
}
