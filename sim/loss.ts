import type { Rng } from "../core/engine/index.js";

/** Decides, packet by packet, whether a link loses what it carries. */
export interface LossModel {
  lose(): boolean;
  /**
   * `n` (at most 32) packets in a row: bit k set if packet k is lost. Must draw exactly as `n`
   * calls of `lose` would (a link offers a burst this way).
   */
  loseEach?(n: number): number;
  /** The long-run fraction of packets lost. */
  readonly meanLossRate: number;
}

/**
 * Independent loss with probability p per packet. Instead of one draw per packet it draws the
 * number of packets kept before the next loss (geometric), which has the same distribution and
 * costs one draw per loss: at 1% that is a hundred times fewer.
 */
export class BernoulliLoss implements LossModel {
  private keptBeforeLoss: number;
  private readonly logKeep: number;

  constructor(
    readonly meanLossRate: number,
    private readonly rng: Rng,
  ) {
    if (!(meanLossRate >= 0 && meanLossRate <= 1)) throw new Error(`loss rate must be in [0, 1], got ${meanLossRate}`);
    this.logKeep = Math.log(1 - meanLossRate);
    this.keptBeforeLoss = this.drawRun();
  }

  lose(): boolean {
    if (this.keptBeforeLoss > 0) {
      this.keptBeforeLoss--;
      return false;
    }
    this.keptBeforeLoss = this.drawRun();
    return true;
  }

  loseEach(n: number): number {
    // Mostly the next loss is beyond the burst: one subtraction for all of it.
    if (this.keptBeforeLoss >= n) {
      this.keptBeforeLoss -= n;
      return 0;
    }
    let lost = 0;
    for (let k = 0; k < n; k++) if (this.lose()) lost |= 1 << k;
    return lost;
  }

  private drawRun(): number {
    if (this.meanLossRate <= 0) return Infinity;
    if (this.meanLossRate >= 1) return 0;
    // P(run >= k) = (1 - p)^k; 1 - u is in (0, 1], so the logarithm is finite.
    return Math.floor(Math.log(1 - this.rng.next()) / this.logKeep);
  }
}

export interface GilbertElliottParams {
  /** Probability of moving from the good to the bad state, per packet. */
  goodToBad: number;
  /** Probability of moving from the bad to the good state, per packet; mean burst = 1 / badToGood. */
  badToGood: number;
  /** Loss probability while good (usually 0). */
  lossGood: number;
  /** Loss probability while bad (usually 1). */
  lossBad: number;
}

/**
 * Two-state Markov loss: each packet is lost with the current state's probability, then the state
 * moves. With lossBad = 1 and lossGood = 0 the runs of losses are geometric with mean 1/badToGood.
 */
export class GilbertElliottLoss implements LossModel {
  readonly meanLossRate: number;
  private bad = false;

  constructor(
    readonly params: GilbertElliottParams,
    private readonly rng: Rng,
  ) {
    const piBad = params.goodToBad / (params.goodToBad + params.badToGood);
    this.meanLossRate = piBad * params.lossBad + (1 - piBad) * params.lossGood;
    // Start in the stationary distribution so short runs are not biased toward the good state.
    this.bad = rng.next() < piBad;
  }

  lose(): boolean {
    const p = this.params;
    const lost = this.bad ? this.rng.next() < p.lossBad : p.lossGood > 0 && this.rng.next() < p.lossGood;
    if (this.bad) {
      if (this.rng.next() < p.badToGood) this.bad = false;
    } else if (this.rng.next() < p.goodToBad) {
      this.bad = true;
    }
    return lost;
  }
}

/** Gilbert-Elliott parameters for a mean loss rate and mean burst length (lossBad 1, lossGood 0). */
export function burstParams(lossRate: number, meanBurstPackets: number): GilbertElliottParams {
  if (!(lossRate > 0 && lossRate < 1)) throw new Error(`burst loss rate must be in (0, 1), got ${lossRate}`);
  if (!(meanBurstPackets >= 1)) throw new Error(`mean burst must be at least 1 packet, got ${meanBurstPackets}`);
  const badToGood = 1 / meanBurstPackets;
  const goodToBad = (lossRate * badToGood) / (1 - lossRate);
  if (goodToBad > 1) throw new Error(`loss rate ${lossRate} with mean burst ${meanBurstPackets} is not reachable`);
  return { goodToBad, badToGood, lossGood: 0, lossBad: 1 };
}

export type LossSpec =
  | { model: "bernoulli"; rate: number }
  | { model: "gilbert-elliott"; params: GilbertElliottParams };

export function makeLossModel(spec: LossSpec, rng: Rng): LossModel {
  return spec.model === "bernoulli" ? new BernoulliLoss(spec.rate, rng) : new GilbertElliottLoss(spec.params, rng);
}
