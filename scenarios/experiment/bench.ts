import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { SwapMachine, SwapSummary } from "../../core/experiment/machine.js";
import { runChunkModel } from "../../sim/frisbee/chunk-model/index.js";
import { openExperimentStore } from "../../real/store/index.js";
import { parseExperiment } from "./schema.js";
import { runSwap } from "./swap.js";
import { experimentTemplate } from "./template.js";

/** The heartbeat the bench's swaps use (the flagship's). */
const BENCH_HEARTBEAT_SEC = 2;
const MIB = 1024 * 1024;

export interface SwapBenchOptions {
  readonly nodes: number;
  readonly seed: number;
  /** A smaller swap-in run in the same process first, to report how wall time grows with nodes. */
  readonly baselineNodes: number;
  /** Called about every PROGRESS_EVERY_MS of wall time with a line on how far the swap is (for long runs). */
  readonly progress?: (line: string) => void;
}

/** How often a long bench says how far its swap has got. */
const PROGRESS_EVERY_MS = 30_000;

export interface SwapFigures {
  readonly nodes: number;
  readonly ok: boolean;
  readonly wallSeconds: number;
  /** CPU seconds the process used for the swap (user and system): on a shared machine, fairer than wall time. */
  readonly cpuSeconds: number;
  readonly simSeconds: number;
  readonly events: number;
  readonly eventsPerSec: number;
  /** Seconds of swap clock at which every node was loaded, booted, and the boot barrier passed. */
  readonly allLoadedSec: number | null;
  readonly allBootedSec: number | null;
  readonly barrierSec: number | null;
  readonly phases: SwapSummary["phases"];
  readonly retries: SwapSummary["retries"];
  readonly replaced: number;
  readonly fingerprint: string;
  /** The machine's 1-minute load average when the swap started and when it ended: the wall time is only as good as the machine was free. */
  readonly loadAverage: { readonly start: number; readonly end: number };
}

export interface SwapBenchResult {
  readonly seed: number;
  readonly swap: SwapFigures;
  /** Peak resident memory of the process (it includes the baseline run, which is smaller). */
  readonly rssPeakMiB: number;
  readonly heapUsedMiB: number;
  /** The planner's chunk model for the same load (clients, loss, image, rates): its slowest client's time. */
  readonly predicted: { readonly model: "chunk"; readonly loadSec: number; readonly wallSeconds: number };
  /**
   * The slowest node's simulated load over the chunk model's prediction. (Every node is loaded
   * later than that, at allLoadedSec: crashed loads wait to be judged wedged and are retried.)
   */
  readonly loadOverPredicted: number | null;
  readonly baseline: SwapFigures;
  /** Wall seconds per node of the big swap over the baseline's: 1 means wall time grows linearly. */
  readonly wallPerNodeRatio: number;
  /** The same with CPU seconds, which other jobs on the machine do not inflate. */
  readonly cpuPerNodeRatio: number;
}

/**
 * `testbed bench swap`: a simulated swap-in of the template's experiment (1% loss, flaky, bad and
 * crashing nodes) as fast as the machine goes, in a scratch store: wall time, memory, events per
 * second, per-phase times, the chunk model's prediction of the load, and a smaller swap in the
 * same run as the baseline.
 */
