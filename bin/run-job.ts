import { Worker } from "node:worker_threads";
import { errorFromThread } from "./failure.js";
import type { JobName, Jobs } from "./jobs.js";

export interface JobHandlers<K extends JobName> {
  progress?: (fraction: number, note?: string) => void;
  item?: (item: Jobs[K] extends { item: infer I } ? I : never) => void;
}

type Message =
  | { type: "progress"; fraction: number; note?: string }
  | { type: "item"; item: unknown }
  | { type: "done"; output: unknown }
  | { type: "error"; name: string; message: string; stack?: string };

/**
 * Runs a long synchronous job (see Jobs) on a worker thread and resolves with its output. The main
 * thread stays free, so an interrupt is handled at once: its handler exits the process, and the
 * worker with it. A user's mistake found in the worker comes back as its own error class; anything
 * else is a bug and comes back with the worker's stack.
 */
export function runJob<K extends JobName>(job: K, input: Jobs[K]["input"], on: JobHandlers<K> = {}): Promise<Jobs[K]["output"]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./job-worker.js", import.meta.url), { workerData: { job, input } });
    let settled = false;
    worker.on("message", (m: Message) => {
      if (m.type === "progress") on.progress?.(m.fraction, m.note);
      else if (m.type === "item") on.item?.(m.item as never);
      else if (m.type === "done") {
        settled = true;
        resolve(m.output as Jobs[K]["output"]);
      } else {
        settled = true;
        reject(errorFromThread(m.name, m.message, m.stack));
      }
    });
    worker.on("error", (error) => {
      settled = true;
      reject(error);
    });
    worker.on("exit", (code) => {
      if (!settled) reject(new Error(`job ${job}: worker exited with code ${code} before finishing`));
    });
  });
}
