import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import { ThreadTaskError } from "./errors.js";
import type { ThreadData, ThreadOutcome } from "./thread-entry.js";

/**
 * Worker threads that run CPU-bound jobs (simulation runs) off the main thread, so the main
 * thread stays free: to renew a queue worker's job locks, to draw progress, to answer signals.
 * Piscina (the Node.js project's pool) does the scheduling; this file only fixes its limits.
 */
export interface ThreadPool<Task, Result> {
  run(task: Task): Promise<Result>;
  readonly threads: number;
  close(): Promise<void>;
}

/** Most threads one pool starts, whatever is asked. */
export const POOL_THREADS_MAX = 256;
/** Tasks waiting for a thread, per thread; callers keep fewer in flight, so this only catches bugs. */
const QUEUED_PER_THREAD_MAX = 1_024;

export function defaultThreads(): number {
  return availableParallelism();
}

/**
 * A pool running the default export of `module` (a compiled .js file). Under the test runner the
 * sources run as .ts, which a worker thread cannot load; the compiled twin in dist/ is used then.
 */
export function createThreadPool<Task, Result>(module: URL, threads: number): ThreadPool<Task, Result> {
  if (!Number.isSafeInteger(threads) || threads < 1 || threads > POOL_THREADS_MAX) throw new Error(`threads: expected 1 to ${POOL_THREADS_MAX}, got ${threads}`);
  // Each thread loads thread-entry, which runs `module` and sends back a thrown error's class name.
  const entry = new URL(import.meta.url.endsWith(".ts") ? "./thread-entry.ts" : "./thread-entry.js", import.meta.url);
  const workerData: ThreadData = { module: compiledPath(module) };
  const pool = new Piscina<Task, ThreadOutcome>({
    filename: compiledPath(entry),
    workerData,
    minThreads: threads,
    maxThreads: threads,
    maxQueue: threads * QUEUED_PER_THREAD_MAX,
    // Threads live as long as the pool: a sweep's threads keep their warmed-up code.
    idleTimeout: 2 ** 31 - 1,
  });
  return {
    threads,
    run: async (task) => {
      const outcome = await pool.run(task);
      if (outcome.ok) return outcome.value as Result;
      throw new ThreadTaskError(outcome.name, outcome.message, outcome.stack);
    },
    close: () => pool.destroy(),
  };
}

function compiledPath(module: URL): string {
  const path = fileURLToPath(module);
  if (!path.endsWith(".ts")) return path;
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const twin = `${root}dist/${path.slice(root.length).replace(/\.ts$/, ".js")}`;
  if (!existsSync(twin)) throw new Error(`${twin}: missing; run npm run build first`);
  return twin;
}
