/** A summary of measured durations in seconds; percentiles are within 1% (log-scale buckets). */
export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  max: number;
}

/** Smallest duration told apart from zero, and the bucket growth: 1 ms to 10^7 s in 1% steps. */
const FLOOR_SEC = 1e-3;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
export const SAMPLE_BUCKETS = 1 + Math.ceil(Math.log(1e7 / FLOOR_SEC) / LOG_GROWTH);

/**
 * Constant memory however many values arrive (a week of a fast monitor measures tens of millions):
 * exact count, mean and max; p50 and p95 from log-scale buckets, reported as the bucket's upper edge.
 */
export class Samples {
  private readonly buckets = new Float64Array(SAMPLE_BUCKETS);
  private count = 0;
  private sum = 0;
  private max = 0;

  add(value: number): void {
    this.count++;
    this.sum += value;
    if (value > this.max) this.max = value;
    const i = value < FLOOR_SEC ? 0 : Math.min(SAMPLE_BUCKETS - 1, 1 + Math.floor(Math.log(value / FLOOR_SEC) / LOG_GROWTH));
    this.buckets[i] = (this.buckets[i] as number) + 1;
  }

  summary(digits = 1): Summary {
    const n = this.count;
    const r = (x: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
    if (n === 0) return { count: 0, mean: 0, p50: 0, p95: 0, max: 0 };
    return { count: n, mean: r(this.sum / n), p50: r(this.quantile(0.5)), p95: r(this.quantile(0.95)), max: r(this.max) };
  }

  private quantile(q: number): number {
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < SAMPLE_BUCKETS; i++) {
      seen += this.buckets[i] as number;
      if (seen >= rank) return i === 0 ? 0 : Math.min(this.max, FLOOR_SEC * GROWTH ** i);
    }
    return this.max;
  }
}
