import { performance } from "node:perf_hooks";
import { parentPort, workerData } from "node:worker_threads";
import { JOBS, type JobName } from "./jobs.js";

/** How often progress is posted to the main thread at most (its bar redraws every 100 ms). */
const PROGRESS_EVERY_MS = 50;

/** The worker side of runJob: runs one job from JOBS and posts its progress, items and outcome. */
function main(): void {
  const port = parentPort;
  if (port === null) throw new Error("job-worker.js runs only as a worker thread");
  const { job, input } = workerData as { job: JobName; input: never };
  let lastMs = -Infinity;
  const ctx = {
    progress(fraction: number, note?: string): void {
      const now = performance.now();
      if (now - lastMs < PROGRESS_EVERY_MS && fraction < 1) return;
      lastMs = now;
      port.postMessage({ type: "progress", fraction, note });
    },
    emit(item: unknown): void {
      port.postMessage({ type: "item", item });
    },
  };
  try {
    port.postMessage({ type: "done", output: JOBS[job](input, ctx) });
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    port.postMessage({ type: "error", name: e.name, message: e.message, stack: e.stack });
  }
}

main();
