import { ScenarioError, type Reader } from "../reader.js";
import type { FrisbeePlanOptions } from "../frisbee/plan.js";
import type { SwapPlanOptions, SwapPlanRow } from "../../sim/swap/plan.js";
import type { FrisbeeCellResult, SwapCellResult } from "./plan-jobs.js";
import { assembleRows, FRISBEE_PLAN, PLAN_CELLS_MAX, shardCells, SWAP_PLAN, swapRows, type KeyedCell, type PlanKind, type PlanRowDone } from "./plan-queue.js";
import { SHARDS_MAX, type Shard } from "./seeds.js";

/**
 * A shard of a plan (`testbed plan frisbee|swap --shard K/N --out FILE`): the K-th of N slices of
 * its cells with their results. `testbed sweep merge` joins the shards into the rows one run of the
 * whole plan gives: same rows, same fingerprints, same table, same store rows.
 */
export interface PlanShardOf<F extends string, O, R> {
  readonly format: F;
  readonly version: string;
  readonly options: O;
  /** Runs per row (1 for a swap plan). */
  readonly runs: number;
  readonly shard: Shard;
  readonly cells: readonly { readonly key: string; readonly result: R }[];
}

export const PLAN_SHARD_FORMAT = "testbed-plan-frisbee-shard-1";
export const SWAP_SHARD_FORMAT = "testbed-plan-swap-shard-1";
export type FrisbeeShardFile = PlanShardOf<typeof PLAN_SHARD_FORMAT, FrisbeePlanOptions, FrisbeeCellResult>;
export type SwapShardFile = PlanShardOf<typeof SWAP_SHARD_FORMAT, SwapPlanOptions, SwapCellResult>;
export type PlanShardFile = FrisbeeShardFile | SwapShardFile;
export const PLAN_SHARD_FORMATS: readonly string[] = [PLAN_SHARD_FORMAT, SWAP_SHARD_FORMAT];

/** A whole plan joined from its shards, ready to be stored, charted and printed as a local run. */
export type MergedPlan =
  | { readonly plan: "frisbee"; readonly options: FrisbeePlanOptions; readonly runs: number; readonly rows: PlanRowDone[] }
  | { readonly plan: "swap"; readonly options: SwapPlanOptions; readonly rows: SwapPlanRow[] };

/** The shard file of a plan's slice, as `plan NAME --shard` writes it. */
export function planShardFile<O, C extends KeyedCell, R>(
  kind: PlanKind<O, C, R>,
  head: { version: string; options: O; runs: number; shard: Shard },
  cells: readonly C[],
  results: ReadonlyMap<string, R>,
): PlanShardOf<string, O, R> {
  const format = kind.name === "swap" ? SWAP_SHARD_FORMAT : PLAN_SHARD_FORMAT;
  return { format, ...head, cells: cells.map((c) => ({ key: c.key, result: results.get(c.key) as R })) };
}

/** A plan shard read back (its format already seen to be one of PLAN_SHARD_FORMATS). */
export function decodePlanShard(top: Reader): PlanShardFile {
  const format = top.at("format").string();
  if (format === PLAN_SHARD_FORMAT) return decodeWith(FRISBEE_PLAN, PLAN_SHARD_FORMAT, top);
  if (format === SWAP_SHARD_FORMAT) return decodeWith(SWAP_PLAN, SWAP_SHARD_FORMAT, top);
  return top.at("format").fail(`expected one of ${PLAN_SHARD_FORMATS.map((f) => `"${f}"`).join(", ")}`);
}

