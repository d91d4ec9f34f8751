import type { Command } from "commander";
import { parseQueueUrl } from "../real/queue/connection.js";
import { defaultThreads } from "../real/queue/threads.js";
import { runSweepBench, type RateFigure, type SweepBenchResult } from "../scenarios/sweep/bench.js";
import { runAsync } from "./failure.js";
import { parseWhole } from "./errors.js";

interface BenchFlags {
  seeds: string;
  echoJobs: string;
  queue?: string;
  json?: boolean;
}

export function registerSweepBench(bench: Command): void {
  bench
    .command("sweep")
    .description("per-job cost of the sweep queue and its throughput with 1 and 2 workers beside local threads, and a projection for more workers")
    .option("--seeds <n>", "seeds per sweep run", "1000")
    .option("--echo-jobs <n>", "jobs that do no simulation, to time the queue alone", "2000")
    .option("--queue <url>", "Redis to use (default: start a private redis-server on a free port)")
    .option("--json", "print one JSON object")
    .addHelpText("after", "\nExample:\n  testbed bench sweep --seeds 1000 --echo-jobs 2000")
    .action((f: BenchFlags) => void runAsync(() => benchCommand(f)));
}

async function benchCommand(f: BenchFlags): Promise<number> {
  const result = await runSweepBench({
    seeds: parseWhole("--seeds", f.seeds, 10, 1_000_000),
    echoJobs: parseWhole("--echo-jobs", f.echoJobs, 10, 1_000_000),
    queue: f.queue === undefined ? null : parseQueueUrl(f.queue).url,
    threads: defaultThreads(),
    log: (line) => process.stderr.write(`bench sweep: ${line}\n`),
  });
  if (f.json) console.log(JSON.stringify(result));
  else print(result);
  return 0;
}

function print(r: SweepBenchResult): void {
  const row = (x: RateFigure): string => `  ${x.label.padEnd(28)} ${String(x.perSec).padStart(9)} /s  ${String(x.msPerJob).padStart(8)} ms/job  (${x.jobs} in ${x.seconds} s)`;
  console.log(`scenario: ${r.scenario} ${r.varies.map((v) => `--vary '${v}'`).join(" ")}`);
  for (const x of r.local) console.log(row(x));
  if (r.queue === null) {
    console.log(`queue: skipped (${r.queueSkipped ?? "no Redis"})`);
    return;
  }
  const q = r.queue;
  for (const x of q.sweeps) console.log(row(x));
  console.log(`queue alone (${q.redis}), jobs that do no simulation:`);
  console.log(row(q.echo));
  console.log(row(q.echoPipelined));
  console.log(`  per job: Redis CPU ${q.redisCpuMsPerJob} ms, submitter CPU ${q.submitterCpuMsPerJob} ms`);
  console.log("projected seeds/s by worker threads (seed time from local 1 thread + the queue's round trip; capped by Redis and submitter CPU):");
  console.log(q.projection.map((p) => `  ${String(p.threads).padStart(4)} threads: ${String(p.seedsPerSec).padStart(7)} /s (${p.limitedBy})`).join("\n"));
}
