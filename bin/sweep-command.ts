import { performance } from "node:perf_hooks";
import type { Command } from "commander";
import { parseQueueUrl } from "../real/queue/connection.js";
import { defaultThreads, POOL_THREADS_MAX } from "../real/queue/threads.js";
import { DEFAULT_STORE_PATH, openStore, type Store } from "../real/store/index.js";
import { buildVersion } from "../real/queue/version.js";
import { checkOutput, writeOutputFileSync } from "../real/output/index.js";
import { readMergeInput } from "../scenarios/sweep/files.js";
import { mergePlanShards, type PlanShardFile } from "../scenarios/sweep/plan-shards.js";
import { planGrid } from "../scenarios/sweep/plan-queue.js";
import { mergeReports } from "../scenarios/sweep/merge.js";
import { summarize, type SweepReport, type SweepSummary } from "../scenarios/sweep/report.js";
import { isFailure, type SeedResult } from "../scenarios/sweep/run-seed.js";
import { parseSeedRange, parseShard, showRange, WHOLE } from "../scenarios/sweep/seeds.js";
import { storeSweep } from "../scenarios/sweep/store.js";
import { runSweep, shrinkFailures, SHRINK_SEEDS_MAX, type ShrunkFile } from "../scenarios/sweep/sweep.js";
import { runAsync } from "./failure.js";
import { parseWhole, UsageError } from "./errors.js";
import { interruptAsAbort, SIGNAL_EXIT } from "./interrupt-abort.js";
import { finishPlanFrisbee } from "./plan-command.js";
import { finishPlanSwap } from "./swap-plan-command.js";
import { progressBar } from "./progress.js";
import { registerSweepBench } from "./sweep-bench-command.js";
import { registerWorkerCommand } from "./worker-command.js";

const DEFAULT_FAILURES_DIR = "sweep-failures";
/** Failing seeds the text report shows; --json and the store have them all. */
const FAILING_SHOWN_MAX = 10;
/** How often --json writes a progress line to stderr. */
const PROGRESS_JSON_MS = 1_000;

interface SweepFlags {
  seeds: string;
  vary: string[];
  queue?: string;
  concurrency?: string;
  shard?: string;
  out?: string;
  failures: string;
  shrink: boolean;
  json?: boolean;
  db: string;
  store: boolean;
}

interface MergeFlags {
  out?: string;
  /** The chart of a merged plan; by default the plan's own default name. */
  svg?: string;
  failures: string;
  shrink: boolean;
  json?: boolean;
  db: string;
  store: boolean;
}

