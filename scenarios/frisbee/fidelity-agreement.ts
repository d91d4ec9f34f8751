/** The figures `bench fidelity` compares, of the real run and of a model. */
export interface Measures {
  runtimeSecMean: number;
  runtimeSecMax: number;
  blocksSent: number;
  /** Blocks sent beyond one copy of the image, as a share of the image (percent). */
  duplicatePct: number;
  requests: number;
  prequests: number;
  /** Blocks the server sent per second it had work: its pacing, if it kept it. */
  serverBlocksPerSec: number;
}

export const MEASURES: readonly (keyof Measures)[] = ["runtimeSecMean", "runtimeSecMax", "blocksSent", "duplicatePct", "requests", "prequests", "serverBlocksPerSec"];

/** How far a model's figure may be from the real one and still agree (issue 16: 15%). */
export const AGREEMENT_PCT = 15;

/**
 * The absolute difference that agrees whatever the percentage, for measures whose real figure is
 * small beside one run's chance: the resent share one point of the image (at 1% loss one real run
 * resends 1% +- 0.16 points by the binomial spread alone, so 15% of it is inside the noise), and
 * requests one per client (a client asks a whole number of times; 4 against 4.25 is agreement).
 * Times and blocks sent have none: they are large and the 15% holds as it is.
 */
export function agreementFloor(measure: keyof Measures, clients: number): number {
  if (measure === "duplicatePct") return 1;
  if (measure === "requests" || measure === "prequests") return clients;
  return 0;
}

/**
 * Whether a model's figure agrees with the real one: within AGREEMENT_PCT of it or within the
 * measure's floor. Null for the server's kept rate: it is what the calibrated model is set from,
 * and what the nominal models assume, not something either predicts.
 */
export function agrees(measure: keyof Measures, real: number, sim: number, clients: number): boolean | null {
  if (measure === "serverBlocksPerSec") return null;
  const diff = Math.abs(sim - real);
  return diff <= (Math.abs(real) * AGREEMENT_PCT) / 100 + 1e-9 || diff <= agreementFloor(measure, clients) + 1e-9;
}

/** (sim - real) / real in percent, rounded to 0.1; 0 when both are 0, null when only the real figure is. */
export function errorPct(real: number, sim: number): number | null {
  if (real === 0) return sim === 0 ? 0 : null;
  return Math.round(((sim - real) / real) * 1000) / 10;
}

/** The measures of one run, from what its server and clients counted. */
export function measures(runtimesSec: readonly number[], blocksSent: number, requests: number, prequests: number, busySec: number, imageBlocks: number): Measures {
  const sum = runtimesSec.reduce((a, b) => a + b, 0);
  return {
    runtimeSecMean: runtimesSec.length === 0 ? 0 : sum / runtimesSec.length,
    runtimeSecMax: runtimesSec.length === 0 ? 0 : Math.max(...runtimesSec),
    blocksSent,
    duplicatePct: ((blocksSent - imageBlocks) / imageBlocks) * 100,
    requests,
    prequests,
    serverBlocksPerSec: busySec > 0 ? blocksSent / busySec : 0,
  };
}

/** Each measure's mean over runs, rounded to 0.001. */
export function meanMeasures(all: readonly Measures[]): Measures {
  const out = {} as Measures;
  for (const k of MEASURES) out[k] = round(all.reduce((a, m) => a + m[k], 0) / all.length);
  return out;
}

export const round = (v: number): number => Math.round(v * 1000) / 1000;
