import type { Store } from "../../real/store/index.js";
import type { SweepReport, SweepSummary } from "./report.js";
import { showRange } from "./seeds.js";

/** Failing seeds stored with a sweep's row; past this the row says how many more there were. */
export const FAILING_STORED_MAX = 10_000;

/**
 * One row for the sweep (its fingerprint over every seed, its counts) and one event per failing
 * seed with its replay line, in one transaction. A merged sweep stores exactly what one run would.
 */
export function storeSweep(store: Store, report: SweepReport, summary: SweepSummary, createdAt: string): number {
  const failing = summary.failing.slice(0, FAILING_STORED_MAX);
  return store.insertRunWithEvents(
    {
      kind: "sweep",
      scenario: report.spec.file,
      seed: showRange(report.seeds),
      fingerprint: summary.fingerprint,
      events: summary.events,
      simSeconds: Math.round(report.results.reduce((s, r) => s + r.simSeconds, 0) * 1000) / 1000,
      wallSeconds: report.wallSeconds,
      ok: summary.ok,
      results: {
        version: report.version,
        specId: report.specId,
        varies: report.spec.varies,
        seeds: summary.seeds,
        counts: summary.counts,
        failingNotStored: summary.failing.length - failing.length,
        lost: report.lost,
        nondeterministic: report.nondeterministic,
        ranOn: report.ranOn,
      },
      createdAt,
    },
    failing.map((f) => ({ timeUs: 0, host: "", kind: "sweep.failing-seed", data: { ...f } })),
  );
}
