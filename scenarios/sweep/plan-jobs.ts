import type { FrisbeePlanOptions } from "../../sim/frisbee/plan-options.js";
import { runMonitorSim, type MonitorSimResult } from "../../sim/monitor/driver.js";
import { monitorPlanOptions, type MonitorPlanParams } from "../../sim/monitor/plan.js";
import { planSwapRow, type SwapPlanOptions, type SwapPlanRow } from "../../sim/swap/plan.js";
import { checkPlanRow, planRow, PlanError, type FrisbeePlanRow, type PlanRun } from "../frisbee/plan.js";

/**
 * Plan cells as jobs: one Frisbee plan row on one seed, or one monitor plan. A cell carries its
 * whole question as numbers, so a worker anywhere runs exactly the run the submitter would have.
 * Decoders return an error line for anything malformed and never throw.
 */
export interface FrisbeeCell {
  readonly options: FrisbeePlanOptions;
  readonly clients: number;
  readonly loss: number;
  readonly seed: number;
}

export interface FrisbeeCellResult {
  readonly fingerprint: string;
  readonly row: FrisbeePlanRow;
  readonly run: PlanRun;
}

export function runFrisbeeCell(c: FrisbeeCell): FrisbeeCellResult {
  const { row, run } = planRow({ ...c.options, seed: c.seed }, c.clients, c.loss);
  return { fingerprint: run.traceHash, row, run };
}

export interface MonitorCellResult {
  readonly fingerprint: string;
  readonly result: MonitorSimResult;
  /** Peak memory of the process that ran it, as the plan reports it. */
  readonly peakRssMiB: number;
}

export function runMonitorCell(p: MonitorPlanParams): MonitorCellResult {
  const options = monitorPlanOptions(p);
  if (typeof options === "string") throw new Error(`plan monitor cell: ${options}`);
  const result = runMonitorSim(options);
  return { fingerprint: result.traceHash, result, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) };
}

type Fields = Record<string, unknown>;
const isObject = (v: unknown): v is Fields => v !== null && typeof v === "object" && !Array.isArray(v);
const isNumber = (v: unknown, min: number, max: number, whole = false): v is number =>
  typeof v === "number" && Number.isFinite(v) && v >= min && v <= max && (!whole || Number.isInteger(v));

/** Limits as `testbed plan frisbee` applies them to its flags. */
const CLIENTS_MAX = 100_000;
const LIST_MAX = 1_000;

export function decodeFrisbeeCell(payload: unknown): FrisbeeCell | string {
  if (!isObject(payload)) return "payload: expected an object";
  if (!isNumber(payload.clients, 1, CLIENTS_MAX, true)) return `payload.clients: expected a whole number from 1 to ${CLIENTS_MAX}`;
  if (!isNumber(payload.loss, 0, 0.999999)) return "payload.loss: expected a loss rate from 0 up to 1";
  if (!isNumber(payload.seed, 0, Number.MAX_SAFE_INTEGER, true)) return "payload.seed: expected a whole number from 0";
  const options = decodePlanOptions(payload.options);
  if (typeof options === "string") return `payload.options.${options}`;
  try {
    checkPlanRow(options, payload.clients, payload.loss);
  } catch (error) {
    if (error instanceof PlanError) return `payload: ${error.message}`;
    throw error;
  }
  return { options, clients: payload.clients, loss: payload.loss, seed: payload.seed };
}

