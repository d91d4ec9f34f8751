/**
 * Batch sizes as Ansible's `serial`: a list of counts or percentages of all targets, the last one
 * repeating until every target has had its batch (`[1, 5, "20%"]` is a canary of 1, then 5, then
 * fifths). A percentage is rounded down but is at least 1.
 */
export type BatchStep = number | `${number}%`;

export const BATCH_STEPS_MAX = 100;

export function checkBatchSteps(steps: readonly BatchStep[]): string | null {
  if (steps.length === 0 || steps.length > BATCH_STEPS_MAX) return `expected 1 to ${BATCH_STEPS_MAX} steps, got ${steps.length}`;
  for (const s of steps) {
    if (typeof s === "number") {
      if (!Number.isInteger(s) || s < 1) return `expected a count of at least 1 or a percentage, got ${s}`;
    } else {
      const pct = percentOf(s);
      if (pct === null || pct <= 0 || pct > 100) return `expected a percentage above 0 up to 100, got "${s}"`;
    }
  }
  return null;
}

function percentOf(step: string): number | null {
  const m = /^(\d+(?:\.\d+)?)%$/.exec(step);
  return m === null ? null : Number(m[1]);
}

export function parseBatchStep(text: string): BatchStep | null {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t) >= 1 ? Number(t) : null;
  const pct = percentOf(t);
  return pct !== null && pct > 0 && pct <= 100 ? (t as `${number}%`) : null;
}

export function stepSize(total: number, step: BatchStep): number {
  const size = typeof step === "number" ? step : Math.floor((total * (percentOf(step) as number)) / 100);
  return Math.max(1, size);
}

/** The sizes of the batches over `total` targets, in order; they sum to total. */
export function batchSizes(total: number, steps: readonly BatchStep[]): number[] {
  const problem = checkBatchSteps(steps);
  if (problem !== null) throw new Error(`batches: ${problem}`);
  const sizes: number[] = [];
  let left = total;
  for (let i = 0; left > 0; i++) {
    const size = Math.min(left, stepSize(total, steps[Math.min(i, steps.length - 1)] as BatchStep));
    sizes.push(size);
    left -= size;
  }
  return sizes;
}

/** Kubernetes' maxUnavailable from a percentage: rounded down, but a rollout needs at least 1. */
export function unavailableAllowed(total: number, pct: number): number {
  return Math.max(1, Math.floor((total * pct) / 100));
}

/** Ansible's max_fail_percentage: the batch fails only when its failures exceed the share, not equal it. */
export function batchFailed(failed: number, batchSize: number, maxFailPct: number): boolean {
  return failed * 100 > maxFailPct * batchSize;
}
