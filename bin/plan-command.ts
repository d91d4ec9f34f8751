import { frisbeePlanChart } from "../core/chart/plans.js";
import { US_PER_SEC } from "../core/engine/index.js";
import { checkOutput, writeOutputFileSync } from "../real/output/index.js";
import { openStore, type NewRun, type Store } from "../real/store/index.js";
import { checkPlanRow, PlanError, type PlanModel, type FrisbeePlanOptions, type FrisbeePlanRow, type LossAt, type PlanRun } from "../scenarios/frisbee/plan.js";
import { readStartPattern } from "../scenarios/start.js";
import { parseWhole, UsageError } from "./errors.js";
import { exitCleanlyOnInterrupt } from "./interrupt.js";
import { progressBar } from "./progress.js";
import { FRISBEE_PLAN, type PlanRowDone } from "../scenarios/sweep/plan-queue.js";
import { planFrisbeeQueued, planShard } from "./plan-queue-command.js";
import { runJob } from "./run-job.js";

export interface PlanFlags {
  clients: string;
  imageMib: string;
  dataMib: string;
  clientMbps: string;
  serverMbps: string;
  burst?: string;
  gapUs?: string;
  diskMibs: string;
  inflateMibs: string;
  loss: string;
  lossAt: string;
  start: string;
  model: string;
  heartbeat: string;
  seed: string;
  runs: string;
  serverQueue?: boolean;
  json?: boolean;
  svg: string;
  db: string;
  store: boolean;
  /** Cells as jobs on this Redis, for testbed workers. */
  queue?: string;
  /** Only the K-th of N slices of the cells, written to `out` for sweep merge. */
  shard?: string;
  out?: string;
  /** Threads for a shard's cells (default: every core). */
  concurrency?: string;
}

/** A number from `min` (the least a scenario can hold, so no row is refused later) up to `max`. */
function positive(flag: string, text: string, max: number, min: number): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v) || v < min || v > max) throw new UsageError(`${flag}: expected a positive number from ${min} up to ${max}, got "${text}"`);
  return v;
}

function list<T>(flag: string, text: string, item: (part: string) => T): T[] {
  const parts = text.split(",").map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => p === "")) throw new UsageError(`${flag}: expected a comma-separated list, got "${text}"`);
  return parts.map(item);
}

/** Flags to plan options; every mistake is one line naming the flag. */
export function planOptions(f: PlanFlags): FrisbeePlanOptions {
  if (f.model !== "packet" && f.model !== "auto" && f.model !== "chunk") throw new UsageError(`--model: expected packet, chunk or auto, got "${f.model}"`);
  if (f.lossAt !== "server" && f.lossAt !== "receivers") throw new UsageError(`--loss-at: expected server or receivers, got "${f.lossAt}"`);
  const start = readStartPattern(f.start);
  if (typeof start === "string") throw new UsageError(`--start: ${start}`);
  if ((f.burst === undefined) !== (f.gapUs === undefined)) throw new UsageError("--burst and --gap-us go together");
  if (f.serverQueue === true && f.model === "packet") throw new UsageError("--server-queue: applies to the chunk model; the packet model always has its links' queues");
  return {
    clients: list("--clients", f.clients, (p) => parseWhole("--clients", p, 1, 100_000)),
    losses: list("--loss", f.loss, (p) => {
      const v = Number(p);
      if (!Number.isFinite(v) || v < 0 || v >= 1) throw new UsageError(`--loss: expected loss rates from 0 up to (not including) 1, got "${p}"`);
      return v;
    }),
    lossAt: f.lossAt as LossAt,
    imageMiB: positive("--image-mib", f.imageMib, 1 << 20, 0.001),
    dataMiB: positive("--data-mib", f.dataMib, 1 << 24, 0.001),
    clientMbps: positive("--client-mbps", f.clientMbps, 1e6, 0.01),
    pacing:
      f.burst !== undefined && f.gapUs !== undefined
        ? { burst: parseWhole("--burst", f.burst, 1, 100_000), gapUs: parseWhole("--gap-us", f.gapUs, 1, 60_000_000) }
        : { serverMbps: positive("--server-mbps", f.serverMbps, 1e6, 0.01) },
    diskMiBs: positive("--disk-mibs", f.diskMibs, 1e6, 0.001),
    inflateMiBs: positive("--inflate-mibs", f.inflateMibs, 1e6, 0.001),
    start,
    heartbeatUs: parseWhole("--heartbeat", f.heartbeat, 1, 86_400) * US_PER_SEC,
    seed: parseWhole("--seed", f.seed, 0),
    model: f.model as PlanModel,
    serverQueue: f.serverQueue === true,
  };
}

/**
 * `testbed plan frisbee`: resolves with the exit code. Every flag, the chart's path and the store
 * are checked before the first row; the rows run on a worker thread, so Ctrl-C stops at once; the
 * rows are stored together at the end, so an interrupted plan stores none.
 */
