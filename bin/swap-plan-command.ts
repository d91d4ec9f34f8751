import type { Command } from "commander";
import { swapChart } from "../core/chart/plans.js";
import { checkOutput, writeOutputFileSync } from "../real/output/index.js";
import { swapPlanProblem, type SwapPlanOptions, type SwapPlanRow } from "../sim/swap/plan.js";
import { parseWhole, UsageError } from "./errors.js";
import { runAsync } from "./failure.js";
import { exitCleanlyOnInterrupt } from "./interrupt.js";
import { planShard, planSwapQueued, type ShardFlags } from "./plan-queue-command.js";
import { swapGrid, SWAP_PLAN } from "../scenarios/sweep/plan-queue.js";
import { progressBar } from "./progress.js";
import { runJob } from "./run-job.js";

interface SwapPlanFlags extends ShardFlags {
  nodes: string;
  deltaPct: string;
  diskGib: string;
  inUsePct: string;
  jitterPct: string;
  compressRatio: string;
  diskReadMibs: string;
  diskWriteMibs: string;
  hashMibs: string;
  compressMibs: string;
  inflateMibs: string;
  cores: string;
  nodeMbps: string;
  serverMbps: string;
  frisbeeMbps: string;
  loss: string;
  startSpreadSec: string;
  seed: string;
  svg: string;
  json?: boolean;
}

/** Limits of one plan: rows, nodes per row. */
const PLAN_SWAP_ROWS_MAX = 100;
const PLAN_SWAP_NODES_MAX = 100_000;

function positive(flag: string, text: string, max: number, min = 0, inclusive = false): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v) || (inclusive ? v < min : v <= min) || v > max) throw new UsageError(`${flag}: expected a number ${inclusive ? "from" : "above"} ${min} up to ${max}, got "${text}"`);
  return v;
}

function list<T>(flag: string, text: string, item: (p: string) => T): T[] {
  const parts = text.split(",").map((p) => p.trim());
  if (parts.some((p) => p === "")) throw new UsageError(`${flag}: expected a comma-separated list, got "${text}"`);
  return parts.map(item);
}

export function swapPlanOptions(f: SwapPlanFlags): SwapPlanOptions {
  return {
    nodes: list("--nodes", f.nodes, (p) => parseWhole("--nodes", p, 1, PLAN_SWAP_NODES_MAX)),
    deltaPcts: list("--delta-pct", f.deltaPct, (p) => positive("--delta-pct", p, 100, 0, true)),
    diskGiB: positive("--disk-gib", f.diskGib, 1 << 16),
    inUsePct: positive("--in-use-pct", f.inUsePct, 100),
    jitterPct: positive("--jitter-pct", f.jitterPct, 100, 0, true),
    compressRatio: positive("--compress-ratio", f.compressRatio, 1000, 1, true),
    diskReadMiBs: positive("--disk-read-mibs", f.diskReadMibs, 1e6),
    diskWriteMiBs: positive("--disk-write-mibs", f.diskWriteMibs, 1e6),
    hashMiBs: positive("--hash-mibs", f.hashMibs, 1e6),
    compressMiBs: positive("--compress-mibs", f.compressMibs, 1e6),
    inflateMiBs: positive("--inflate-mibs", f.inflateMibs, 1e6),
    cores: parseWhole("--cores", f.cores, 1, 1024),
    nodeMbps: positive("--node-mbps", f.nodeMbps, 1e6),
    serverMbps: positive("--server-mbps", f.serverMbps, 1e6),
    frisbeeMbps: positive("--frisbee-mbps", f.frisbeeMbps, 1e6),
    loss: positive("--loss", f.loss, 0.05, 0, true),
    startSpreadSec: positive("--start-spread-sec", f.startSpreadSec, 3600, 0, true),
    seed: parseWhole("--seed", f.seed, 0),
  };
}

export function registerSwapPlanCommand(plan: Command): void {
  plan
    .command("swap")
    .description("swap-out (every node's delta to one file server) and swap-in (the base by Frisbee, then each delta) of an experiment's disks: time and bottleneck")
    .requiredOption("--nodes <list>", "node counts")
    .requiredOption("--delta-pct <list>", "each node's delta, percent of its data in use")
    .option("--disk-gib <n>", "disk size per node, GiB", "16")
    .option("--in-use-pct <n>", "share of the disk in use, percent", "25")
    .option("--jitter-pct <n>", "each node's delta varies by up to this share around --delta-pct", "50")
    .option("--compress-ratio <n>", "data bytes per compressed byte (images and deltas)", "2.5")
    .option("--disk-read-mibs <n>", "node disk read speed, MiB/s", "150")
    .option("--disk-write-mibs <n>", "node disk write speed, MiB/s", "120")
    .option("--hash-mibs <n>", "SHA-1 speed per core, MiB/s", "600")
    .option("--compress-mibs <n>", "deflate speed per core (level 4), MiB/s of data", "60")
    .option("--inflate-mibs <n>", "inflate speed per core, MiB/s of data", "200")
    .option("--cores <n>", "cores per node", "2")
    .option("--node-mbps <n>", "node link speed, Mbit/s", "1000")
    .option("--server-mbps <n>", "the file server's link, Mbit/s (every delta crosses it)", "1000")
    .option("--frisbee-mbps <n>", "Frisbee's bandwidth target for the base image, Mbit/s", "500")
    .option("--loss <p>", "Frisbee loss rate per receiver", "0")
    .option("--start-spread-sec <s>", "commands reach the nodes spread over this many seconds", "5")
    .option("--seed <n>", "seed", "1")
    .option("--svg <path>", "where to write the chart", "swap-plan.svg")
    .option("--json", "print JSON")
    .option("--queue <url>", "run the rows as jobs on Redis (redis://host:port) for testbed workers; same rows and table")
    .option("--shard <K/N>", "run only the K-th of N interleaved slices of the rows (needs --out; join them with testbed sweep merge)")
    .option("--out <file>", "with --shard: where the slice's rows are written")
    .option("--concurrency <n>", "with --shard: threads on this machine (default: every core)")
    .addHelpText(
      "after",
      "\nExamples:\n  testbed plan swap --nodes 10,100,1000 --delta-pct 1,5 --server-mbps 10000 --json\n" +
        "  testbed plan swap --nodes 10,100,1000 --delta-pct 1,5 --shard 2/3 --out swap2.json   (then: testbed sweep merge swap*.json)",
    )
    .action((f: SwapPlanFlags) => {
      const o = swapPlanOptions(f);
      void runAsync(() => planSwapCommand(o, f));
    });
}

