import { US_PER_DAY, type Micros } from "../engine/time.js";
import type { Rng } from "../engine/rng.js";

/**
 * How a retest delay grows with a count of consecutive results (passes or failures):
 * constant `base`, additive `base + step*n`, quadratic `base + step*n^2`, exponential
 * `base + step*factor^(n-1)`; always capped, then a uniform jitter of 0..jitterUs is added.
 * The deployed good pool is additive (2 x n x 600 s = step 1200 s, cap 1 h); the bad pool is
 * quadratic (n^2 x 300 s, cap 12 h); both with 0..120 s of jitter.
 */
export type BackoffShape = "constant" | "additive" | "quadratic" | "exponential";

export interface Backoff {
  readonly shape: BackoffShape;
  readonly baseUs: Micros;
  readonly stepUs: Micros;
  /** Growth per count, for the exponential shape; ignored by the others. */
  readonly factor: number;
  readonly capUs: Micros;
  /** The jitter added after the cap is uniform over whole microseconds 0..jitterUs. */
  readonly jitterUs: Micros;
}

/** The longest delay any backoff may ask for: 30 days, so that a due time never overflows. */
export const BACKOFF_CAP_US_MAX: Micros = 30 * US_PER_DAY;

export const BACKOFF_SHAPES: readonly BackoffShape[] = ["constant", "additive", "quadratic", "exponential"];

export function backoff(shape: BackoffShape, fields: Partial<Omit<Backoff, "shape">>): Backoff {
  return {
    shape,
    baseUs: fields.baseUs ?? 0,
    stepUs: fields.stepUs ?? 0,
    factor: fields.factor ?? 2,
    capUs: fields.capUs ?? BACKOFF_CAP_US_MAX,
    jitterUs: fields.jitterUs ?? 0,
  };
}

/** A description of what is wrong with a backoff, or null if it is usable. */
export function checkBackoff(b: Backoff): string | null {
  if (!BACKOFF_SHAPES.includes(b.shape)) return `shape: expected one of ${BACKOFF_SHAPES.join(", ")}, got "${b.shape}"`;
  for (const [name, v] of [["baseUs", b.baseUs], ["stepUs", b.stepUs], ["capUs", b.capUs], ["jitterUs", b.jitterUs]] as const) {
    if (!Number.isSafeInteger(v) || v < 0 || v > BACKOFF_CAP_US_MAX) return `${name}: expected whole microseconds from 0 to ${BACKOFF_CAP_US_MAX}, got ${v}`;
  }
  if (!Number.isFinite(b.factor) || b.factor < 1 || b.factor > 1_000) return `factor: expected a number from 1 to 1000, got ${b.factor}`;
  return null;
}

/** The capped delay before jitter, after `count` consecutive results (0 means none yet). */
export function backoffDelayUs(b: Backoff, count: number): Micros {
  let growth: number;
  switch (b.shape) {
    case "constant":
      growth = 0;
      break;
    case "additive":
      growth = count;
      break;
    case "quadratic":
      growth = count * count;
      break;
    case "exponential":
      // No cap on the exponent: a factor just above 1 needs thousands of counts to reach the cap.
      // `factor ** n` may overflow to Infinity; the cap absorbs it, and a zero step never multiplies
      // it (0 * Infinity is NaN). A factor of 1 never grows (1 ** Infinity would be NaN).
      growth = count === 0 ? 0 : b.factor === 1 ? 1 : b.factor ** (count - 1);
      break;
  }
  const raw = b.stepUs === 0 ? b.baseUs : b.baseUs + b.stepUs * growth;
  return raw >= b.capUs ? b.capUs : Math.round(raw);
}

/** The delay with its jitter drawn from `rng`: never more than capUs + jitterUs. */
export function backoffWithJitterUs(b: Backoff, count: number, rng: Rng): Micros {
  const delay = backoffDelayUs(b, count);
  return b.jitterUs > 0 ? delay + rng.int(b.jitterUs + 1) : delay;
}

/** The longest delay a backoff can ask for, jitter included: its cap (or base, if constant) plus jitter. */
export function backoffMaxUs(b: Backoff): Micros {
  return (b.shape === "constant" ? Math.min(b.capUs, b.baseUs) : b.capUs) + b.jitterUs;
}