const EXAMPLES = [
  "Examples:",
  "  testbed sweep scenarios/sweep/examples/idle-exit-race.json --seeds 1..500 --vary 'frisbee.clients[1].at=0ms..1500ms' --vary 'faults[0]=on|off'",
  "  testbed sweep FILE --seeds 1..100000 --queue redis://127.0.0.1:6379   (with testbed worker --queue ... running anywhere)",
  "  testbed sweep FILE --seeds 1..100000 --shard 3/10 --out shard3.json   (then: testbed sweep merge shard*.json)",
].join("\n");

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `testbed sweep`, `testbed sweep merge`, `testbed worker` and `testbed bench sweep`. */
export function registerSweepCommands(program: Command, parents: { bench: Command }): void {
  registerWorkerCommand(program);
  registerSweepBench(parents.bench);
  // `sweep FILE` is the default subcommand beside `sweep merge`: options on `sweep` itself would be
  // taken from merge's command line too.
  const sweep = program
    .command("sweep")
    .description("run a scenario under many seeds, each drawing fault parameters from ranges, and report every failing seed with its replay line (sweep merge joins shards)")
    .addHelpText("after", `\n${EXAMPLES}\n\nOptions of a sweep: testbed sweep run --help`);
  sweep
    .command("run", { isDefault: true })
    .description("run a scenario under many seeds (the default: testbed sweep FILE --seeds A..B is testbed sweep run FILE --seeds A..B)")
    .argument("<scenario>", "scenario file (JSON)")
    .requiredOption("--seeds <A..B>", "seeds to run, both ends included")
    .option("--vary <path=range>", "draw a field per seed: A..B (same unit both ends) or X|Y|Z; off removes it (repeatable)", collect, [])
    .option("--queue <url>", "enqueue the seeds on Redis (redis://host:port) for testbed workers, instead of this machine's threads")
    .option("--concurrency <n>", "threads on this machine (default: every core)")
    .option("--shard <K/N>", "run only the K-th of N interleaved slices of the seeds (needs --out; join them with sweep merge)")
    .option("--out <file>", "write the full report (every seed) for sweep merge")
    .option("--failures <dir>", "where shrunk failing scenarios are written", DEFAULT_FAILURES_DIR)
    .option("--no-shrink", "do not shrink failing seeds")
    .option("--json", "print one JSON object listing every seed with its fingerprint and verdict; progress goes to stderr as JSON lines")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--no-store", "do not record the sweep in the store")
    .addHelpText("after", `\n${EXAMPLES}`)
    .action((file: string, f: SweepFlags) => void runAsync(() => sweepCommand(file, f)));
  sweep
    .command("merge")
    .description("join the shards of a sweep (or of a Frisbee or swap plan) into the report, store rows and table of one run")
    .argument("<files...>", "files written by testbed sweep (or plan frisbee, or plan swap) --shard K/N --out FILE")
    .option("--out <file>", "write the merged report (sweeps)")
    .option("--svg <path>", "where to write the chart (plans; default frisbee-plan.svg or swap-plan.svg, as the plan itself)")
    .option("--failures <dir>", "where shrunk failing scenarios are written", DEFAULT_FAILURES_DIR)
    .option("--no-shrink", "do not shrink failing seeds")
    .option("--json", "print one JSON object")
    .option("--db <path>", "store file", DEFAULT_STORE_PATH)
    .option("--no-store", "do not record the sweep in the store")
    .addHelpText("after", "\nExample:\n  testbed sweep merge shard1.json shard2.json shard3.json --json")
    .action((files: string[], f: MergeFlags) => void runAsync(() => mergeCommand(files, f)));
}

async function sweepCommand(file: string, f: SweepFlags): Promise<number> {
  const seeds = parseSeedRange(f.seeds);
  const shard = f.shard === undefined ? WHOLE : parseShard(f.shard);
  if (f.shard !== undefined && f.out === undefined) throw new UsageError("--shard: a shard's results are only useful merged; give --out FILE");
  const queue = f.queue === undefined ? null : parseQueueUrl(f.queue);
  if (queue !== null && f.concurrency !== undefined) throw new UsageError("--concurrency: with --queue the workers choose theirs (testbed worker --concurrency N)");
  // A bad --out is refused now, not after the sweep has run.
  if (f.out !== undefined) checkOutput(f.out, { inputs: [file], what: "report" });
  const threads = f.concurrency === undefined ? defaultThreads() : parseWhole("--concurrency", f.concurrency, 1, POOL_THREADS_MAX);
  const total = Math.floor((seeds.last - seeds.first - (shard.index - 1)) / shard.count) + 1;
  // A shard is one slice: its failures are shrunk and stored once, by sweep merge.
  const whole = f.shard === undefined;
  // The store is checked before the sweep runs, so a bad --db never throws a finished sweep away.
  const store = f.store && whole ? openStore(f.db) : null;
  try {
    const progress = sweepProgress(total, f.json === true);
    const interrupted = interruptAsAbort();
    let outcome;
    try {
      outcome = await runSweep({
        file, seeds, shard, varies: f.vary, queue, threads, version: buildVersion(), signal: interrupted.signal,
        listener: { onResult: progress.result, onNotice: (line) => progress.notice(line) },
      });
    } finally {
      progress.done();
      interrupted.off();
    }
    const { report, cancelled } = outcome;
    if (interrupted.by !== null) {
      const jobs = queue === null ? "" : "; its waiting jobs were removed from Redis";
      console.error(`testbed: interrupted by ${interrupted.by}; ${report.results.length} of ${total} seeds run, none stored${jobs}`);
      return SIGNAL_EXIT[interrupted.by];
    }
    if (f.out !== undefined) writeOutputFileSync(f.out, `${JSON.stringify(report)}\n`, { inputs: [file], what: "report" });
    return finish(report, { ...f, shrink: f.shrink && whole }, store, cancelled);
  } finally {
    store?.close();
  }
}

