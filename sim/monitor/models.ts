import type { Micros } from "../../core/engine/time.js";
import type { Rng } from "../../core/engine/rng.js";

/**
 * How simulated nodes answer the monitor's tests, held in typed arrays: up or down is a pure
 * function of the node and the time, evaluated only when a test starts, so a week of 100,000 nodes
 * costs nothing between tests.
 */
export const KIND_STABLE = 0;
/** Dies at `dieUs`, repaired at `repairUs` (which may lie beyond the run). */
export const KIND_DEAD = 1;
/** Each test fails with probability `flakyFailP`, independently. */
export const KIND_FLAKY = 2;
/** Up and down in a fixed period: down for `downFraction` of it, from `phaseUs`. */
export const KIND_FLAPPING = 3;
/** Its tests never finish: each one runs into the monitor's timeout. */
export const KIND_SLOW = 4;
export const KIND_NAMES = ["stable", "dead", "flaky", "flapping", "slow"] as const;

export interface NodeMix {
  readonly deadPct: number;
  readonly flakyPct: number;
  readonly flapPct: number;
  readonly slowPct: number;
  readonly flakyFailP: number;
  /** Period of a flapping node, drawn uniformly from this range. */
  readonly flapPeriodUsMin: Micros;
  readonly flapPeriodUsMax: Micros;
  readonly flapDownFraction: number;
  /** Repair delay of a dead node, drawn uniformly from this range. */
  readonly repairUsMin: Micros;
  readonly repairUsMax: Micros;
  /** Nodes per site; a site outage takes all of them down together. */
  readonly nodesPerSite: number;
  readonly siteOutages: number;
  readonly siteOutageUsMin: Micros;
  readonly siteOutageUsMax: Micros;
  /** A test of an up node takes uniformly passUsMin..passUsMax; of a down node failUsMin..failUsMax. */
  readonly passUsMin: Micros;
  readonly passUsMax: Micros;
  readonly failUsMin: Micros;
  readonly failUsMax: Micros;
}

/** A test that never reports: the driver leaves it to the monitor's timeout. */
export const NEVER = -1;

export class NodeModels {
  readonly kind: Uint8Array;
  readonly site: Int32Array;
  private readonly a: Float64Array;
  private readonly b: Float64Array;
  private readonly c: Float64Array;
  private readonly outageStart: Float64Array;
  private readonly outageEnd: Float64Array;
  /** Outages of site s are indices siteFirst[s] .. siteFirst[s + 1] - 1, in start order. */
  private readonly siteFirst: Int32Array;
  readonly counts: number[] = [0, 0, 0, 0, 0];

  constructor(
    readonly nodes: number,
    readonly durationUs: Micros,
    private readonly mix: NodeMix,
    rng: Rng,
  ) {
    this.kind = new Uint8Array(nodes);
    this.site = new Int32Array(nodes);
    this.a = new Float64Array(nodes);
    this.b = new Float64Array(nodes);
    this.c = new Float64Array(nodes);
    const kinds = rng.fork("kinds");
    const edges = [mix.deadPct, mix.flakyPct, mix.flapPct, mix.slowPct].reduce<number[]>((acc, pct) => [...acc, (acc[acc.length - 1] ?? 0) + pct / 100], []);
    for (let n = 0; n < nodes; n++) {
      const u = kinds.next();
      const k = u < (edges[0] as number) ? KIND_DEAD : u < (edges[1] as number) ? KIND_FLAKY : u < (edges[2] as number) ? KIND_FLAPPING : u < (edges[3] as number) ? KIND_SLOW : KIND_STABLE;
      this.kind[n] = k;
      this.counts[k] = (this.counts[k] as number) + 1;
      this.site[n] = Math.floor(n / mix.nodesPerSite);
      if (k === KIND_DEAD) {
        this.a[n] = Math.floor(kinds.uniform(0, durationUs));
        this.b[n] = (this.a[n] as number) + Math.floor(kinds.uniform(mix.repairUsMin, mix.repairUsMax + 1));
      } else if (k === KIND_FLAPPING) {
        const period = Math.floor(kinds.uniform(mix.flapPeriodUsMin, mix.flapPeriodUsMax + 1));
        this.a[n] = period;
        this.b[n] = Math.floor(kinds.uniform(0, period));
        this.c[n] = Math.floor(period * mix.flapDownFraction);
      }
    }
    const sites = Math.ceil(nodes / mix.nodesPerSite);
    ({ start: this.outageStart, end: this.outageEnd, first: this.siteFirst } = outages(sites, durationUs, mix, rng.fork("outages")));
  }

  /** The start of the node's current down period, or -1 if it is up at `t` (flaky draws aside). */
  downSinceUs(n: number, t: Micros): number {
    let since = this.siteDownSinceUs(this.site[n] as number, t);
    const k = this.kind[n];
    if (k === KIND_DEAD && t >= (this.a[n] as number) && t < (this.b[n] as number)) since = since < 0 ? (this.a[n] as number) : Math.min(since, this.a[n] as number);
    else if (k === KIND_FLAPPING) {
      const period = this.a[n] as number;
      const phase = (t + (this.b[n] as number)) % period;
      if (phase < (this.c[n] as number)) {
        const start = t - phase;
        since = since < 0 ? start : Math.min(since, start);
      }
    }
    return since;
  }

