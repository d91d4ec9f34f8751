import type { Command } from "commander";
import { DEFAULT_STORE_PATH, openStore, type Store } from "../real/store/index.js";
import type { MonitorSimResult } from "../sim/monitor/driver.js";
import { monitorPlanOptions, PLAN_DAYS_MAX, PLAN_NODES_MAX } from "../sim/monitor/plan.js";
import { formatSeconds } from "../scenarios/units.js";
import { parseWhole, UsageError } from "./errors.js";
import { registerRealMonitorCommand } from "./monitor-real-command.js";
import { runAsync } from "./failure.js";
import { exitCleanlyOnInterrupt } from "./interrupt.js";
import { runJob } from "./run-job.js";
import { planMonitorQueued } from "./plan-queue-command.js";
import { progressBar } from "./progress.js";

const SEC = 1_000_000;

interface PlanMonitorFlags {
  nodes: string;
  days: string;
  window: string;
  flakyPct: string;
  testSecs: string;
  seed: string;
  json?: boolean;
  db: string;
  store: boolean;
  /** Run the plan as a job on this Redis, for a testbed worker. */
  queue?: string;
  /** Refused: the plan is one simulation, with no cells to slice. */
  shard?: string;
}


function percent(flag: string, text: string): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v) || v < 0 || v > 100) throw new UsageError(`${flag}: expected a percentage from 0 to 100, got "${text}"`);
  return v;
}

/** "MIN:MAX" seconds, or one number N for N/2..3N/2. */
function secondsRange(flag: string, text: string): [number, number] {
  const parts = text.split(":").map(Number);
  const ok = parts.length <= 2 && parts.every((p) => Number.isFinite(p) && p > 0 && p <= 86_400);
  if (!ok || (parts.length === 2 && (parts[0] as number) > (parts[1] as number))) throw new UsageError(`${flag}: expected seconds N or MIN:MAX (up to 86400), got "${text}"`);
  const [a, b] = parts.length === 1 ? [(parts[0] as number) / 2, ((parts[0] as number) * 3) / 2] : (parts as [number, number]);
  return [Math.max(1, Math.round(a * SEC)), Math.max(1, Math.round(b * SEC))];
}


/**
 * Why `plan monitor --shard` is refused: unlike a Frisbee or swap plan (a grid of independent runs),
 * the plan is one seeded simulation in which every node competes for the same window of tests in
 * flight, so any slice of it (of nodes, or of days) would be a different run with other figures.
 */
const SHARD_REFUSED =
  "--shard: plan monitor is one simulation, not a grid of runs: all its nodes share one monitor and its window of tests in flight, so a slice of it would be another run; run it whole, here or on a worker with --queue";

/** `testbed plan monitor`: resolves with the exit code; the run is on a worker thread, so Ctrl-C stops it at once. */
export async function planMonitorCommand(f: PlanMonitorFlags): Promise<number> {
  if (f.shard !== undefined) throw new UsageError(SHARD_REFUSED);
  const nodes = parseWhole("--nodes", f.nodes, 1, PLAN_NODES_MAX);
  const days = Number(f.days);
  if (f.days.trim() === "" || !Number.isFinite(days) || days <= 0 || days > PLAN_DAYS_MAX) throw new UsageError(`--days: expected a number of days above 0 up to ${PLAN_DAYS_MAX}, got "${f.days}"`);
  const window = parseWhole("--window", f.window, 1, 100_000);
  const seed = parseWhole("--seed", f.seed, 0);
  const [passUsMin, passUsMax] = secondsRange("--test-secs", f.testSecs);
  // One function builds the simulation from these numbers, here and in a queue worker alike.
  const params = { nodes, days, window, flakyPct: percent("--flaky-pct", f.flakyPct), passUsMin, passUsMax, seed };
  const options = monitorPlanOptions(params);
  if (typeof options === "string") throw new UsageError(options);
  // The store is opened and checked before the run, so a bad --db never throws a finished run away.
  // The handler is in place before the store opens: a signal while it opens finds it and closes it.
  let store: Store | null = null;
  const off = exitCleanlyOnInterrupt(() => (f.store ? "no run stored" : null), { close: () => store?.close() });
  store = f.store ? openStore(f.db) : null;
  let out: MonitorSimResult & { days: number; flakyPct: number; ok: boolean; peakRssMiB: number };
  let runId: number | null = null;
  try {
    const bar = progressBar("plan monitor");
    let done: { result: MonitorSimResult; peakRssMiB: number } | number;
    try {
      done =
        f.queue === undefined
          ? { result: await runJob("planMonitor", options, { progress: (fr, note) => bar.update(fr, note) }), peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }
          : await planMonitorQueued(params, f.queue, store !== null, off);
    } finally {
      bar.done();
    }
    if (typeof done === "number") return done;
    const { result } = done;
    const ok = result.windowExceeded === 0 && result.gapsOverCap === 0 && result.unprovenReturns === 0;
    // Peak RSS is that of the process that ran the simulation (this one, or the worker's).
    out = { ...result, days, flakyPct: options.mix.flakyPct, ok, peakRssMiB: done.peakRssMiB };
    runId =
      store?.insertRun({
        kind: "plan-monitor",
        scenario: `plan monitor nodes=${nodes} days=${days} window=${window} flaky-pct=${options.mix.flakyPct}`,
        seed: String(seed),
        fingerprint: result.traceHash,
        events: result.events,
        simSeconds: result.simSeconds,
        wallSeconds: result.wallSeconds,
        ok,
        results: out,
        createdAt: new Date().toISOString(),
      }) ?? null;
  } finally {
    store?.close();
  }
  if (f.json) console.log(JSON.stringify({ ...out, runId }));
  else printPlan(out);
  const warning = windowWarning(out);
  if (warning !== null) console.error(`testbed: warning: ${warning}`);
  return out.ok ? 0 : 1;
}