async function mergeCommand(files: string[], f: MergeFlags): Promise<number> {
  if (f.out !== undefined) checkOutput(f.out, { inputs: files, what: "report" });
  const inputs = files.map((file) => ({ file, input: readMergeInput(file) }));
  const plans = inputs.flatMap(({ file, input }) => (input.kind === "plan" ? [{ file, shard: input.shard }] : []));
  const sweeps = inputs.flatMap(({ file, input }) => (input.kind === "sweep" ? [{ file, report: input.report }] : []));
  if (plans.length > 0 && sweeps.length > 0) throw new UsageError(`sweep merge: ${plans[0]!.file} is a plan's shard and ${sweeps[0]!.file} a sweep's; merge each on its own`);
  if (plans.length > 0) return mergePlan(plans, f);
  const report = mergeReports(sweeps);
  const store = f.store ? openStore(f.db) : null;
  try {
    if (f.out !== undefined) writeOutputFileSync(f.out, `${JSON.stringify(report)}\n`, { inputs: files, what: "report" });
    return finish(report, f, store, 0);
  } finally {
    store?.close();
  }
}

/** Shards of a plan: the rows, store rows, chart and table of the whole plan, as one local run. */
function mergePlan(inputs: { file: string; shard: PlanShardFile }[], f: MergeFlags): number {
  const merged = mergePlanShards(inputs);
  if (f.out !== undefined) throw new UsageError("--out: a merged plan is its rows in the store and its chart (--svg); there is no report file");
  const files = inputs.map((i) => i.file);
  const svg = f.svg ?? (merged.plan === "swap" ? "swap-plan.svg" : "frisbee-plan.svg");
  checkOutput(svg, { what: "chart", inputs: files });
  // A swap plan stores nothing when run whole, so its merge stores nothing either.
  if (merged.plan === "swap") return finishPlanSwap(merged.options, merged.rows, { svg, ...(f.json === undefined ? {} : { json: f.json }) }, files);
  const store = f.store ? openStore(f.db) : null;
  try {
    return finishPlanFrisbee(merged.options, planGrid(merged.options), merged.runs, merged.rows, { ...f, svg }, store);
  } finally {
    store?.close();
  }
}

/** Shrinks, stores and prints a finished report; the exit code: 0 only if every seed passed. */
function finish(report: SweepReport, f: Pick<MergeFlags, "json" | "shrink" | "failures" | "db">, store: Store | null, cancelled: number): number {
  const summary = summarize(report);
  const shrunk = f.shrink ? shrinkFailures(report, f.failures) : [];
  const runId = store === null ? null : storeSweep(store, report, summary, new Date().toISOString());
  if (f.json) console.log(JSON.stringify({ ...report, summary, shrunk, cancelled, runId }));
  else printReport(report, summary, shrunk, cancelled, runId === null ? null : `stored as run ${runId} in ${f.db}`);
  return summary.ok && cancelled === 0 ? 0 : 1;
}