export async function planFrisbeeCommand(f: PlanFlags): Promise<number> {
  const o = planOptions(f);
  const runs = parseWhole("--runs", f.runs, 1, 1000);
  const grid = o.losses.flatMap((loss) => o.clients.map((clients) => ({ clients, loss })));
  // Refuse a model that is not valid for some row before running any.
  for (const { clients, loss } of grid) {
    try {
      checkPlanRow(o, clients, loss);
    } catch (error) {
      if (error instanceof PlanError) throw new UsageError(error.message);
      throw error;
    }
  }
  if (f.shard !== undefined) return planShard(FRISBEE_PLAN, o, runs, f);
  // Everything the user gave is checked before the first row runs: the chart's path and the store.
  checkOutput(f.svg, { what: "chart", inputs: f.store ? [f.db] : [] });
  // The handler is in place before the store opens: a signal while it opens finds it and closes it.
  const done: PlanRowDone[] = [];
  let store: Store | null = null;
  const off = exitCleanlyOnInterrupt(() => `${done.length} of ${grid.length} rows computed; ${f.store ? "none stored" : "not storing"}, no chart written`, {
    close: () => store?.close(),
  });
  store = f.store ? openStore(f.db) : null;
  try {
    if (f.queue !== undefined) {
      const queued = await planFrisbeeQueued(o, grid, runs, f.queue, store !== null, off);
      return typeof queued === "number" ? queued : finishPlanFrisbee(o, grid, runs, queued, f, store);
    }
    const bar = progressBar("plan");
    try {
      await runJob("planFrisbee", { o, grid, runs }, { progress: (fraction, note) => bar.update(fraction, note), item: (row) => done.push(row) });
    } finally {
      bar.done();
    }
    return finishPlanFrisbee(o, grid, runs, done, f, store);
  } finally {
    store?.close();
  }
}

/**
 * Stores, charts and prints a plan's rows, however they were computed (here, by queue workers, or
 * merged from shards): the rows land together or not at all, one stored run per seed.
 */
export function finishPlanFrisbee(
  o: FrisbeePlanOptions,
  grid: readonly { clients: number; loss: number }[],
  runs: number,
  done: readonly PlanRowDone[],
  f: { svg: string; json?: boolean; db?: string },
  store: Store | null,
): number {
  const rows = done.map((d) => d.row);
  // One stored run per seed, so each can be replayed; each holds the row it contributed to.
  const stored = done.flatMap(({ index, row, runs: seeds }) => {
    const { clients, loss } = grid[index] as { clients: number; loss: number };
    return seeds.map(({ seed, run }) => storedRun(o, clients, loss, seed, run, row, runs));
  });
  store?.insertRuns(stored);
  // The chart may not be written over the store the rows went to.
  writeOutputFileSync(f.svg, frisbeePlanChart(rows), { what: "chart", inputs: store !== null && f.db !== undefined ? [f.db] : [] });
  // The peak memory of the whole plan, for the benchmarks (a figure of the machine, like wallSeconds).
  if (f.json) console.log(JSON.stringify({ results: rows, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
  else printTable(rows, f.svg, o.lossAt);
  return rows.every((r) => r.ok) ? 0 : 1;
}

function storedRun(o: FrisbeePlanOptions, clients: number, loss: number, seed: number, run: PlanRun, row: FrisbeePlanRow, runs: number): NewRun {
  return {
    kind: "plan-frisbee",
    scenario: `plan frisbee clients=${clients} loss=${loss}`,
    seed: String(seed),
    fingerprint: run.traceHash,
    events: run.events,
    simSeconds: run.simSeconds,
    wallSeconds: run.wallSeconds,
    ok: run.ok,
    results: { row, options: { ...o, seed }, runs },
    createdAt: new Date().toISOString(),
  };
}

function printTable(rows: readonly FrisbeePlanRow[], svg: string, lossAt: LossAt): void {
  const several = rows.some((r) => r.runs > 1);
  // With several runs, the spread of the runs' mean runtimes.
  const spread = (r: FrisbeePlanRow): string => {
    const means = (r.perRun ?? []).map((p) => p.runtimeSecMean);
    return means.length === 0 ? "-" : `${Math.min(...means)}-${Math.max(...means)}`;
  };
  const head = ["clients", "loss", "mean s", ...(several ? ["run means s"] : []), "min s", "max s", "dup %", "server Mb/s", "ctrl/s", "hb recv", "hb lost", "model", "wall s"];
  const lines = rows.map((r) =>
    [r.clients, r.loss, r.runtimeSecMean, ...(several ? [spread(r)] : []), r.runtimeSecMin, r.runtimeSecMax, r.duplicateDataPct, r.serverMbps, r.serverCtrlMsgsPerSec, r.heartbeatsReceived, r.heartbeatsLost, r.model, r.wallSeconds].map(String),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const fmt = (cells: readonly string[]): string => cells.map((c, i) => c.padStart(widths[i] as number)).join("  ");
  console.log(fmt(head));
  for (const l of lines) console.log(fmt(l));
  for (const line of legend(several, lossAt)) console.log(line);
  for (const r of rows.filter((x) => !x.ok)) console.log(`FAILED at ${r.clients} clients, loss ${r.loss}: ${r.failedInvariants.join("; ")}`);
  for (const caveat of new Set(rows.flatMap((r) => (r.caveat === undefined ? [] : [r.caveat])))) console.log(`note: ${caveat}`);
  console.log(`chart: ${svg}`);
}

/** What each column means, in plain words, under the table. */
function legend(several: boolean, lossAt: LossAt): string[] {
  const rows: [string, string][] = [
    ["loss", lossAt === "server" ? "the share of packets lost at the server, the same for every client (--loss-at server)" : "the share of packets each client loses on its own (--loss-at receivers)"],
    ["mean/min/max s", "seconds from a client's start until its whole image is on its disk, over every client of the row"],
    ...(several ? ([["run means s", "the lowest and highest of the runs' mean runtimes (--runs)"]] as [string, string][]) : []),
    ["dup %", "data the server sent beyond one copy of the image, as a share of the image (resent for lost or late blocks)"],
    ["server Mb/s", "the server's data rate while it was sending"],
    ["ctrl/s", "control messages (joins, requests, leaves) the server received per second while sending"],
    ["hb recv, hb lost", "progress reports (heartbeats) the server received, and those it knows were lost (gaps in a client's numbering)"],
    ["model", "packet: every packet simulated; chunk: the faster chunk-level model for thousands of clients"],
    ["wall s", "this machine's time to compute the row (not a prediction)"],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return ["", ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)];
}