function decodePlanOptions(v: unknown): FrisbeePlanOptions | string {
  if (!isObject(v)) return "expected an object";
  if (!Array.isArray(v.clients) || v.clients.length > LIST_MAX || !v.clients.every((c) => isNumber(c, 1, CLIENTS_MAX, true))) return "clients: expected a list of client counts";
  if (!Array.isArray(v.losses) || v.losses.length > LIST_MAX || !v.losses.every((l) => isNumber(l, 0, 0.999999))) return "losses: expected a list of loss rates";
  if (v.lossAt !== "server" && v.lossAt !== "receivers") return "lossAt: expected server or receivers";
  if (v.model !== "packet" && v.model !== "chunk" && v.model !== "auto") return "model: expected packet, chunk or auto";
  for (const [field, max] of [["imageMiB", 1 << 20], ["dataMiB", 1 << 24], ["clientMbps", 1e6], ["diskMiBs", 1e6], ["inflateMiBs", 1e6]] as const) {
    if (!isNumber(v[field], 0.001, max)) return `${field}: expected a positive number up to ${max}`;
  }
  if (!isNumber(v.heartbeatUs, 1_000_000, 86_400_000_000, true)) return "heartbeatUs: expected whole microseconds from 1 s to a day";
  if (!isNumber(v.seed, 0, Number.MAX_SAFE_INTEGER, true)) return "seed: expected a whole number from 0";
  if (v.serverQueue !== undefined && typeof v.serverQueue !== "boolean") return "serverQueue: expected true or false";
  const pacing = v.pacing;
  const pacingOk =
    isObject(pacing) &&
    (Object.keys(pacing).length === 1 ? isNumber(pacing.serverMbps, 0.01, 1e6) : isNumber(pacing.burst, 1, 100_000, true) && isNumber(pacing.gapUs, 1, 60_000_000, true));
  if (!pacingOk) return "pacing: expected { serverMbps } or { burst, gapUs }";
  const s = v.start;
  const startOk =
    isObject(s) &&
    (s.kind === "simultaneous" ||
      (s.kind === "clustered" && isNumber(s.clusters, 1, CLIENTS_MAX, true) && isNumber(s.everyUs, 0, Number.MAX_SAFE_INTEGER, true)) ||
      (s.kind === "uniform" && isNumber(s.overUs, 0, Number.MAX_SAFE_INTEGER, true)));
  if (!startOk) return "start: expected a start pattern";
  return v as unknown as FrisbeePlanOptions;
}

export function decodeMonitorCell(payload: unknown): MonitorPlanParams | string {
  if (!isObject(payload)) return "payload: expected an object";
  const p = payload;
  for (const field of ["nodes", "days", "window", "flakyPct", "passUsMin", "passUsMax", "seed"] as const) {
    if (!isNumber(p[field], 0, Number.MAX_SAFE_INTEGER)) return `payload.${field}: expected a number`;
  }
  const params = p as unknown as MonitorPlanParams;
  const problem = monitorPlanOptions(params);
  return typeof problem === "string" ? `payload: ${problem}` : params;
}

/** A cell's result as a worker returned it, checked before it counts. */
export function decodeFrisbeeCellResult(value: unknown, cell: { clients: number; loss: number }): FrisbeeCellResult | string {
  if (!isObject(value) || typeof value.fingerprint !== "string") return "expected an object with a fingerprint";
  const row = value.row;
  const run = value.run;
  if (!isObject(row) || row.clients !== cell.clients || row.loss !== cell.loss) return `row: expected the row of ${cell.clients} clients at loss ${cell.loss}`;
  if (typeof row.traceHash !== "string" || typeof row.ok !== "boolean" || !Array.isArray(row.failedInvariants) || (row.model !== "packet" && row.model !== "chunk")) return "row: malformed";
  if (!isObject(run) || typeof run.traceHash !== "string" || typeof run.ok !== "boolean") return "run: malformed";
  for (const field of ["events", "simSeconds", "wallSeconds"] as const) if (!isNumber(run[field], 0, Number.MAX_SAFE_INTEGER)) return `run.${field}: expected a number`;
  if (run.traceHash !== value.fingerprint) return "the run's fingerprint is not the job's";
  return value as unknown as FrisbeeCellResult;
}

export function decodeMonitorCellResult(value: unknown, seed: number): MonitorCellResult | string {
  if (!isObject(value) || typeof value.fingerprint !== "string" || !isNumber(value.peakRssMiB, 0, Number.MAX_SAFE_INTEGER)) return "expected an object with a fingerprint and a peak RSS";
  const r = value.result;
  if (!isObject(r) || r.traceHash !== value.fingerprint || String(r.seed) !== String(seed)) return "result: malformed, or another seed's";
  return value as unknown as MonitorCellResult;
}