function printReport(r: SweepReport, s: SweepSummary, shrunk: readonly ShrunkFile[], cancelled: number, stored: string | null): void {
  const c = s.counts;
  const shard = r.shard.count === 1 ? "" : `, shard ${r.shard.index}/${r.shard.count}`;
  console.log(`sweep: ${r.spec.file}, seeds ${showRange(r.seeds)}${shard}${r.spec.varies.length === 0 ? "" : `, vary ${r.spec.varies.join(" ")}`}`);
  console.log(`ran on: ${r.ranOn}; ${s.seeds} seeds in ${r.wallSeconds} s (${rate(s.seeds, r.wallSeconds)} seeds/s)${cancelled > 0 ? `; CANCELLED with ${cancelled} seeds not run` : ""}`);
  console.log(`results: ${c.pass} pass, ${c.fail} fail, ${c.crash} crash, ${c.invalid} invalid, ${c.lost} lost, ${c.nondeterministic} nondeterministic`);
  console.log(`sweep fingerprint: ${s.fingerprint} (over every seed's verdict and trace fingerprint)`);
  if (s.failing.length > 0) console.log(`failing seeds (${s.failing.length}${s.failing.length > FAILING_SHOWN_MAX ? `; the first ${FAILING_SHOWN_MAX}, --json lists all` : ""}):`);
  for (const f of s.failing.slice(0, FAILING_SHOWN_MAX)) {
    console.log(`  seed ${f.seed}: ${f.verdict}: ${f.failed.join("; ")}`);
    if (f.drawn.length > 0) console.log(`    drew: ${f.drawn.join(" ")}`);
    console.log(`    replay: ${f.replay}`);
  }
  for (const l of r.lost) console.log(`  seed ${l.seed}: LOST: ${l.reason}`);
  for (const n of r.nondeterministic) console.log(`  seed ${n.seed}: NONDETERMINISTIC: fingerprints ${n.fingerprints.join(" and ")} from ${n.workers.join(" and ")}`);
  if (shrunk.length > 0) console.log(`shrunk (the ${Math.min(SHRINK_SEEDS_MAX, shrunk.length)} fastest-failing seeds):`);
  for (const x of shrunk) {
    console.log(`  seed ${x.seed} -> ${x.path}: ${x.steps.length === 0 ? "nothing smaller still fails" : x.steps.join("; ")} (${x.runs} runs)`);
    console.log(`    still fails: ${x.failed.join("; ")}`);
    console.log(`    replay: ${x.replay}`);
  }
  if (stored !== null) console.log(stored);
}

function rate(n: number, seconds: number): string {
  return seconds > 0 ? (n / seconds).toFixed(1) : "-";
}

interface SweepProgress {
  result(r: SeedResult): void;
  notice(line: string): void;
  done(): void;
}

/** Done, failed, rate and time left: a bar on a terminal, JSON lines on stderr with --json. */
function sweepProgress(total: number, json: boolean): SweepProgress {
  const started = performance.now();
  const bar = json ? null : progressBar("sweep");
  let done = 0;
  let failed = 0;
  let lastJsonMs = started;
  const figures = (): { done: number; failed: number; total: number; seedsPerSec: number; secondsLeft: number | null } => {
    const elapsed = (performance.now() - started) / 1000;
    const perSec = elapsed > 0 ? done / elapsed : 0;
    return { done, failed, total, seedsPerSec: Math.round(perSec * 10) / 10, secondsLeft: perSec > 0 ? Math.round((total - done) / perSec) : null };
  };
  return {
    result(r) {
      done++;
      if (isFailure(r)) failed++;
      if (bar !== null) {
        const p = figures();
        bar.update(done / total, `${done}/${total} done, ${failed} failed, ${p.seedsPerSec}/s`);
      } else if (performance.now() - lastJsonMs >= PROGRESS_JSON_MS) {
        lastJsonMs = performance.now();
        process.stderr.write(`${JSON.stringify({ progress: figures() })}\n`);
      }
    },
    notice(line) {
      if (json) process.stderr.write(`${JSON.stringify({ notice: line })}\n`);
      else process.stderr.write(`\r\x1b[Ktestbed: ${line}\n`);
    },
    done() {
      bar?.done();
      if (json && done > 0) process.stderr.write(`${JSON.stringify({ progress: figures() })}\n`);
    },
  };
}

