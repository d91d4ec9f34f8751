import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRng } from "../../../core/engine/rng.js";
import { BACKOFF_SHAPES, backoff, backoffDelayUs, backoffMaxUs, backoffWithJitterUs, badPool, checkBackoff, goodPool, type Backoff } from "../../../core/monitor/index.js";

const SEC = 1_000_000;

describe("backoff shapes", () => {
  it("reproduces the deployed good pool: min(3600 s, 2 x successes x 600 s)", () => {
    const b = goodPool().passBackoff;
    for (const n of [1, 2, 3, 4, 10]) expect(backoffDelayUs(b, n)).toBe(Math.min(3_600, 2 * n * 600) * SEC);
  });

  it("reproduces the deployed bad pool: min(12 h, failures^2 x 300 s)", () => {
    const b = badPool().failBackoff;
    for (const n of [1, 2, 5, 12, 13, 100]) expect(backoffDelayUs(b, n)).toBe(Math.min(12 * 3_600, n * n * 300) * SEC);
  });

  it("expresses an additive backoff capped at one hour, and Kubernetes' 10 s doubling to 300 s", () => {
    const additive = backoff("additive", { baseUs: 60 * SEC, stepUs: 300 * SEC, capUs: 3_600 * SEC });
    expect([0, 1, 2, 20].map((n) => backoffDelayUs(additive, n) / SEC)).toEqual([60, 360, 660, 3_600]);
    const k8s = backoff("exponential", { stepUs: 10 * SEC, factor: 2, capUs: 300 * SEC });
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelayUs(k8s, n) / SEC)).toEqual([10, 20, 40, 80, 160, 300, 300]);
  });

  it("stays finite and capped for huge counts", () => {
    const b = backoff("exponential", { stepUs: SEC, factor: 1000, capUs: 7 * SEC });
    expect(backoffDelayUs(b, 4_000_000_000)).toBe(7 * SEC);
  });

  it("keeps growing past 1,000 counts with a factor just above 1, reaches its cap and stays there", () => {
    // 1.01^999 x 1 s is about 5.8 h: an exponent stopped at 1,000 would hold it there, far below 30 days.
    const b = backoff("exponential", { stepUs: SEC, factor: 1.01, capUs: 30 * 86_400 * SEC });
    const counts = [999, 1_000, 1_001, 1_002, 1_200, 1_400, 1_499, 1_500, 1_501, 2_000, 65_535, 2 ** 31, Number.MAX_SAFE_INTEGER];
    const delays = counts.map((n) => backoffDelayUs(b, n));
    for (let i = 1; i < delays.length; i++) expect(delays[i]!).toBeGreaterThanOrEqual(delays[i - 1]!);
    expect(delays[2]!).toBeGreaterThan(delays[1]!);
    expect(backoffDelayUs(b, 1_499)).toBe(b.capUs);
    expect(backoffDelayUs(b, 1_480)).toBeLessThan(b.capUs);
    for (const n of counts.slice(7)) expect(backoffDelayUs(b, n)).toBe(b.capUs);
    // A factor of 1 is a constant step, however large the count.
    const flat = backoff("exponential", { baseUs: 3, stepUs: 5, factor: 1, capUs: 100 });
    expect([1, 1_001, 2 ** 31, Infinity].map((n) => backoffDelayUs(flat, n))).toEqual([8, 8, 8, 8]);
  });

  it("stays a whole number when the growth overflows and the step is zero (0 * Infinity)", () => {
    const b = backoff("exponential", { baseUs: 0, stepUs: 0, factor: 2.0335493465839125, capUs: 0 });
    expect(backoffDelayUs(b, 1001)).toBe(0);
    expect(backoffDelayUs({ ...b, baseUs: 5, capUs: 10 }, 1001)).toBe(5);
  });

  it("adds a jitter of 0..jitterUs after the cap, never more", () => {
    const arb = fc.record({
      shape: fc.constantFrom(...BACKOFF_SHAPES),
      baseUs: fc.integer({ min: 0, max: 1e9 }),
      stepUs: fc.integer({ min: 0, max: 1e9 }),
      factor: fc.double({ min: 1, max: 10, noNaN: true }),
      capUs: fc.integer({ min: 0, max: 1e11 }),
      jitterUs: fc.integer({ min: 0, max: 1e8 }),
    });
    fc.assert(
      fc.property(arb, fc.nat(10_000), fc.nat(), (b: Backoff, count, seed) => {
        expect(checkBackoff(b)).toBeNull();
        const rng = createRng(seed);
        const d = backoffWithJitterUs(b, count, rng);
        expect(Number.isSafeInteger(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(Math.min(b.capUs, b.baseUs));
        expect(d).toBeLessThanOrEqual(b.capUs + b.jitterUs);
        expect(d).toBeLessThanOrEqual(backoffMaxUs(b));
      }),
    );
  });

  it("spreads the jitter uniformly over every whole microsecond from 0 to jitterUs", () => {
    const b = backoff("constant", { baseUs: 100, jitterUs: 3 });
    const rng = createRng(5);
    const seen = [0, 0, 0, 0];
    for (let i = 0; i < 4_000; i++) seen[backoffWithJitterUs(b, 1, rng) - 100]! += 1;
    // Each of 0, 1, 2 and 3 about a quarter of the time: both ends are reached.
    for (const n of seen) expect(n).toBeGreaterThan(850);
    const wide = backoff("quadratic", { stepUs: 300 * SEC, capUs: 12 * 3_600 * SEC, jitterUs: 120 * SEC });
    const draws = Array.from({ length: 2_000 }, () => backoffWithJitterUs(wide, 2, rng) - backoffDelayUs(wide, 2));
    const mean = draws.reduce((a, d) => a + d, 0) / draws.length;
    expect(Math.min(...draws)).toBeLessThan(SEC);
    expect(Math.max(...draws)).toBeGreaterThan(119 * SEC);
    expect(Math.abs(mean - 60 * SEC)).toBeLessThan(3 * SEC);
  });

  it("adds no jitter when jitterUs is 0, and draws nothing from the stream", () => {
    const rng = createRng(9);
    expect(backoffWithJitterUs(backoff("additive", { stepUs: 10 }), 3, rng)).toBe(30);
    expect(rng.next()).toBe(createRng(9).next());
  });

  it("gives the longest delay a backoff can ask for: a constant one's base, or else its cap, plus the jitter", () => {
    expect(backoffMaxUs(backoff("constant", { baseUs: 50, capUs: 1_000, jitterUs: 7 }))).toBe(57);
    expect(backoffMaxUs(backoff("constant", { baseUs: 5_000, capUs: 1_000, jitterUs: 7 }))).toBe(1_007);
    expect(backoffMaxUs(backoff("additive", { baseUs: 50, stepUs: 1, capUs: 1_000, jitterUs: 7 }))).toBe(1_007);
  });

  it("draws the same jitter from the same seed", () => {
    const b = goodPool().passBackoff;
    const a = [1, 2, 3].map((n) => backoffWithJitterUs(b, n, createRng(7)));
    expect([1, 2, 3].map((n) => backoffWithJitterUs(b, n, createRng(7)))).toEqual(a);
  });

  it("refuses a negative step and an unknown shape, naming the field", () => {
    expect(checkBackoff(backoff("additive", { stepUs: -1 }))).toMatch(/^stepUs:/);
    expect(checkBackoff({ ...backoff("additive", {}), shape: "cubic" as never })).toMatch(/^shape:/);
  });
});

