import type { Command } from "commander";
import { parseQueueUrl } from "../real/queue/connection.js";
import { defaultThreads } from "../real/queue/threads.js";
import { buildVersion } from "../real/queue/version.js";
import { startWorker, WORKER_CONCURRENCY_MAX } from "../real/queue/worker.js";
import { createJobPool, jobHandler } from "../scenarios/sweep/jobs.js";
import { parseWhole } from "./errors.js";
import { runAsync } from "./failure.js";

/** Default lock: a SIGKILLed worker's jobs go back to the queue within about this long. */
const DEFAULT_LOCK_MS = 10_000;

interface WorkerFlags {
  queue: string;
  concurrency?: string;
  lockMs: string;
}

export function registerWorkerCommand(program: Command): void {
  program
    .command("worker")
    .description("take sweep seeds and plan cells from a Redis queue, run them in threads, and return each result with its trace fingerprint")
    .requiredOption("--queue <url>", "Redis to take jobs from (redis://host:port)")
    .option("--concurrency <n>", "jobs at a time, one thread each (default: every core)")
    .option("--lock-ms <ms>", "how long a job's lock lasts unrenewed: after a worker dies its jobs return to the queue within this", String(DEFAULT_LOCK_MS))
    .addHelpText("after", "\nExample:\n  testbed worker --queue redis://10.0.0.5:6379 --concurrency 8\n\nRuns until SIGTERM or SIGINT; then finishes its running jobs (up to 30 s) and exits.")
    .action((f: WorkerFlags) => void runAsync(() => workerCommand(f)));
}

async function workerCommand(f: WorkerFlags): Promise<number> {
  const target = parseQueueUrl(f.queue);
  const concurrency = f.concurrency === undefined ? defaultThreads() : parseWhole("--concurrency", f.concurrency, 1, WORKER_CONCURRENCY_MAX);
  const lockMs = parseWhole("--lock-ms", f.lockMs, 1_000, 3_600_000);
  const log = (line: string): void => console.log(`${new Date().toISOString()} ${line}`);
  // Listening before connecting: a signal that comes while the worker starts still stops it cleanly.
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log(`${signal}: finishing running jobs, then stopping`);
      resolve();
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
  const pool = createJobPool(concurrency);
  let worker;
  try {
    worker = await startWorker({ target, version: buildVersion(), concurrency, lockMs, handle: jobHandler(pool), log });
  } catch (error) {
    await pool.close();
    throw error;
  }
  const running = worker;
  await stopped;
  await running.stop();
  await pool.close();
  log(`stopped: ${running.counts.done} jobs done, ${running.counts.refused} refused, ${running.counts.nondeterministic} nondeterministic`);
  return 0;
}
