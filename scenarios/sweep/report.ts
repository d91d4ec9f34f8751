import { Fingerprint } from "../../core/engine/index.js";
import { isFailure, replayLine, type SeedResult, type Verdict } from "./run-seed.js";
import type { SeedRange, Shard } from "./seeds.js";
import type { SweepSpec } from "./spec.js";
import { drawVaries, parseVaries, showDrawn } from "./vary.js";

/** A seed whose job never produced a result (refused, or its workers kept dying). */
export interface LostSeed {
  readonly seed: number;
  readonly reason: string;
}

/** A seed that gave two fingerprints on two runs: the simulation is not deterministic there. */
export interface NondeterministicSeed {
  readonly seed: number;
  readonly fingerprints: readonly string[];
  readonly workers: readonly string[];
}

/**
 * Everything a sweep (or one shard of it) found: what `--out` writes and `sweep merge` reads. The
 * per-seed results are sorted by seed, so the same sweep gives the same report however it ran.
 */
export interface SweepReport {
  readonly format: typeof REPORT_FORMAT;
  /** The build that ran it: fingerprints only compare within one build. */
  readonly version: string;
  readonly specId: string;
  readonly spec: SweepSpec;
  readonly seeds: SeedRange;
  readonly shard: Shard;
  readonly results: readonly SeedResult[];
  readonly lost: readonly LostSeed[];
  readonly nondeterministic: readonly NondeterministicSeed[];
  /** Where it ran ("local, 2 threads", "redis://host:6379, 3 workers"); not part of any comparison. */
  readonly ranOn: string;
  readonly wallSeconds: number;
}

export const REPORT_FORMAT = "testbed-sweep-1";

export interface FailingSeed {
  readonly seed: number;
  readonly verdict: Verdict;
  readonly failed: readonly string[];
  /** What the seed drew, as `path=value`. */
  readonly drawn: readonly string[];
  readonly fingerprint: string;
  readonly events: number;
  readonly replay: string;
}

export interface SweepSummary {
  readonly seeds: number;
  readonly counts: Readonly<Record<Verdict, number>> & { readonly lost: number; readonly nondeterministic: number };
  /** Over every seed's (seed, verdict, fingerprint) in seed order: one value says two sweeps agree. */
  readonly fingerprint: string;
  readonly events: number;
  readonly failing: readonly FailingSeed[];
  readonly ok: boolean;
}

export function sweepFingerprint(results: readonly SeedResult[]): string {
  const f = new Fingerprint();
  for (const r of results) {
    f.mixNumber(r.seed);
    f.mixString(r.verdict);
    f.mixString(r.fingerprint);
  }
  return f.hex();
}

export function summarize(report: SweepReport): SweepSummary {
  const counts = { pass: 0, fail: 0, crash: 0, invalid: 0, lost: report.lost.length, nondeterministic: report.nondeterministic.length };
  let events = 0;
  for (const r of report.results) {
    counts[r.verdict]++;
    events += r.events;
  }
  const varies = parseVaries(report.spec.varies);
  const failing = report.results.filter(isFailure).map((r): FailingSeed => ({
    seed: r.seed,
    verdict: r.verdict,
    failed: r.failed,
    drawn: drawVaries(varies, r.seed).map(showDrawn),
    fingerprint: r.fingerprint,
    events: r.events,
    replay: replayLine(report.spec, r.seed),
  }));
  const ok = failing.length === 0 && counts.lost === 0 && counts.nondeterministic === 0;
  return { seeds: report.results.length, counts, fingerprint: sweepFingerprint(report.results), events, failing, ok };
}

/** The results in seed order, one per seed (a second result for a seed is a bug in the caller). */
export function sortedResults(results: Iterable<SeedResult>): SeedResult[] {
  const sorted = [...results].sort((a, b) => a.seed - b.seed);
  for (let i = 1; i < sorted.length; i++) {
    if ((sorted[i] as SeedResult).seed === (sorted[i - 1] as SeedResult).seed) throw new Error(`seed ${(sorted[i] as SeedResult).seed} counted twice`);
  }
  return sorted;
}