describe("backoff: each shape at its edges", () => {
  it("a constant backoff waits its base whatever the count or step", () => {
    const b = backoff("constant", { baseUs: 100, stepUs: 5, capUs: 1_000 });
    expect([0, 1, 7].map((n) => backoffDelayUs(b, n))).toEqual([100, 100, 100]);
  });

  it("adds the base to the grown step: additive n, quadratic n^2, exponential factor^(n-1), none before the first", () => {
    const base = { baseUs: 7, stepUs: 10, capUs: 1e12 };
    expect([0, 1, 2, 3].map((n) => backoffDelayUs(backoff("additive", base), n))).toEqual([7, 17, 27, 37]);
    expect([0, 1, 2, 3].map((n) => backoffDelayUs(backoff("quadratic", base), n))).toEqual([7, 17, 47, 97]);
    expect([0, 1, 2, 3].map((n) => backoffDelayUs(backoff("exponential", { ...base, factor: 3 }), n))).toEqual([7, 17, 37, 97]);
  });

  it("rounds a fractional growth to whole microseconds", () => {
    const b = backoff("exponential", { stepUs: 3, factor: 1.5 });
    expect(backoffDelayUs(b, 2)).toBe(5);
    expect(backoffDelayUs(b, 3)).toBe(7);
  });

  it("stops at the cap exactly, and not one step before", () => {
    const b = backoff("additive", { stepUs: 10, capUs: 30 });
    expect([2, 3, 4].map((n) => backoffDelayUs(b, n))).toEqual([20, 30, 30]);
    const c = backoff("additive", { stepUs: 10, capUs: 31 });
    expect(backoffDelayUs(c, 3)).toBe(30);
    expect(backoffMaxUs(backoff("quadratic", { stepUs: 1, capUs: 40, jitterUs: 2 }))).toBe(42);
    expect(backoffMaxUs(backoff("exponential", { stepUs: 1, capUs: 40 }))).toBe(40);
  });

  it("draws a jitter of 0 or 1 when jitterUs is 1: both happen", () => {
    const rng = createRng(11);
    const seen = new Set(Array.from({ length: 64 }, () => backoffWithJitterUs(backoff("constant", { baseUs: 10, jitterUs: 1 }), 1, rng)));
    expect([...seen].sort()).toEqual([10, 11]);
  });
});
