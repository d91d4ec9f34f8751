import { ScenarioError } from "../reader.js";
import { sortedResults, type SweepReport } from "./report.js";
import { shardSeeds, showRange, WHOLE } from "./seeds.js";

/**
 * Joins the reports of a sweep's shards into the report of the whole sweep, exactly as if it had run
 * in one go. Refused, in one line naming the files: shards of different sweeps or builds, a shard
 * given twice, a shard missing, or a shard that did not finish its seeds.
 */
export function mergeReports(inputs: readonly { file: string; report: SweepReport }[]): SweepReport {
  const [head, ...rest] = inputs;
  if (head === undefined) throw new ScenarioError("sweep merge: no files given");
  const a = head.report;
  for (const { file, report: b } of rest) {
    if (b.version !== a.version) throw new ScenarioError(`${file}: run by build ${b.version}, ${head.file} by ${a.version}; fingerprints of different builds do not compare`);
    if (b.specId !== a.specId) throw new ScenarioError(`${file}: a shard of another sweep (${b.spec.file} ${b.spec.varies.join(" ")}) than ${head.file} (${a.spec.file} ${a.spec.varies.join(" ")})`);
    if (b.seeds.first !== a.seeds.first || b.seeds.last !== a.seeds.last) throw new ScenarioError(`${file}: seeds ${showRange(b.seeds)}, ${head.file} has ${showRange(a.seeds)}`);
    if (b.shard.count !== a.shard.count) throw new ScenarioError(`${file}: shard ${b.shard.index}/${b.shard.count}, ${head.file} is one of ${a.shard.count}`);
  }
  const byShard = new Map<number, string>();
  for (const { file, report } of inputs) {
    const twin = byShard.get(report.shard.index);
    if (twin !== undefined) throw new ScenarioError(`${file}: shard ${report.shard.index}/${report.shard.count} is also in ${twin}`);
    byShard.set(report.shard.index, file);
    checkComplete(file, report);
  }
  const missing = Array.from({ length: a.shard.count }, (_, i) => i + 1).filter((k) => !byShard.has(k));
  if (missing.length > 0) throw new ScenarioError(`sweep merge: shard${missing.length === 1 ? "" : "s"} ${missing.slice(0, 20).join(", ")}${missing.length > 20 ? ", ..." : ""} of ${a.shard.count} missing`);
  const reports = inputs.map((i) => i.report);
  return {
    ...a,
    shard: WHOLE,
    results: sortedResults(reports.flatMap((r) => r.results)),
    lost: reports.flatMap((r) => r.lost).sort((x, y) => x.seed - y.seed),
    nondeterministic: reports.flatMap((r) => r.nondeterministic).sort((x, y) => x.seed - y.seed),
    ranOn: `${inputs.length} shard${inputs.length === 1 ? "" : "s"}`,
    wallSeconds: Math.max(...reports.map((r) => r.wallSeconds)),
  };
}

/** Every seed of the shard has a result or a reason it was lost, and nothing else is there. */
function checkComplete(file: string, r: SweepReport): void {
  const expected = shardSeeds(r.seeds, r.shard);
  const seen = new Set<number>();
  for (const seed of [...r.results.map((x) => x.seed), ...r.lost.map((x) => x.seed)]) {
    if (seen.has(seed)) throw new ScenarioError(`${file}: seed ${seed} appears twice`);
    seen.add(seed);
  }
  const stray = [...seen].find((s) => (s - r.seeds.first) % r.shard.count !== r.shard.index - 1);
  if (stray !== undefined) throw new ScenarioError(`${file}: seed ${stray} does not belong to shard ${r.shard.index}/${r.shard.count}`);
  const absent = expected.length - seen.size;
  if (absent > 0) throw new ScenarioError(`${file}: shard ${r.shard.index}/${r.shard.count} is incomplete: ${absent} of its ${expected.length} seeds have no result (was it cancelled?)`);
}