  /** When the node last came back up at or before `t` after a down period of its own or its site's; -1 if never. */
  upSinceUs(n: number, t: Micros): number {
    if (this.downSinceUs(n, t) >= 0) return -1;
    let since = -1;
    const s = this.site[n] as number;
    for (let i = this.siteFirst[s] as number; i < (this.siteFirst[s + 1] as number); i++) {
      const end = this.outageEnd[i] as number;
      if (end <= t && end > since) since = end;
    }
    if (this.kind[n] === KIND_DEAD && (this.b[n] as number) <= t) since = Math.max(since, this.b[n] as number);
    return since;
  }

  /** Duration of the test `test` last drew (NEVER for one that never reports), and its result. */
  drawnUs = 0;
  drawnPassed = false;

  /** Draws one test of node `n` starting at `t` into `drawnUs` and `drawnPassed` (no allocation per test). */
  test(n: number, t: Micros, rng: Rng): void {
    const k = this.kind[n];
    if (k === KIND_SLOW) {
      this.drawnUs = NEVER;
      this.drawnPassed = false;
      return;
    }
    const up = this.downSinceUs(n, t) < 0 && !(k === KIND_FLAKY && rng.chance(this.mix.flakyFailP));
    const m = this.mix;
    this.drawnUs = up ? m.passUsMin + rng.int(m.passUsMax - m.passUsMin + 1) : m.failUsMin + rng.int(m.failUsMax - m.failUsMin + 1);
    this.drawnPassed = up;
  }

  private siteDownSinceUs(s: number, t: Micros): number {
    let since = -1;
    for (let i = this.siteFirst[s] as number; i < (this.siteFirst[s + 1] as number); i++) {
      const start = this.outageStart[i] as number;
      if (start > t) break;
      if (t < (this.outageEnd[i] as number) && (since < 0 || start < since)) since = start;
    }
    return since;
  }
}

function outages(sites: number, durationUs: Micros, mix: NodeMix, rng: Rng): { start: Float64Array; end: Float64Array; first: Int32Array } {
  const list: { site: number; start: number; end: number }[] = [];
  for (let i = 0; i < mix.siteOutages; i++) {
    const site = rng.int(sites);
    const start = Math.floor(rng.uniform(0, durationUs));
    list.push({ site, start, end: start + Math.floor(rng.uniform(mix.siteOutageUsMin, mix.siteOutageUsMax + 1)) });
  }
  list.sort((x, y) => x.site - y.site || x.start - y.start || x.end - y.end);
  const first = new Int32Array(sites + 1);
  let at = 0;
  for (let s = 0; s <= sites; s++) {
    while (at < list.length && (list[at] as { site: number }).site < s) at++;
    first[s] = at;
  }
  return { start: Float64Array.from(list, (o) => o.start), end: Float64Array.from(list, (o) => o.end), first };
}

const SEC = 1_000_000;
const HOUR = 3_600 * SEC;

/**
 * A wide-area testbed's mix, scaled to the number of nodes and days: 1% of nodes die and are
 * repaired 1-24 h later, `flakyPct`% fail a test with probability 0.3, 1% flap with a 2-12 h period,
 * 0.5% hang their tests; sites of 3 nodes, and one site outage (1-12 h) per 2,000 node-days.
 * A test of an up node takes 20-60 s (setting up a vnode), of a down one 5-30 s.
 */
export function defaultMix(nodes: number, days: number, flakyPct = 2): NodeMix {
  return {
    deadPct: 1,
    flakyPct,
    flapPct: 1,
    slowPct: 0.5,
    flakyFailP: 0.3,
    flapPeriodUsMin: 2 * HOUR,
    flapPeriodUsMax: 12 * HOUR,
    flapDownFraction: 0.5,
    repairUsMin: 1 * HOUR,
    repairUsMax: 24 * HOUR,
    nodesPerSite: 3,
    siteOutages: Math.round((nodes * days) / 2_000),
    siteOutageUsMin: 1 * HOUR,
    siteOutageUsMax: 12 * HOUR,
    passUsMin: 20 * SEC,
    passUsMax: 60 * SEC,
    failUsMin: 5 * SEC,
    failUsMax: 30 * SEC,
  };
}

/** A description of the first thing wrong with a mix, or null. */
export function checkMix(m: NodeMix): string | null {
  const pcts = [m.deadPct, m.flakyPct, m.flapPct, m.slowPct];
  if (pcts.some((p) => !(p >= 0 && p <= 100)) || pcts.reduce((a, b) => a + b, 0) > 100) return "node kind percentages must be from 0 to 100 and add up to at most 100";
  if (!(m.flakyFailP >= 0 && m.flakyFailP <= 1)) return `flakyFailP: expected a probability, got ${m.flakyFailP}`;
  if (!(m.flapDownFraction > 0 && m.flapDownFraction < 1)) return `flapDownFraction: expected a fraction in (0, 1), got ${m.flapDownFraction}`;
  if (!Number.isInteger(m.nodesPerSite) || m.nodesPerSite < 1) return `nodesPerSite: expected a whole number of at least 1, got ${m.nodesPerSite}`;
  const ranges: [string, number, number][] = [
    ["flapPeriodUs", m.flapPeriodUsMin, m.flapPeriodUsMax],
    ["repairUs", m.repairUsMin, m.repairUsMax],
    ["siteOutageUs", m.siteOutageUsMin, m.siteOutageUsMax],
    ["passUs", m.passUsMin, m.passUsMax],
    ["failUs", m.failUsMin, m.failUsMax],
  ];
  for (const [name, lo, hi] of ranges) {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo < 1 || hi < lo) return `${name}: expected a range of whole microseconds with 1 <= min <= max, got ${lo}..${hi}`;
  }
  return null;
}
