import { mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { writeOutputFileSync } from "../../real/output/index.js";
import type { QueueUrl } from "../../real/queue/connection.js";
import type { BuildVersion } from "../../real/queue/version.js";
import { sweepLocal, sweepQueued, type SweepListener } from "./drivers.js";
import { REPORT_FORMAT, sortedResults, type SweepReport } from "./report.js";
import { shellWord, type SeedResult } from "./run-seed.js";
import { shardSeeds, type SeedRange, type Shard } from "./seeds.js";
import { shrinkSeed, SHRINK_RUNS_MAX } from "./shrink.js";
import { prepareSpec, readSweepSpec, type PreparedSpec } from "./spec.js";

export interface SweepOptions {
  readonly file: string;
  readonly seeds: SeedRange;
  readonly shard: Shard;
  readonly varies: readonly string[];
  /** Null: run in this process's threads. */
  readonly queue: QueueUrl | null;
  readonly threads: number;
  readonly version: BuildVersion;
  readonly listener?: SweepListener;
  readonly signal?: AbortSignal;
}

/** Checks the scenario and varies, runs the shard's seeds locally or through the queue, and reports. */
export async function runSweep(o: SweepOptions): Promise<{ report: SweepReport; prepared: PreparedSpec; cancelled: number }> {
  const seeds = shardSeeds(o.seeds, o.shard);
  const prepared = readSweepSpec(o.file, o.varies, seeds[0] ?? o.seeds.first);
  const run =
    o.queue === null
      ? await sweepLocal(prepared, seeds, o.threads, o.listener, o.signal)
      : await sweepQueued(prepared, seeds, { target: o.queue, version: o.version, ...(o.listener ? { listener: o.listener } : {}), ...(o.signal ? { signal: o.signal } : {}) });
  const report: SweepReport = {
    format: REPORT_FORMAT,
    version: o.version.id,
    specId: prepared.id,
    spec: prepared.spec,
    seeds: o.seeds,
    shard: o.shard,
    results: sortedResults(run.results),
    lost: [...run.lost].sort((a, b) => a.seed - b.seed),
    nondeterministic: [...run.nondeterministic].sort((a, b) => a.seed - b.seed),
    ranOn: run.ranOn,
    wallSeconds: run.wallSeconds,
  };
  return { report, prepared, cancelled: run.cancelled };
}

/** Failing seeds shrunk per sweep, fastest-failing first (fewest events: quickest to debug). */
export const SHRINK_SEEDS_MAX = 3;

export interface ShrunkFile {
  readonly seed: number;
  readonly path: string;
  readonly steps: readonly string[];
  readonly runs: number;
  readonly failed: readonly string[];
  readonly replay: string;
}

/** Shrinks the fastest-failing seeds and writes each smallest scenario to `dir` (whole or not at all, never over the scenario). */
export function shrinkFailures(report: SweepReport, dir: string, seedsMax = SHRINK_SEEDS_MAX, runsMax = SHRINK_RUNS_MAX): ShrunkFile[] {
  const prepared = prepareSpec(report.spec);
  const chosen = report.results
    .filter((r) => r.verdict === "fail" || r.verdict === "crash")
    .sort((a, b) => a.events - b.events || a.seed - b.seed)
    .slice(0, seedsMax);
  const stem = basename(report.spec.file).replace(/\.json$/i, "");
  return chosen.flatMap((failure: SeedResult): ShrunkFile[] => {
    const shrunk = shrinkSeed(prepared, failure, runsMax);
    if (shrunk === null) return [];
    const path = join(dir, `${stem}.seed${failure.seed}.json`);
    mkdirSync(dir, { recursive: true });
    writeOutputFileSync(path, `${JSON.stringify(shrunk.json, null, 2)}\n`, { what: "shrunk scenario", inputs: [report.spec.file] });
    return [{ seed: failure.seed, path, steps: shrunk.steps, runs: shrunk.runs, failed: shrunk.failed, replay: `testbed sim ${shellWord(path)} --seed ${failure.seed}` }];
  });
}