/** One row of a swap plan: an experiment of `nodes` nodes whose disks changed by `deltaPct` each. */
export interface SwapCell {
  readonly options: SwapPlanOptions;
  readonly nodes: number;
  readonly deltaPct: number;
}

export interface SwapCellResult {
  readonly fingerprint: string;
  readonly row: SwapPlanRow;
}

export function runSwapCell(c: SwapCell): SwapCellResult {
  const row = planSwapRow(c.options, c.nodes, c.deltaPct);
  return { fingerprint: row.trace, row };
}

/** Limits as `testbed plan swap` applies them to its flags: [field, least, most, whole]. */
const SWAP_FIELDS: readonly (readonly [keyof SwapPlanOptions, number, number, boolean])[] = [
  ["diskGiB", 0, 1 << 16, false], ["inUsePct", 0, 100, false], ["jitterPct", 0, 100, false], ["compressRatio", 1, 1000, false],
  ["diskReadMiBs", 0, 1e6, false], ["diskWriteMiBs", 0, 1e6, false], ["hashMiBs", 0, 1e6, false], ["compressMiBs", 0, 1e6, false],
  ["inflateMiBs", 0, 1e6, false], ["cores", 1, 1024, true], ["nodeMbps", 0, 1e6, false], ["serverMbps", 0, 1e6, false],
  ["frisbeeMbps", 0, 1e6, false], ["loss", 0, 0.05, false], ["startSpreadSec", 0, 3600, false], ["seed", 0, Number.MAX_SAFE_INTEGER, true],
];
const SWAP_NODES_MAX = 100_000;

export function decodeSwapCell(payload: unknown): SwapCell | string {
  if (!isObject(payload)) return "payload: expected an object";
  if (!isNumber(payload.nodes, 1, SWAP_NODES_MAX, true)) return `payload.nodes: expected a whole number from 1 to ${SWAP_NODES_MAX}`;
  if (!isNumber(payload.deltaPct, 0, 100)) return "payload.deltaPct: expected a percentage";
  const o = payload.options;
  if (!isObject(o)) return "payload.options: expected an object";
  for (const [field, min, max, whole] of SWAP_FIELDS) {
    if (!isNumber(o[field], min, max, whole)) return `payload.options.${field}: expected a${whole ? " whole" : ""} number from ${min} to ${max}`;
  }
  if (!Array.isArray(o.nodes) || o.nodes.length > LIST_MAX || !o.nodes.every((n) => isNumber(n, 1, SWAP_NODES_MAX, true))) return "payload.options.nodes: expected a list of node counts";
  if (!Array.isArray(o.deltaPcts) || o.deltaPcts.length > LIST_MAX || !o.deltaPcts.every((p) => isNumber(p, 0, 100))) return "payload.options.deltaPcts: expected a list of percentages";
  return { options: o as unknown as SwapPlanOptions, nodes: payload.nodes, deltaPct: payload.deltaPct };
}

export function decodeSwapCellResult(value: unknown, cell: { nodes: number; deltaPct: number }): SwapCellResult | string {
  if (!isObject(value) || typeof value.fingerprint !== "string") return "expected an object with a fingerprint";
  const row = value.row;
  if (!isObject(row) || row.nodes !== cell.nodes || row.deltaPct !== cell.deltaPct) return `row: expected the row of ${cell.nodes} nodes at ${cell.deltaPct}%`;
  if (row.trace !== value.fingerprint) return "the row's fingerprint is not the job's";
  for (const field of ["deltaMiB", "swapOutSec", "frisbeeSec", "swapInSec"] as const) if (!isNumber(row[field], 0, Number.MAX_SAFE_INTEGER)) return `row.${field}: expected a number`;
  return value as unknown as SwapCellResult;
}
