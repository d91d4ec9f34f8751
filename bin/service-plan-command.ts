import type { Command } from "commander";
import { checkOutput, writeOutputFileSync } from "../real/output/index.js";
import { DEFAULT_STORE_PATH, openStore, type Store } from "../real/store/index.js";
import { SERVICE_SIM_NODES_MAX, SIM_US, checkServiceSim, defaultServiceSim } from "../sim/service/options.js";
import type { ServiceSimResult } from "../sim/service/result.js";
import { parseWhole, UsageError } from "./errors.js";
import { runAsync } from "./failure.js";
import { exitCleanlyOnInterrupt } from "./interrupt.js";
import { runJob } from "./run-job.js";
import { progressBar } from "./progress.js";
import { lineChart } from "../core/chart/svg.js";

const PLAN_DAYS_MAX = 365;

interface PlanServiceFlags {
  nodes: string;
  days: string;
  seed: string;
  maxUnavailablePct: string;
  maxFailPct: string;
  parallel: string;
  batchPct: string;
  svg: string;
  json?: boolean;
  db: string;
  store: boolean;
}

function percent(flag: string, text: string, min: number): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v) || v < min || v > 100) throw new UsageError(`${flag}: expected a percentage from ${min} to 100, got "${text}"`);
  return v;
}

/**
 * `testbed plan service`: resolves with the exit code. The chart's path and the store are checked
 * before the run, which goes to a worker thread so that Ctrl-C stops it at once.
 */
export async function planServiceCommand(f: PlanServiceFlags): Promise<number> {
  const nodes = parseWhole("--nodes", f.nodes, 2, SERVICE_SIM_NODES_MAX);
  const days = Number(f.days);
  if (f.days.trim() === "" || !Number.isFinite(days) || days < 0.1 || days > PLAN_DAYS_MAX) throw new UsageError(`--days: expected a number of days from 0.1 to ${PLAN_DAYS_MAX}, got "${f.days}"`);
  const seed = parseWhole("--seed", f.seed, 0);
  const overrides = {
    maxUnavailablePct: percent("--max-unavailable-pct", f.maxUnavailablePct, 0),
    maxFailPct: percent("--max-fail-pct", f.maxFailPct, 0),
    maxParallel: parseWhole("--parallel", f.parallel, 1, 100_000),
    batchPct: percent("--batch-pct", f.batchPct, 0.01),
  };
  const o = defaultServiceSim(nodes, days, seed, overrides);
  const problem = checkServiceSim(o);
  if (problem !== null) throw new UsageError(`plan service: ${problem}`);
  checkOutput(f.svg, { what: "chart", inputs: f.store ? [f.db] : [] });
  // The handler is in place before the store is opened: a signal while it opens finds it and closes it.
  let store: Store | null = null;
  exitCleanlyOnInterrupt(() => (f.store ? "no run stored, no chart written" : "no chart written"), { close: () => store?.close() });
  store = f.store ? openStore(f.db) : null;
  const bar = progressBar("plan service");
  let r: ServiceSimResult;
  let runId: number | null = null;
  try {
    try {
      r = await runJob("planService", { nodes, days, seed, overrides }, { progress: (fr, note) => bar.update(fr, note) });
    } finally {
      bar.done();
    }
    writeOutputFileSync(f.svg, chart(r), { what: "chart", inputs: f.store ? [f.db] : [] });
    if (store !== null) {
      runId = store.insertRun({
        kind: "plan-service",
        scenario: `plan service nodes=${nodes} days=${days}`,
        seed: String(seed),
        fingerprint: r.traceHash,
        events: r.events,
        simSeconds: o.durationUs / SIM_US.SEC,
        wallSeconds: r.wallSeconds,
        ok: r.ok,
        results: r,
        createdAt: new Date().toISOString(),
      });
    }
  } finally {
    store?.close();
  }
  if (f.json) console.log(JSON.stringify({ ...r, chart: f.svg, runId }));
  else printPlan(r, f.svg);
  return r.ok ? 0 : 1;
}

function chart(r: ServiceSimResult): string {
  const series = (["alpha", "production"] as const).map((set) => ({
    label: `${set} (${r.rollouts.filter((x) => x.set === set && x.state !== "done").length} rolled back)`,
    points: r.rollouts.filter((x) => x.set === set).map((x) => ({ x: Math.round((x.startSec / 86_400) * 100) / 100, y: Math.round(x.seconds) })),
  }));
  return lineChart(`Service rollouts on ${r.nodes} nodes: time per rollout`, "day of the run", "rollout time (s)", series, false);
}

