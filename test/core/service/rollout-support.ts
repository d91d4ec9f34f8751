import { createRng } from "../../../core/engine/rng.js";
import { backoff } from "../../../core/monitor/backoff.js";
import { Rollout, defaultRolloutConfig, type RolloutConfig, type RolloutPort } from "../../../core/service/index.js";

export const SEC = 1_000_000;

/**
 * A rollout driven by hand (rollout-steps and rollout-edges tests): every operation it asks for is
 * recorded for the test to answer. Retries wait a constant 10 s unless `constantRetry` is false
 * (the default backoff then applies).
 */
export function makeRollout(overrides: Partial<RolloutConfig> & { targets: number }, constantRetry = true) {
  const stages: { now: number; node: number; op: number }[] = [];
  const applies: { now: number; node: number; toNew: boolean; op: number }[] = [];
  const states: [number, string, string][] = [];
  const batches: string[] = [];
  const port: RolloutPort = {
    stage: (now, node, op) => stages.push({ now, node, op }),
    apply: (now, node, toNew, op) => applies.push({ now, node, toNew, op }),
    stateChanged: (now, state, reason) => states.push([now, state, reason]),
    batchStarted: (now, batch, first, size) => batches.push(`${now}: start ${batch} at ${first} size ${size}`),
    batchSettled: (now, batch, failed) => batches.push(`${now}: settled ${batch} failed ${failed}`),
  };
  const retry = constantRetry ? { retryBackoff: backoff("constant", { baseUs: 10 * SEC }) } : {};
  const r = new Rollout(defaultRolloutConfig(overrides.targets, { ...retry, ...overrides }), port, createRng(1));
  /** Answers every stage asked so far with ok. */
  const stageAll = (now: number): void => {
    for (const s of stages.splice(0)) r.staged(now, s.node, s.op, true);
  };
  const lastApply = (node: number) => applies.filter((a) => a.node === node).at(-1)!;
  const rollbacks = () => applies.filter((a) => !a.toNew).map((a) => a.node);
  return { r, stages, applies, states, batches, stageAll, lastApply, rollbacks };
}
