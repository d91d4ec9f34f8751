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