/** Rows run on a worker thread, so Ctrl-C stops at once (no row is kept: the plan stores nothing). */
async function planSwapCommand(o: SwapPlanOptions, f: SwapPlanFlags): Promise<number> {
  const grid = swapGrid(o);
  if (grid.length > PLAN_SWAP_ROWS_MAX) throw new UsageError(`--nodes and --delta-pct make ${grid.length} rows, at most ${PLAN_SWAP_ROWS_MAX}`);
  // Refused before any row runs, wherever the rows would run (a shard's threads, workers, here).
  const problem = swapPlanProblem(o);
  if (problem !== null) throw new UsageError(problem);
  if (f.shard !== undefined) return planShard(SWAP_PLAN, o, 1, f);
  if (f.out !== undefined || f.concurrency !== undefined) throw new UsageError(`${f.out !== undefined ? "--out" : "--concurrency"}: goes with --shard K/N`);
  // The chart's path is checked before any row runs (here or on workers): a bad --svg costs no plan.
  checkOutput(f.svg, { what: "chart" });
  let rows: SwapPlanRow[] = [];
  if (f.queue !== undefined) {
    const done = await planSwapQueued(o, f.queue);
    if (typeof done === "number") return done;
    rows = done;
  } else {
    exitCleanlyOnInterrupt(() => `${rows.length} of ${grid.length} rows computed; no chart written`);
    const bar = progressBar("plan swap");
    try {
      await runJob("planSwap", { o, grid }, { progress: (x, note) => bar.update(x, note ?? ""), item: (row) => rows.push(row) });
    } finally {
      bar.done();
    }
  }
  return finishPlanSwap(o, rows, f);
}

/**
 * Charts and prints a swap plan's rows, however they were computed (here, by queue workers, or
 * merged from shards). A swap plan stores nothing: its rows are figures, not runs to replay.
 */
export function finishPlanSwap(o: SwapPlanOptions, rows: readonly SwapPlanRow[], f: { svg: string; json?: boolean }, inputs: readonly string[] = []): number {
  writeOutputFileSync(f.svg, chart(rows), { what: "chart", inputs });
  if (f.json) console.log(JSON.stringify({ options: o, results: rows }));
  else printTable(rows, f.svg);
  return 0;
}

/** The plan's rows on the swap chart: for each delta size, swap-out and swap-in against nodes. */
function chart(rows: readonly SwapPlanRow[]): string {
  return swapChart(rows.flatMap((r) => [
    { kind: "swapout" as const, group: `${r.deltaPct}%`, nodes: r.nodes, seconds: r.swapOutSec },
    { kind: "swapin" as const, group: `${r.deltaPct}%`, nodes: r.nodes, seconds: r.swapInSec },
  ]));
}

const fixed = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

function printTable(rows: readonly SwapPlanRow[], svg: string): void {
  const head = ["nodes", "delta %", "deltas MiB", "swap-out s", "bottleneck", "disk s", "cpu s", "link s", "frisbee s", "swap-in s", "bottleneck", "disk s", "cpu s", "link s"];
  const lines = rows.map((r) => [
    String(r.nodes), String(r.deltaPct), r.deltaMiB.toFixed(0), fixed(r.swapOutSec), r.swapOutBottleneck, fixed(r.swapOutBoundsSec.disk), fixed(r.swapOutBoundsSec.cpu), fixed(r.swapOutBoundsSec["server link"]),
    fixed(r.frisbeeSec), fixed(r.swapInSec), r.swapInBottleneck, fixed(r.swapInBoundsSec.disk), fixed(r.swapInBoundsSec.cpu), fixed(r.swapInBoundsSec["server link"]),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const fmt = (cells: readonly string[]): string => cells.map((c, i) => c.padStart(widths[i] as number)).join("  ");
  console.log(fmt(head));
  for (const l of lines) console.log(fmt(l));
  console.log("disk/cpu/link s: the time each resource alone needs (the slowest node's disk and CPU; all deltas, and the base, over the server's link); the largest is the bottleneck");
  console.log(`chart: ${svg}`);
}
