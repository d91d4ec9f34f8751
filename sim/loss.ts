import type { Rng } from "../core/engine/index.js";

/** Decides, packet by packet, whether a link loses what it carries. */
export interface LossModel {
  lose(): boolean;
  /** The long-run fraction of packets lost. */
  readonly meanLossRate: number;
}

export class BernoulliLoss implements LossModel {
  constructor(
    readonly meanLossRate: number,
    private readonly rng: Rng,
  ) {}

  lose(): boolean {
    return this.rng.next() < this.meanLossRate;
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
