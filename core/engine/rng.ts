import seedrandom from "seedrandom";

/**
 * The only source of randomness in the system. Each stream is a pure function of the root seed and
 * the path of labels that forked it, so adding a host or a subsystem never shifts another's draws.
 */
export interface Rng {
  /** The seed path of this stream, e.g. "42/net/link:client3.up". */
  readonly seed: string;
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** Exponentially distributed with the given mean. */
  exponential(mean: number): number;
  /** A child stream, independent of this one's draws so far. */
  fork(label: string): Rng;
}

class AleaRng implements Rng {
  readonly seed: string;
  private readonly prng: () => number;

  constructor(seed: string) {
    this.seed = seed;
    this.prng = seedrandom.alea(seed);
  }

  next(): number {
    return this.prng();
  }

  int(n: number): number {
    return Math.floor(this.prng() * n);
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.prng();
  }

  chance(p: number): boolean {
    return p > 0 && this.prng() < p;
  }

  exponential(mean: number): number {
    // 1 - u is in (0, 1], so the logarithm is finite.
    return -mean * Math.log(1 - this.prng());
  }

  fork(label: string): Rng {
    return new AleaRng(`${this.seed}/${label}`);
  }
}

export function createRng(seed: number | string): Rng {
  return new AleaRng(String(seed));
}