/** A queue wait longer than this means the window, not the backoff, decides when nodes are tested. */
const QUEUE_WAIT_WARN_SEC = 86_400;

/** Says so when the window is too small for the nodes: tests wait more than a day for a slot. */
export function windowWarning(r: Pick<MonitorSimResult, "nodes" | "window" | "queueWaitSec">): string | null {
  if (r.queueWaitSec.count === 0 || r.queueWaitSec.mean <= QUEUE_WAIT_WARN_SEC) return null;
  return (
    `window ${r.window} is too small for ${r.nodes} nodes: a due test waits ${formatSeconds(r.queueWaitSec.mean)} on average for a free slot, ` +
    "more than a day, so that wait and not the backoff decides how fast failures are found; try a larger --window"
  );
}

function printPlan(r: MonitorSimResult & { days: number; ok: boolean; peakRssMiB: number }): void {
  // Readable units here (hours, days); --json keeps seconds.
  const s = (x: { count: number; mean: number; p50: number; p95: number; max: number }): string =>
    `n ${x.count}, mean ${formatSeconds(x.mean)}, p50 ${formatSeconds(x.p50)}, p95 ${formatSeconds(x.p95)}, max ${formatSeconds(x.max)}`;
  console.log(`seed: ${r.seed}`);
  console.log(`${r.nodes} nodes, ${r.days} days, window ${r.window}: ${r.testsRun} tests (${r.testsPerNodeDay} per node-day), ${r.timeouts} timeouts, peak window use ${r.maxInFlight}`);
  console.log(`time to detect a failure:   ${s(r.detectSec)}; ${r.undetected} down at the end, still in the good pool`);
  console.log(`time to return a repaired node: ${s(r.returnSec)}`);
  console.log(`tests on flapping nodes: ${r.testsOnFlappers} (${r.testsOnFlappersPct}%), on flaky nodes: ${r.testsOnFlaky}; flap starts ${r.flapStarts}, held back ${r.heldBack}`);
  console.log(`queue wait (due to start): ${s(r.queueWaitSec)}`);
  console.log(`invariants: window ${r.windowExceeded === 0 ? "ok" : "EXCEEDED"}, backoff caps ${r.gapsOverCap === 0 ? "ok" : `${r.gapsOverCap} over`}, flap returns ${r.unprovenReturns === 0 ? "ok" : `${r.unprovenReturns} unproven`}`);
  console.log(`trace: ${r.traceHash}  events: ${r.events}  wall: ${r.wallSeconds} s  peak RSS: ${r.peakRssMiB} MiB`);
}


export function registerMonitorCommands(program: Command, groups: { plan: Command }): void {
  groups.plan
    .command("monitor")
    .description("node monitor pools over simulated nodes: tests run, time to detect and to return a node, window use")
    .option("--nodes <n>", "simulated nodes", "1000")
    .option("--days <d>", "simulated days", "7")
    .option("--window <n>", "tests in flight at once", "40")
    .option("--flaky-pct <p>", "percent of nodes that fail a test with probability 0.3", "2")
    .option("--test-secs <s>", "duration of a passing test: N (N/2..3N/2) or MIN:MAX seconds", "20:60")
    .option("--seed <n>", "seed", "1")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--no-store", "do not record the run in the store")
    .option("--json", "print one JSON object")
    .option("--queue <url>", "run the plan as a job on Redis (redis://host:port) for a testbed worker; same result and stored row")
    .option("--shard <K/N>", "refused: the plan is one simulation (its nodes share one window), not cells to slice; use --queue to run it on a worker")
    .addHelpText("after", "\nExample:\n  testbed plan monitor --nodes 100000 --days 7 --window 40 --flaky-pct 2 --seed 1 --json")
    .action((o: PlanMonitorFlags) => {
      void runAsync(() => planMonitorCommand(o));
    });

  registerRealMonitorCommand(program);
}
