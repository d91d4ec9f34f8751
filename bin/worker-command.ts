import type { Command } from "commander";
import { parseQueueUrl } from "../real/queue/connection.js";
import { defaultThreads } from "../real/queue/threads.js";
import { buildVersion } from "../real/queue/version.js";
import { CLOSE_DEADLINE_MS, fateLines, settlesWithin, STOP_GRACE_MS } from "../real/queue/stopping.js";
import { startWorker, WORKER_CONCURRENCY_MAX } from "../real/queue/worker.js";
import { createJobPool, jobHandler } from "../scenarios/sweep/jobs.js";
import { parseWhole } from "./errors.js";
import { runAsync } from "./failure.js";

/** Default lock: a SIGKILLed worker's jobs go back to the queue within about this long. */
const DEFAULT_LOCK_MS = 10_000;
/** Longest grace a user may ask for: beyond it a stop is a hang to the scheduler that sent SIGTERM. */
const GRACE_MS_MAX = 3_600_000;
/**
 * After the worker has stopped, the process ends by itself; if anything still holds it open
 * (a connection a library kept) past this, it exits anyway: a SIGTERM must end the process.
 */
const EXIT_DEADLINE_MS = 2_000;

interface WorkerFlags {
  queue: string;
  concurrency?: string;
  lockMs: string;
  graceMs: string;
}

export function registerWorkerCommand(program: Command): void {
  program
    .command("worker")
    .description("take sweep seeds and plan cells from a Redis queue, run them in threads, and return each result with its trace fingerprint")
    .requiredOption("--queue <url>", "Redis to take jobs from (redis://host:port)")
    .option("--concurrency <n>", "jobs at a time, one thread each (default: every core)")
    .option("--lock-ms <ms>", "how long a job's lock lasts unrenewed: after a worker dies its jobs return to the queue within this", String(DEFAULT_LOCK_MS))
    .option("--grace-ms <ms>", "on SIGTERM or SIGINT, how long running jobs may take to finish before they are abandoned to other workers", String(STOP_GRACE_MS))
    .addHelpText(
      "after",
      `\nExample:\n  testbed worker --queue redis://10.0.0.5:6379 --concurrency 8\n\nRuns until SIGTERM or SIGINT; then takes no more jobs, gives the running ones the grace to finish, closes its connections (cut after ${CLOSE_DEADLINE_MS / 1000} s, even with Redis gone) and exits, saying what became of each job.`,
    )
    .action((f: WorkerFlags) => void runAsync(() => workerCommand(f)));
}

async function workerCommand(f: WorkerFlags): Promise<number> {
  const target = parseQueueUrl(f.queue);
  const concurrency = f.concurrency === undefined ? defaultThreads() : parseWhole("--concurrency", f.concurrency, 1, WORKER_CONCURRENCY_MAX);
  const lockMs = parseWhole("--lock-ms", f.lockMs, 1_000, 3_600_000);
  const graceMs = parseWhole("--grace-ms", f.graceMs, 0, GRACE_MS_MAX);
  const log = (line: string): void => console.log(`${new Date().toISOString()} ${line}`);
  // Listening before connecting: a signal that comes while the worker starts still stops it cleanly.
  // A second signal while stopping gets the default action (the process ends at once).
  const stopped = new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
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
  const report = await running.stop(graceMs, await stopped);
  // Threads still running abandoned jobs end here (a thread is terminated even mid-computation).
  await settlesWithin(pool.close(), CLOSE_DEADLINE_MS);
  for (const line of fateLines(report)) log(line);
  const cut = report.closed ? "" : `; Redis did not let the queue close within ${CLOSE_DEADLINE_MS / 1000} s, its connections were cut`;
  log(`stopped: ${running.counts.done} jobs done, ${running.counts.refused} refused, ${running.counts.nondeterministic} nondeterministic${cut}`);
  setTimeout(() => {
    log("exiting: something still held the process open after the worker stopped");
    process.exit(process.exitCode ?? 0);
  }, EXIT_DEADLINE_MS).unref();
  return 0;
}
