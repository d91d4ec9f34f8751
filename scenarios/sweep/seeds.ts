/**
 * Seed ranges and shards. A sweep runs seeds A..B (both included); `--shard K/N` runs the K-th of N
 * interleaved slices (seeds A+K-1, A+K-1+N, ...), so each slice gets a fair share of slow and fast
 * seeds, and the N slices together are exactly A..B once each.
 */
export interface SeedRange {
  readonly first: number;
  readonly last: number;
}

export interface Shard {
  /** 1-based: a Slurm array task id as is, a Kubernetes completion index plus one. */
  readonly index: number;
  readonly count: number;
}

/** Most seeds one sweep runs: each keeps a result line in memory and in the report. */
export const SWEEP_SEEDS_MAX = 1_000_000;
/** Most shards a sweep is cut into. */
export const SHARDS_MAX = 100_000;

export class SeedsError extends Error {
  override readonly name = "SeedsError";
}

export function parseSeedRange(text: string): SeedRange {
  const m = /^\s*(\d{1,16})\s*\.\.\s*(\d{1,16})\s*$/.exec(text);
  const single = /^\s*(\d{1,16})\s*$/.exec(text);
  const first = Number(m?.[1] ?? single?.[1] ?? NaN);
  const last = Number(m?.[2] ?? single?.[1] ?? NaN);
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last)) throw new SeedsError(`--seeds: expected A..B (whole numbers), like 1..1000, got "${text}"`);
  if (last < first) throw new SeedsError(`--seeds: the range runs backwards (${first} > ${last})`);
  if (last - first + 1 > SWEEP_SEEDS_MAX) throw new SeedsError(`--seeds: ${last - first + 1} seeds is more than the limit of ${SWEEP_SEEDS_MAX}; split it into several sweeps or shards`);
  return { first, last };
}

export function parseShard(text: string): Shard {
  const m = /^\s*(\d{1,6})\s*\/\s*(\d{1,6})\s*$/.exec(text);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (m === null || count < 1 || count > SHARDS_MAX) throw new SeedsError(`--shard: expected K/N with N from 1 to ${SHARDS_MAX}, like 3/10, got "${text}"`);
  if (index < 1 || index > count) throw new SeedsError(`--shard: K must be from 1 to ${count}, got ${index} (a 0-based index such as JOB_COMPLETION_INDEX needs +1)`);
  return { index, count };
}

export const WHOLE: Shard = { index: 1, count: 1 };

/** The seeds of one shard, in order. */
export function shardSeeds(range: SeedRange, shard: Shard): number[] {
  const out: number[] = [];
  for (let s = range.first + shard.index - 1; s <= range.last; s += shard.count) out.push(s);
  return out;
}

export function showRange(range: SeedRange): string {
  return range.first === range.last ? String(range.first) : `${range.first}..${range.last}`;
}
