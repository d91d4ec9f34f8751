import { US_PER_MS } from "../../core/engine/index.js";
import { wallClock } from "../runtime/index.js";

/**
 * How a queue worker stops: the jobs it holds, what became of each, and the waits with limits that
 * make a stop end even when Redis is gone or hangs (BullMQ's own close waits on Redis without limit).
 */

/** A job a worker holds, from when it starts until its result is in Redis. */
export interface HeldJob {
  readonly id: string;
  readonly kind: string;
  /** running: the handler has not answered yet; computed: it has, and the result is not in Redis yet. */
  phase: "running" | "computed";
}

/** returned: its result is in Redis. unreturned: it ran, but its result never reached Redis. running: cut off. */
export type JobFate = "returned" | "unreturned" | "running";

export interface StopReport {
  readonly graceMs: number;
  readonly lockMs: number;
  /** Each job held while stopping, in the order taken. */
  readonly jobs: readonly { readonly id: string; readonly kind: string; readonly fate: JobFate }[];
  /** Whether Redis was connected when the wait for the jobs ended. */
  readonly redisReady: boolean;
  /** False when BullMQ had not closed within `CLOSE_DEADLINE_MS` and its connections were cut. */
  readonly closed: boolean;
}

/** Time a stopping worker gives running jobs before it abandons them (they return to the queue). */
export const STOP_GRACE_MS = 30_000;
/** Once the grace is over: how long closing the queue and its connections may take before they are cut. */
export const CLOSE_DEADLINE_MS = 5_000;
/** How often a stopping worker looks whether its jobs are done. */
export const STOP_POLL_MS = 50;

/** Whether the held jobs are all as done as they can get: returned, or ran with no Redis to return to. */
export function nothingToWaitFor(held: ReadonlyMap<string, HeldJob>, redisReady: boolean): boolean {
  for (const job of held.values()) if (job.phase === "running" || redisReady) return false;
  return true;
}

/** Polls `done` every STOP_POLL_MS until it holds or `limitMs` passes; says whether it held. */
export async function waitUntil(done: () => boolean, limitMs: number): Promise<boolean> {
  const clock = wallClock();
  while (!done()) {
    if (clock.now() >= limitMs * US_PER_MS) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(STOP_POLL_MS, limitMs)));
  }
  return true;
}

/** Whether `work` settled within `limitMs`; its failure counts as settled (it is over either way). */
export async function settlesWithin(work: Promise<unknown>, limitMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), limitMs)));
  const settled = work.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}

export function fateOf(job: HeldJob, held: ReadonlyMap<string, HeldJob>): JobFate {
  if (!held.has(job.id)) return "returned";
  return job.phase === "computed" ? "unreturned" : "running";
}

/** The line a stopping worker prints when it starts stopping. */
export function stoppingLine(why: string, held: ReadonlyMap<string, HeldJob>, graceMs: number): string {
  if (held.size === 0) return `${why}: taking no more jobs; no job was running`;
  const jobs = [...held.values()].map((j) => `job ${j.id} (${j.kind})`).join(", ");
  return `${why}: taking no more jobs; ${jobs} running, up to ${seconds(graceMs)} to finish`;
}

/** One line per job held while stopping: what became of it, and for a cut-off job who runs it now. */
export function fateLines(report: StopReport): string[] {
  const again = `it goes back to the queue when its lock lapses (within ${seconds(report.lockMs)}) and another worker runs it`;
  return report.jobs.map((j) => {
    const job = `job ${j.id} (${j.kind})`;
    if (j.fate === "returned") return `${job}: finished; its result is in Redis`;
    if (j.fate === "unreturned" && !report.redisReady) return `${job}: finished, but its result could not be returned (Redis unreachable); ${again}`;
    if (j.fate === "unreturned") return `${job}: finished, but Redis did not take its result within the ${seconds(report.graceMs)} grace; ${again}`;
    return `${job}: still running after the ${seconds(report.graceMs)} grace, stopped; ${again}`;
  });
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