export async function runSwapBench(o: SwapBenchOptions): Promise<SwapBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), "testbed-bench-swap-"));
  try {
    const baseline = await swapIn(join(dir, "baseline.db"), o.baselineNodes, o.seed, o.progress);
    const swap = await swapIn(join(dir, "bench.db"), o.nodes, o.seed, o.progress);
    const rssPeakMiB = Math.round(process.resourceUsage().maxRSS / 1024);
    const heapUsedMiB = Math.round(process.memoryUsage().heapUsed / MIB);
    const predicted = predictLoad(o.nodes, o.seed);
    return {
      seed: o.seed,
      swap,
      rssPeakMiB,
      heapUsedMiB,
      predicted,
      loadOverPredicted: swap.phases.load.nodes === 0 || predicted.loadSec <= 0 ? null : round3(swap.phases.load.maxSec / predicted.loadSec),
      baseline,
      wallPerNodeRatio: round3(swap.wallSeconds / swap.nodes / (baseline.wallSeconds / baseline.nodes)),
      cpuPerNodeRatio: round3(swap.cpuSeconds / swap.nodes / Math.max(baseline.cpuSeconds / baseline.nodes, 1e-9)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function swapIn(db: string, nodes: number, seed: number, progress?: (line: string) => void): Promise<SwapFigures> {
  const store = openExperimentStore(db);
  try {
    const spec = parseExperiment(JSON.stringify(experimentTemplate({ nodes, sim: true })), "template");
    store.createFromSpec(spec);
    const loadStart = loadAverage1m();
    const cpuStart = process.cpuUsage();
    const started = performance.now();
    let saidMs = started;
    const onTick = (m: SwapMachine, clockUs: number): void => {
      const now = performance.now();
      if (progress === undefined || now - saidMs < PROGRESS_EVERY_MS) return;
      saidMs = now;
      const loaded = m.nodes.loadedUs.reduce((n, t) => n + (Number.isNaN(t) ? 0 : 1), 0);
      progress(`${nodes} nodes: ${(clockUs / 1e6).toFixed(1)} simulated s after ${((now - started) / 1000).toFixed(0)} wall s; ${loaded} loaded, ${m.barrier.ready} ready; load average ${loadAverage1m()}`);
    };
    const r = await runSwap({ store, name: spec.name, action: "swapin", world: "sim", seed, heartbeatSec: BENCH_HEARTBEAT_SEC, onTick });
    const m = r.summary.milestones;
    return {
      nodes,
      ok: r.ok,
      wallSeconds: r.wallSeconds,
      cpuSeconds: cpuSecondsSince(cpuStart),
      simSeconds: r.simSeconds,
      events: r.events,
      eventsPerSec: Math.round(r.events / Math.max(r.wallSeconds, 1e-3)),
      allLoadedSec: m.allLoadedSec,
      allBootedSec: m.allBootedSec,
      barrierSec: m.barrierSec,
      phases: r.summary.phases,
      retries: r.summary.retries,
      replaced: r.summary.replaced,
      fingerprint: r.fingerprint,
      loadAverage: { start: loadStart, end: loadAverage1m() },
    };
  } finally {
    store.close();
  }
}

/** The chunk model's time for the template's load: the same clients, loss, image and rates. */
function predictLoad(nodes: number, seed: number): SwapBenchResult["predicted"] {
  const spec = parseExperiment(JSON.stringify(experimentTemplate({ nodes, sim: true })), "template");
  const sim = spec.sim;
  const image = spec.images[0];
  if (sim === null || image === undefined || image.compressedBytes === null || image.uncompressedBytes === null) throw new Error("bench swap: the template has no simulated image sizes");
  const started = performance.now();
  const r = runChunkModel(
    {
      clients: [nodes],
      losses: [sim.loss],
      lossAt: "receivers",
      imageMiB: image.compressedBytes / MIB,
      dataMiB: image.uncompressedBytes / MIB,
      clientMbps: sim.clientMbps,
      pacing: { serverMbps: sim.serverMbps },
      diskMiBs: sim.diskMiBs,
      inflateMiBs: sim.inflateMiBs,
      start: { kind: "simultaneous" },
      heartbeatUs: BENCH_HEARTBEAT_SEC * 1_000_000,
      seed,
      model: "chunk",
      serverQueue: true,
    },
    nodes,
    sim.loss,
  );
  return { model: "chunk", loadSec: round3(r.stats.runtimeSecMax), wallSeconds: round3((performance.now() - started) / 1000) };
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return round3((used.user + used.system) / 1e6);
}

function loadAverage1m(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
