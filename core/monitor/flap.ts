/**
 * Nagios-style flap detection over a bit history of test results per entry. Of the last H results
 * (H - 1 transitions), each transition counts with a weight rising linearly from `weightOldest` to
 * `weightNewest`; the percent state change is the weighted count x 100 / (H - 1). Flapping starts
 * at or above `highPct` and stops at or below `lowPct`. Nagios ships H = 21, 0.75..1.25, 5 / 20;
 * Icinga 2 uses 20 results, 0.8..1.18, 25 / 30.
 */
export interface FlapConfig {
  readonly historyStates: number;
  readonly weightOldest: number;
  readonly weightNewest: number;
  readonly lowPct: number;
  readonly highPct: number;
  /** A node that was flapping must pass this many tests in a row to enter a pool that requires it. */
  readonly passesToReturn: number;
}

export const NAGIOS_FLAP: FlapConfig = {
  historyStates: 21,
  weightOldest: 0.75,
  weightNewest: 1.25,
  lowPct: 5,
  highPct: 20,
  passesToReturn: 5,
};

/** Bits of a Uint32 history; 30 keeps every shift and mask in positive 32-bit integers. */
export const FLAP_HISTORY_STATES_MAX = 30;
export const PASSES_TO_RETURN_MAX = 1_000;

export function checkFlapConfig(f: FlapConfig): string | null {
  if (!Number.isInteger(f.historyStates) || f.historyStates < 3 || f.historyStates > FLAP_HISTORY_STATES_MAX) {
    return `historyStates: expected a whole number from 3 to ${FLAP_HISTORY_STATES_MAX}, got ${f.historyStates}`;
  }
  if (!(f.weightOldest > 0) || !(f.weightNewest > 0) || !Number.isFinite(f.weightOldest) || !Number.isFinite(f.weightNewest)) {
    return `weights: expected positive numbers, got ${f.weightOldest} and ${f.weightNewest}`;
  }
  if (!(f.lowPct >= 0 && f.lowPct <= f.highPct && f.highPct <= 100 * Math.max(f.weightOldest, f.weightNewest))) {
    return `thresholds: expected 0 <= lowPct <= highPct, got ${f.lowPct} / ${f.highPct}`;
  }
  if (f.lowPct === f.highPct) return `thresholds: lowPct and highPct must differ, or the flag would toggle on every result`;
  if (!Number.isInteger(f.passesToReturn) || f.passesToReturn < 1 || f.passesToReturn > PASSES_TO_RETURN_MAX) {
    return `passesToReturn: expected a whole number from 1 to ${PASSES_TO_RETURN_MAX}, got ${f.passesToReturn}`;
  }
  return null;
}

/** The weight of each transition, index 0 the newest. */
export function transitionWeights(f: FlapConfig): Float64Array {
  const transitions = f.historyStates - 1;
  const weights = new Float64Array(transitions);
  for (let j = 0; j < transitions; j++) {
    weights[j] = f.weightNewest - ((f.weightNewest - f.weightOldest) * j) / (transitions - 1);
  }
  return weights;
}

/**
 * Percent state change of a history: bit 0 is the newest result (1 = failed), `length` results are
 * held. Transitions not yet seen count as none, so a new node does not look flapping.
 */
export function percentStateChange(history: number, length: number, weights: Float64Array): number {
  if (length < 2) return 0;
  let changes = (history ^ (history >>> 1)) & ((1 << (length - 1)) - 1);
  let sum = 0;
  let j = 0;
  while (changes !== 0) {
    if ((changes & 1) !== 0) sum += weights[j] as number;
    changes >>>= 1;
    j++;
  }
  return (sum * 100) / weights.length;
}

/** The history after one more result. */
export function pushResult(history: number, failed: boolean, states: number): number {
  return ((history << 1) | (failed ? 1 : 0)) & ((1 << states) - 1);
}