function printPlan(r: ServiceSimResult, svg: string): void {
  const s = (x: { count: number; mean: number; p50: number; p95: number; max: number }): string => (x.count === 0 ? "none" : `n ${x.count}, mean ${x.mean} s, p50 ${x.p50} s, p95 ${x.p95} s, max ${x.max} s`);
  console.log(`seed: ${r.seed}`);
  console.log(`${r.nodes} nodes, ${r.days} days: availability ${r.availabilityPct}% of node-time with every service process running`);
  console.log(`faults: ${r.crashes} process crashes, ${r.hangs} watchdog hangs, ${r.reboots} reboots, ${r.partitions} partitions, ${r.corruptions} corrupted files`);
  console.log("time to repair (down to running again):");
  for (const [cause, summary] of Object.entries(r.repairSec)) console.log(`  ${cause.padEnd(26)} ${s(summary)}`);
  console.log(`repairs: ${r.watchdogRestarts} watchdog restarts, ${r.sweepRestartsSilent} sweep restarts of silent nodes, ${r.sweepRestartsGaveUp} of given-up processes, ${r.reconciles} version reconciles, ${r.repairs} checksum repairs`);
  console.log("rollouts:");
  const head = ["set", "versions", "targets", "batches", "outcome", "seconds", "max down/allowed", "why"];
  const rows = r.rollouts.map((x) => [x.set, `${x.from}->${x.to}${x.bad ? " (bad)" : ""}`, String(x.targets), String(x.batches), x.state, String(Math.round(x.seconds)), `${x.maxUnavailableSeen}/${x.allowedUnavailable}`, x.reason]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const fmt = (cells: readonly string[]): string => "  " + cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number))).join("  ");
  console.log(fmt(head));
  for (const row of rows) console.log(fmt(row));
  console.log(`rollout time: ${s(r.rolloutSec)}`);
  console.log(`restart-less updates: seen in ${s(r.noticeSec)}; ${r.noticesWithin3sPct}% of nodes reachable at publication within 3 s`);
  console.log(`peer liveness (${r.liveness.pairs} pairs): dead peer still used in ${r.liveness.staleUsePct}% of samples, live peer avoided in ${r.liveness.falseAvoidPct}%; ${r.liveness.ignoredByVersion} heartbeats ignored for their version`);
  console.log(`checksums: ${r.checksumRounds} rounds (${r.checksumRoundsSkipped} skipped during rollouts), ${r.checksumDecisions} decisions, ${r.checksumNoQuorum} without quorum, ${r.checksumMinority} minority copies`);
  const inv = r.invariants;
  const word = (n: number): string => (n === 0 ? "ok" : `${n} FAILED`);
  console.log(`invariants: unavailable within budget ${word(inv.unavailableOverBudget)}, no cross-version messages ${word(inv.crossVersionAccepted)}, minority never overrules ${word(inv.minorityOverruled)}, one version at the end ${word(inv.offVersionAtEnd + inv.rolloutUnfinished)}`);
  console.log(`trace: ${r.traceHash}  events: ${r.events}  wall: ${r.wallSeconds} s  chart: ${svg}`);
}

export function registerServicePlan(plan: Command): void {
  plan
    .command("service")
    .description("a service on simulated nodes for days: watchdogs, sweeps, rollouts, checksums under crashes, hangs, reboots and partitions")
    .option("--nodes <n>", "simulated nodes", "1000")
    .option("--days <d>", "simulated days", "7")
    .option("--seed <n>", "seed", "1")
    .option("--max-unavailable-pct <p>", "share of a rollout's targets it may hold down at once", "5")
    .option("--max-fail-pct <p>", "a batch whose failures exceed this share aborts the rollout", "10")
    .option("--parallel <n>", "nodes updated at once", "10")
    .option("--batch-pct <p>", "batch size after the first (a canary of 1), percent of the targets", "10")
    .option("--svg <path>", "where to write the chart", "service-plan.svg")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--no-store", "do not record the run in the store")
    .option("--json", "print one JSON object")
    .addHelpText("after", "\nExample:\n  testbed plan service --nodes 1000 --days 7 --seed 1 --json")
    .action((o: PlanServiceFlags) => {
      void runAsync(() => planServiceCommand(o));
    });
}
