import { describe, expect, it } from "vitest";
import { NAGIOS_FLAP, checkFlapConfig, percentStateChange, pushResult, transitionWeights } from "../../../core/monitor/index.js";

function historyOf(results: readonly boolean[], states = 21): { history: number; length: number } {
  let history = 0;
  for (const failed of results) history = pushResult(history, failed, states);
  return { history, length: Math.min(results.length, states) };
}

describe("flap detection (Nagios percent state change)", () => {
  const weights = transitionWeights(NAGIOS_FLAP);

  it("weights 20 transitions from 0.75 (oldest) to 1.25 (newest)", () => {
    expect(weights.length).toBe(20);
    expect(weights[0]).toBeCloseTo(1.25);
    expect(weights[19]).toBeCloseTo(0.75);
  });

  it("gives 0% for a steady node and 100% for one that alternates over all 21 results", () => {
    const steady = historyOf(Array(21).fill(false));
    expect(percentStateChange(steady.history, steady.length, weights)).toBe(0);
    const alternating = historyOf(Array.from({ length: 21 }, (_, i) => i % 2 === 0));
    expect(percentStateChange(alternating.history, alternating.length, weights)).toBeCloseTo(100);
  });

  it("counts a recent change more than an old one", () => {
    const recent = historyOf([...Array(20).fill(false), true]);
    const old = historyOf([true, ...Array(20).fill(false)]);
    expect(percentStateChange(recent.history, recent.length, weights)).toBeCloseTo((1.25 * 100) / 20);
    expect(percentStateChange(old.history, old.length, weights)).toBeCloseTo((0.75 * 100) / 20);
  });

  it("does not call a new node flapping from its first two results", () => {
    const young = historyOf([false, true]);
    expect(percentStateChange(young.history, young.length, weights)).toBeLessThan(NAGIOS_FLAP.highPct);
  });

  it("accepts Icinga 2's settings and refuses equal thresholds", () => {
    expect(checkFlapConfig({ historyStates: 20, weightOldest: 0.8, weightNewest: 1.18, lowPct: 25, highPct: 30, passesToReturn: 3 })).toBeNull();
    expect(checkFlapConfig({ ...NAGIOS_FLAP, lowPct: 20 })).toMatch(/thresholds/);
    expect(checkFlapConfig({ ...NAGIOS_FLAP, historyStates: 40 })).toMatch(/^historyStates/);
  });
});

describe("flap detection: its arithmetic", () => {
  it("spreads the weights evenly from newest to oldest", () => {
    expect([...transitionWeights({ ...NAGIOS_FLAP, historyStates: 3, weightOldest: 0.5, weightNewest: 1.5 })]).toEqual([1.5, 0.5]);
    expect([...transitionWeights({ ...NAGIOS_FLAP, historyStates: 4, weightOldest: 1, weightNewest: 2 })]).toEqual([2, 1.5, 1]);
    const w = transitionWeights(NAGIOS_FLAP);
    expect(w[1]).toBeCloseTo(1.25 - 0.5 / 19, 12);
    expect(w[19]).toBeCloseTo(0.75, 12);
  });

  it("counts only the transitions between the results held, none for fewer than two", () => {
    const w = new Float64Array([1, 1, 1, 1]);
    expect(percentStateChange(0b1, 1, w)).toBe(0);
    expect(percentStateChange(0b1, 0, w)).toBe(0);
    // Two results, fail then pass (bit 0 newest): one transition of four possible.
    expect(percentStateChange(0b10, 2, w)).toBe(25);
    // Bits beyond the results held are not transitions.
    expect(percentStateChange(0b100, 2, w)).toBe(0);
    expect(percentStateChange(0b01010, 5, w)).toBe(100);
    expect(percentStateChange(0b01010, 4, w)).toBe(75);
    expect(percentStateChange(0b11000, 5, new Float64Array([1, 2, 3, 4]))).toBe((3 * 100) / 4);
  });

  it("keeps only the last `states` results, newest in bit 0", () => {
    expect(pushResult(0b101, true, 3)).toBe(0b011);
    expect(pushResult(0b101, false, 3)).toBe(0b010);
    expect(pushResult(0, true, 21)).toBe(1);
    let h = 0;
    for (let i = 0; i < 40; i++) h = pushResult(h, true, 30);
    expect(h).toBe(2 ** 30 - 1);
  });
});
