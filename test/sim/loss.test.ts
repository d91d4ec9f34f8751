import { describe, expect, it } from "vitest";
import { createRng } from "../../core/engine/rng.js";
import { BernoulliLoss, burstParams, GilbertElliottLoss, makeLossModel, type LossModel } from "../../sim/loss.js";

interface Measured {
  lossRate: number;
  bursts: number;
  meanBurstPackets: number;
}

/** Runs a loss model over `packets` packets and measures its loss rate and runs of consecutive losses. */
function measure(model: LossModel, packets: number): Measured {
  let lost = 0;
  let bursts = 0;
  let previous = false;
  for (let i = 0; i < packets; i++) {
    const now = model.lose();
    if (now) lost++;
    if (now && !previous) bursts++;
    previous = now;
  }
  return { lossRate: lost / packets, bursts, meanBurstPackets: lost / bursts };
}

describe("BernoulliLoss", () => {
  it("loses a measured fraction of 100,000 packets within five binomial sigmas of its rate", () => {
    for (const rate of [0.001, 0.05, 0.5]) {
      const n = 100_000;
      const { lossRate } = measure(new BernoulliLoss(rate, createRng(`bernoulli-${rate}`)), n);
      expect(Math.abs(lossRate - rate)).toBeLessThan(5 * Math.sqrt((rate * (1 - rate)) / n));
    }
  });

  it("loses nothing at rate 0 and everything at rate 1", () => {
    expect(measure(new BernoulliLoss(0, createRng(1)), 10_000).lossRate).toBe(0);
    expect(measure(new BernoulliLoss(1, createRng(1)), 10_000).lossRate).toBe(1);
  });

  it("has geometric bursts of mean 1/(1-p), as independent losses do", () => {
    const n = 200_000;
    const p = 0.2;
    const { bursts, meanBurstPackets } = measure(new BernoulliLoss(p, createRng("bern-bursts")), n);
    // Burst length is geometric: mean 1/(1-p) = 1.25, variance p/(1-p)^2 = 0.3125.
    expect(Math.abs(meanBurstPackets - 1.25)).toBeLessThan((5 * Math.sqrt(0.3125)) / Math.sqrt(bursts));
  });
});

describe("burstParams", () => {
  it("turns a loss rate and mean burst into Gilbert-Elliott transition probabilities", () => {
    // badToGood = 1/4; goodToBad solves pi_bad = g/(g+b) = 0.1, so g = 0.1 * 0.25 / 0.9.
    const params = burstParams(0.1, 4);
    expect(params.badToGood).toBe(0.25);
    expect(params.goodToBad).toBeCloseTo(0.025 / 0.9, 15);
    expect([params.lossGood, params.lossBad]).toEqual([0, 1]);
    expect(new GilbertElliottLoss(params, createRng(1)).meanLossRate).toBeCloseTo(0.1, 12);
  });

  it("rejects a rate outside (0, 1), a burst under one packet, and an unreachable pair", () => {
    expect(() => burstParams(0, 4)).toThrow(/rate/);
    expect(() => burstParams(1, 4)).toThrow(/rate/);
    expect(() => burstParams(0.1, 0.5)).toThrow(/burst/);
    // 0.9 loss with bursts of 1 would need goodToBad = 9.
    expect(() => burstParams(0.9, 1)).toThrow(/not reachable/);
  });
});

describe("GilbertElliottLoss", () => {
  const cases = [
    { rate: 0.1, meanBurst: 4 },
    { rate: 0.02, meanBurst: 10 },
    { rate: 0.3, meanBurst: 1.5 },
  ];

  for (const { rate, meanBurst } of cases) {
    it(`measures loss ${rate} within five sigmas over 200,000 packets, with mean bursts of ${meanBurst}`, () => {
      const n = 200_000;
      const params = burstParams(rate, meanBurst);
      const measured = measure(new GilbertElliottLoss(params, createRng(`ge-${rate}-${meanBurst}`)), n);
      // Losses are a two-state Markov chain with second eigenvalue lambda = 1 - g - b; correlation
      // inflates the binomial variance of the mean by (1 + lambda) / (1 - lambda).
      const lambda = 1 - params.goodToBad - params.badToGood;
      const rateSd = Math.sqrt(((rate * (1 - rate)) / n) * ((1 + lambda) / (1 - lambda)));
      expect(Math.abs(measured.lossRate - rate)).toBeLessThan(5 * rateSd);
      // A burst lasts while the chain stays bad: geometric with mean 1/b and variance (1-b)/b^2.
      const b = params.badToGood;
      const burstSd = Math.sqrt(1 - b) / b;
      expect(Math.abs(measured.meanBurstPackets - meanBurst)).toBeLessThan((5 * burstSd) / Math.sqrt(measured.bursts));
    });
  }

  it("loses at the stationary rate when the bad state only sometimes loses", () => {
    // pi_bad = 0.05 / (0.05 + 0.2) = 0.2; loss = 0.2 * 0.5 + 0.8 * 0.01 = 0.108.
    const params = { goodToBad: 0.05, badToGood: 0.2, lossGood: 0.01, lossBad: 0.5 };
    const model = new GilbertElliottLoss(params, createRng("ge-partial"));
    expect(model.meanLossRate).toBeCloseTo(0.108, 12);
    const n = 200_000;
    // A generous bound: the state's correlation (lambda = 0.75) inflates the variance at most 7-fold.
    const sd = Math.sqrt(((0.108 * 0.892) / n) * 7);
    expect(Math.abs(measure(model, n).lossRate - 0.108)).toBeLessThan(5 * sd);
  });

  it("repeats the same losses for the same seed", () => {
    const run = (): Measured => measure(new GilbertElliottLoss(burstParams(0.1, 3), createRng("same")), 5_000);
    expect(run()).toEqual(run());
  });
});

describe("makeLossModel", () => {
  it("builds the model its spec names", () => {
    expect(makeLossModel({ model: "bernoulli", rate: 0.2 }, createRng(1))).toBeInstanceOf(BernoulliLoss);
    const ge = makeLossModel({ model: "gilbert-elliott", params: burstParams(0.2, 2) }, createRng(1));
    expect(ge).toBeInstanceOf(GilbertElliottLoss);
    expect(ge.meanLossRate).toBeCloseTo(0.2, 12);
  });
});
