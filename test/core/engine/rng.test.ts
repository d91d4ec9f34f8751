import { describe, expect, it } from "vitest";
import { createRng, type Rng } from "../../../core/engine/rng.js";

function draws(rng: Rng, count: number): number[] {
  return Array.from({ length: count }, () => rng.next());
}

/** Five standard deviations of the mean of `n` draws with standard deviation `sd`. */
function fiveSigmaOfMean(sd: number, n: number): number {
  return (5 * sd) / Math.sqrt(n);
}

describe("Rng", () => {
  it("gives the same stream for the same seed, whether number or string", () => {
    expect(draws(createRng(42), 100)).toEqual(draws(createRng(42), 100));
    expect(draws(createRng(42), 100)).toEqual(draws(createRng("42"), 100));
  });

  it("gives different streams for different seeds", () => {
    expect(draws(createRng(1), 10)).not.toEqual(draws(createRng(2), 10));
  });

  it("forks a child whose stream does not depend on how many draws the parent made", () => {
    const fresh = createRng(7);
    const used = createRng(7);
    draws(used, 1_000);
    expect(draws(fresh.fork("disk"), 50)).toEqual(draws(used.fork("disk"), 50));
  });

  it("forks different streams for different labels, and neither repeats the parent", () => {
    const root = createRng(7);
    const a = draws(root.fork("a"), 20);
    expect(a).not.toEqual(draws(root.fork("b"), 20));
    expect(a).not.toEqual(draws(createRng(7), 20));
  });

  it("names a forked stream by its seed path", () => {
    expect(createRng(42).fork("net").fork("link:client3.up").seed).toBe("42/net/link:client3.up");
  });

  it("leaves the parent's stream untouched by forking", () => {
    const forked = createRng(9);
    forked.fork("x");
    expect(draws(forked, 20)).toEqual(draws(createRng(9), 20));
  });

  it("draws next() uniformly in [0, 1) with mean 1/2", () => {
    const rng = createRng("uniform");
    const n = 100_000;
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const x = rng.next();
      if (!(x >= 0 && x < 1)) outside++;
      sum += x;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(fiveSigmaOfMean(Math.sqrt(1 / 12), n));
  });

  it("draws int(n) from every value in [0, n) about equally often", () => {
    const rng = createRng("int");
    const n = 10;
    const drawsCount = 100_000;
    const counts = new Array<number>(n).fill(0);
    let outside = 0;
    for (let i = 0; i < drawsCount; i++) {
      const k = rng.int(n);
      if (Number.isInteger(k) && k >= 0 && k < n) counts[k]!++;
      else outside++;
    }
    expect(outside).toBe(0);
    // Each count is binomial(drawsCount, 1/n).
    const mean = drawsCount / n;
    const sd = Math.sqrt(drawsCount * (1 / n) * (1 - 1 / n));
    for (const count of counts) expect(Math.abs(count - mean)).toBeLessThan(5 * sd);
  });

  it("draws uniform(lo, hi) inside the interval", () => {
    const rng = createRng("range");
    let outside = 0;
    let below = 0;
    for (let i = 0; i < 10_000; i++) {
      const x = rng.uniform(-3, 5);
      if (!(x >= -3 && x < 5)) outside++;
      if (x < 1) below++;
    }
    expect(outside).toBe(0);
    // Half the interval lies below 1: binomial(10000, 1/2) has sd 50.
    expect(Math.abs(below - 5_000)).toBeLessThan(250);
  });

  it("comes up true with chance(p) at rate p within five binomial sigmas", () => {
    const rng = createRng("chance");
    const n = 100_000;
    for (const p of [0.01, 0.3, 0.9]) {
      let hits = 0;
      for (let i = 0; i < n; i++) if (rng.chance(p)) hits++;
      expect(Math.abs(hits - n * p)).toBeLessThan(5 * Math.sqrt(n * p * (1 - p)));
    }
  });

  it("never comes up true with chance(0) and always with chance(1)", () => {
    const rng = createRng("edges");
    let wrong = 0;
    for (let i = 0; i < 10_000; i++) if (rng.chance(0) || !rng.chance(1)) wrong++;
    expect(wrong).toBe(0);
  });

  it("draws exponential(mean) with that mean and standard deviation, and never a negative or infinite value", () => {
    const rng = createRng("exp");
    const n = 100_000;
    const mean = 250;
    let sum = 0;
    let sumSquares = 0;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const x = rng.exponential(mean);
      if (!(x >= 0 && Number.isFinite(x))) outside++;
      sum += x;
      sumSquares += x * x;
    }
    expect(outside).toBe(0);
    const measured = sum / n;
    expect(Math.abs(measured - mean)).toBeLessThan(fiveSigmaOfMean(mean, n));
    const sd = Math.sqrt(sumSquares / n - measured * measured);
    expect(Math.abs(sd - mean) / mean).toBeLessThan(0.05);
  });
});
