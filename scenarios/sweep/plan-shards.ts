import { ScenarioError, type Reader } from "../reader.js";
import type { FrisbeePlanOptions } from "../frisbee/plan.js";
import { decodeFrisbeeCell, decodeFrisbeeCellResult, type FrisbeeCellResult } from "./plan-jobs.js";
import { assembleRows, frisbeeCells, shardCells, type PlanRowDone } from "./plan-queue.js";
import { SHARDS_MAX, type Shard } from "./seeds.js";

/**
 * A shard of a Frisbee plan (`testbed plan frisbee --shard K/N --out FILE`): the K-th of N slices of
 * its cells with their results. `testbed sweep merge` joins the shards into the rows one run of the
 * whole plan gives: same rows, same fingerprints, same table, same store rows.
 */
export interface PlanShardFile {
  readonly format: typeof PLAN_SHARD_FORMAT;
  readonly version: string;
  readonly options: FrisbeePlanOptions;
  readonly runs: number;
  readonly shard: Shard;
  readonly cells: readonly { readonly key: string; readonly result: FrisbeeCellResult }[];
}

export const PLAN_SHARD_FORMAT = "testbed-plan-frisbee-shard-1";
/** Most runs per row, as `--runs` allows. */
const RUNS_MAX = 1_000;

/** The plan's grid, in the order `testbed plan frisbee` runs it. */
export function planGrid(o: FrisbeePlanOptions): { clients: number; loss: number }[] {
  return o.losses.flatMap((loss) => o.clients.map((clients) => ({ clients, loss })));
}

export function decodePlanShard(top: Reader): PlanShardFile {
  top.fields(["format", "version", "options", "runs", "shard", "cells"]);
  if (top.at("format").string() !== PLAN_SHARD_FORMAT) top.at("format").fail(`expected "${PLAN_SHARD_FORMAT}"`);
  const runs = top.at("runs").number(1, RUNS_MAX, true);
  const shard = top.at("shard").fields(["index", "count"]);
  const count = shard.at("count").number(1, SHARDS_MAX, true);
  // The options are checked as a worker checks a job's: through a cell of the plan.
  const cell = decodeFrisbeeCell({ options: top.at("options").value ?? null, clients: 1, loss: 0, seed: 0 } as unknown);
  if (typeof cell === "string") top.at("options").fail(cell.replace(/^payload\.options\.?/, ""));
  const options = (cell as { options: FrisbeePlanOptions }).options;
  const known = new Map(frisbeeCells(options, planGrid(options), runs).map((c) => [c.key, c]));
  const cells = top.at("cells").items().map((item) => {
    item.fields(["key", "result"]);
    const key = item.at("key").string();
    const c = known.get(key) ?? item.at("key").fail(`no such cell in this plan`);
    const result = decodeFrisbeeCellResult(item.at("result").value, c);
    if (typeof result === "string") item.at("result").fail(result);
    return { key, result: result as FrisbeeCellResult };
  });
  return { format: PLAN_SHARD_FORMAT, version: top.at("version").string(), options, runs, shard: { index: shard.at("index").number(1, count, true), count }, cells };
}

/**
 * The whole plan's rows from its shards, refused in one line naming the file when the shards are of
 * different plans or builds, repeated, missing or incomplete.
 */
export function mergePlanShards(inputs: readonly { file: string; shard: PlanShardFile }[]): { options: FrisbeePlanOptions; runs: number; rows: PlanRowDone[] } {
  const [head] = inputs;
  if (head === undefined) throw new ScenarioError("sweep merge: no files given");
  const a = head.shard;
  const same = JSON.stringify(a.options);
  const byIndex = new Map<number, string>();
  const results = new Map<string, FrisbeeCellResult>();
  const all = frisbeeCells(a.options, planGrid(a.options), a.runs);
  for (const { file, shard: b } of inputs) {
    if (b.version !== a.version) throw new ScenarioError(`${file}: run by build ${b.version}, ${head.file} by ${a.version}; fingerprints of different builds do not compare`);
    if (JSON.stringify(b.options) !== same || b.runs !== a.runs) throw new ScenarioError(`${file}: a shard of another plan than ${head.file}`);
    if (b.shard.count !== a.shard.count) throw new ScenarioError(`${file}: shard ${b.shard.index}/${b.shard.count}, ${head.file} is one of ${a.shard.count}`);
    const twin = byIndex.get(b.shard.index);
    if (twin !== undefined) throw new ScenarioError(`${file}: shard ${b.shard.index}/${b.shard.count} is also in ${twin}`);
    byIndex.set(b.shard.index, file);
    const expected = shardCells(all, b.shard).map((c) => c.key);
    const got = b.cells.map((c) => c.key);
    if (JSON.stringify([...got].sort()) !== JSON.stringify([...expected].sort())) {
      throw new ScenarioError(`${file}: shard ${b.shard.index}/${b.shard.count} holds ${got.length} cells, its slice has ${expected.length} (was it cancelled?)`);
    }
    for (const c of b.cells) results.set(c.key, c.result);
  }
  const missing = Array.from({ length: a.shard.count }, (_, i) => i + 1).filter((k) => !byIndex.has(k));
  if (missing.length > 0) throw new ScenarioError(`sweep merge: plan shard${missing.length === 1 ? "" : "s"} ${missing.slice(0, 20).join(", ")} of ${a.shard.count} missing`);
  const rows = assembleRows(all, results);
  if (rows === null) throw new ScenarioError("sweep merge: the shards do not hold every cell of the plan");
  return { options: a.options, runs: a.runs, rows };
}