function decodeWith<F extends string, O, C extends KeyedCell, R>(kind: PlanKind<O, C, R>, format: F, top: Reader): PlanShardOf<F, O, R> {
  top.fields(["format", "version", "options", "runs", "shard", "cells"]);
  const runs = top.at("runs").number(1, kind.runsMax, true);
  const shard = top.at("shard").fields(["index", "count"]);
  const count = shard.at("count").number(1, SHARDS_MAX, true);
  const options = kind.decodeOptions(top.at("options").value ?? null);
  if (typeof options === "string") return top.at("options").fail(options);
  const size = kind.size(options, runs);
  if (size > PLAN_CELLS_MAX) top.at("options").fail(`a plan of ${size} cells, more than the limit of ${PLAN_CELLS_MAX}`);
  const known = new Map(kind.cells(options, runs).map((c) => [c.key, c]));
  const cells = top.at("cells").items().map((item) => {
    item.fields(["key", "result"]);
    const key = item.at("key").string();
    const c = known.get(key) ?? item.at("key").fail(`no such cell in this plan`);
    const result = kind.decodeResult(item.at("result").value, c);
    if (typeof result === "string") item.at("result").fail(result);
    return { key, result: result as R };
  });
  return { format, version: top.at("version").string(), options, runs, shard: { index: shard.at("index").number(1, count, true), count }, cells };
}

/**
 * The whole plan from its shards, refused in one line naming the file when the shards are of
 * different kinds of plan, different plans or builds, repeated, missing or incomplete.
 */
export function mergePlanShards(inputs: readonly { file: string; shard: PlanShardFile }[]): MergedPlan {
  const [head] = inputs;
  if (head === undefined) throw new ScenarioError("sweep merge: no files given");
  const other = inputs.find((i) => i.shard.format !== head.shard.format);
  if (other !== undefined) throw new ScenarioError(`${other.file}: a shard of a ${planName(other.shard)} plan, ${head.file} of a ${planName(head.shard)} plan; merge each plan on its own`);
  // Every shard now has the head's format, so the casts below only name what was checked.
  if (head.shard.format === SWAP_SHARD_FORMAT) {
    const { options, all, results } = joinCells(SWAP_PLAN, inputs as readonly { file: string; shard: SwapShardFile }[]);
    return { plan: "swap", options, rows: swapRows(all, results) ?? incomplete() };
  }
  const { options, runs, all, results } = joinCells(FRISBEE_PLAN, inputs as readonly { file: string; shard: FrisbeeShardFile }[]);
  return { plan: "frisbee", options, runs, rows: assembleRows(all, results) ?? incomplete() };
}

function planName(s: PlanShardFile): string {
  return s.format === SWAP_SHARD_FORMAT ? "swap" : "frisbee";
}

function incomplete(): never {
  throw new ScenarioError("sweep merge: the shards do not hold every cell of the plan");
}

/** The shards' cells, checked to be one plan's, by one build, each slice once and whole. */
function joinCells<O, C extends KeyedCell, R>(kind: PlanKind<O, C, R>, inputs: readonly { file: string; shard: PlanShardOf<string, O, R> }[]): { options: O; runs: number; all: C[]; results: Map<string, R> } {
  const { file: headFile, shard: a } = inputs[0] as { file: string; shard: PlanShardOf<string, O, R> };
  const same = JSON.stringify(a.options);
  const byIndex = new Map<number, string>();
  const results = new Map<string, R>();
  const all = kind.cells(a.options, a.runs);
  for (const { file, shard: b } of inputs) {
    if (b.version !== a.version) throw new ScenarioError(`${file}: run by build ${b.version}, ${headFile} by ${a.version}; fingerprints of different builds do not compare`);
    if (JSON.stringify(b.options) !== same || b.runs !== a.runs) throw new ScenarioError(`${file}: a shard of another plan than ${headFile}`);
    if (b.shard.count !== a.shard.count) throw new ScenarioError(`${file}: shard ${b.shard.index}/${b.shard.count}, ${headFile} is one of ${a.shard.count}`);
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
  if (missing.length > 0) throw new ScenarioError(`sweep merge: plan shard${missing.length === 1 ? "" : "s"} ${missing.slice(0, 20).join(", ")}${missing.length > 20 ? ", ..." : ""} of ${a.shard.count} missing`);
  return { options: a.options, runs: a.runs, all, results };
}
