import { randomUUID } from "node:crypto";
import type { JobsOptions, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { wallClock } from "../runtime/clock.js";
import { connectRedis, evictionWarning, QueueError, reasonOf, type QueueUrl } from "./connection.js";
import { jobId, JOB_FORMAT, KEY_PREFIX, keys, type JobEnvelope } from "./job.js";
import type { BuildVersion } from "./version.js";
import { RUN_KEYS_TTL_SEC, scanKeys } from "./worker.js";

/** One job's end, taken from the job's stored return value (not BullMQ's trimmed event stream). */
export type JobOutcome = { readonly key: string; readonly ok: true; readonly value: unknown } | { readonly key: string; readonly ok: false; readonly reason: string };

export interface Nondeterminism {
  readonly key: string;
  readonly kind: string;
  readonly fingerprints: readonly string[];
  readonly workers: readonly string[];
}

export interface WorkersSeen {
  /** Live workers of this build, and the threads they run. */
  readonly ours: number;
  readonly oursConcurrency: number;
  /** Live workers of other builds, by version: they will not take this run's jobs. */
  readonly others: ReadonlyMap<string, number>;
}

/** Jobs per addBulk call: one round trip each, and bounded memory in Redis's reply. */
const ADD_BULK_MAX = 1_000;
/** Finished jobs read per page while collecting. */
const COLLECT_PAGE = 1_000;
/** A run's registration lasts this long unrefreshed; a dead submitter's run disappears after it. */
const RUN_REGISTRATION_TTL_MS = 60_000;
/** A job that fails for a reason other than refusal is tried this many times in all. */
const JOB_ATTEMPTS = 3;
/** How long Redis may stay unreachable in the middle of a run before the submitter gives up. */
export const REDIS_LOST_GIVE_UP_MS = 60_000;

/**
 * The submitting side of a run: adds its jobs to its build's queue, collects each job's outcome
 * exactly once, by job id, from the jobs' stored results, and cleans up after itself.
 */
export class Submitter {
  readonly run: string;
  private readonly counted = new Set<string>();
  private readonly clock = wallClock();
  private lastContactUs = 0;

  private constructor(
    private readonly redis: Redis,
    private readonly queue: Queue,
    readonly target: QueueUrl,
    readonly version: BuildVersion,
    readonly warnings: readonly string[],
  ) {
    this.run = randomUUID().slice(0, 13).replace("-", "");
  }

  static async open(target: QueueUrl, version: BuildVersion): Promise<Submitter> {
    const redis = await connectRedis(target, { blocking: false });
    const warning = await evictionWarning(redis, target);
    const bullmq = await import("bullmq"); // loaded only by commands that use the queue
    const queue = new bullmq.Queue(keys.queue(version.id), { connection: redis, prefix: KEY_PREFIX });
    queue.on("error", () => {}); // Reported where a call fails; a listener keeps Node from printing a stack.
    return new Submitter(redis, queue, target, version, warning === null ? [] : [warning]);
  }

  /** Stores shared data for the run's jobs under a content id (kept while the run lives). */
  async putBlob(id: string, text: string): Promise<void> {
    await this.call("store the run's scenario", () => this.redis.set(keys.blob(id), text, "EX", RUN_KEYS_TTL_SEC));
  }

  /** Announces the run, so workers of other builds can say they leave it alone. */
  async register(jobs: number, what: string): Promise<void> {
    const info = JSON.stringify({ version: this.version.id, jobs, what });
    await this.call("register the run", () => this.redis.multi().set(keys.run(this.run), info, "PX", RUN_REGISTRATION_TTL_MS).sadd(keys.runs, this.run).exec());
  }

  async add(jobs: readonly { key: string; kind: string; payload: unknown }[]): Promise<void> {
    const options: JobsOptions = {
      attempts: JOB_ATTEMPTS,
      backoff: { type: "exponential", delay: 1_000 },
      // Collected and removed by this submitter within seconds; these only bound what an abandoned
      // run leaves behind, so a crashed submitter cannot fill Redis for ever.
      removeOnComplete: { age: RUN_KEYS_TTL_SEC },
      removeOnFail: { age: RUN_KEYS_TTL_SEC },
    };
    for (let i = 0; i < jobs.length; i += ADD_BULK_MAX) {
      const batch = jobs.slice(i, i + ADD_BULK_MAX).map((j) => {
        const data: JobEnvelope = { format: JOB_FORMAT, version: this.version.id, run: this.run, key: j.key, kind: j.kind, payload: j.payload };
        return { name: j.kind, data, opts: { ...options, jobId: jobId(this.run, j.key) } };
      });
      await this.call("add jobs", () => this.queue.addBulk(batch));
    }
  }

  /** Outcomes not collected before, each job once; collected jobs are removed from Redis. */
  async collect(): Promise<JobOutcome[]> {
    const prefix = jobId(this.run, "");
    const out: JobOutcome[] = [];
    const done: string[] = [];
    for (const state of ["completed", "failed"] as const) {
      for (let start = 0; ; start += COLLECT_PAGE) {
        const jobs = await this.call("collect results", () => this.queue.getJobs([state], start, start + COLLECT_PAGE - 1, true));
        for (const job of jobs) {
          const id = job?.id;
          if (id === undefined || !id.startsWith(prefix)) continue;
          done.push(id);
          if (this.counted.has(id)) continue;
          this.counted.add(id);
          const key = id.slice(prefix.length);
          out.push(state === "completed" ? { key, ok: true, value: job.returnvalue } : { key, ok: false, reason: job.failedReason ?? "failed" });
        }
        if (jobs.length < COLLECT_PAGE) break;
      }
    }
    await this.call("remove collected jobs", () => Promise.all(done.map((id) => this.queue.remove(id))));
    await this.call("refresh the run", () => this.redis.pexpire(keys.run(this.run), RUN_REGISTRATION_TTL_MS));
    return out;
  }

  async nondeterminism(): Promise<Nondeterminism[]> {
    const lines = await this.call("read nondeterminism", () => this.redis.lrange(keys.nondeterminism(this.run), 0, -1));
    return lines.map((l) => JSON.parse(l) as Nondeterminism);
  }

  async workers(): Promise<WorkersSeen> {
    const found = await this.call("list workers", () => scanKeys(this.redis, keys.workerPattern));
    const infos = found.length === 0 ? [] : await this.call("list workers", () => this.redis.mget(found));
    let ours = 0;
    let oursConcurrency = 0;
    const others = new Map<string, number>();
    for (const text of infos) {
      const info = JSON.parse(text ?? "null") as { version?: string; concurrency?: number } | null;
      if (info?.version === undefined) continue;
      if (info.version === this.version.id) {
        ours++;
        oursConcurrency += info.concurrency ?? 1;
      } else others.set(info.version, (others.get(info.version) ?? 0) + 1);
    }
    return { ours, oursConcurrency, others };
  }

  /** Removes the run's jobs still waiting (a cancelled run) and its keys. */
  async finish(pendingKeys: readonly string[]): Promise<void> {
    await Promise.all(pendingKeys.map((k) => this.queue.remove(jobId(this.run, k)).catch(() => 0)));
    await this.redis.multi().del(keys.run(this.run), keys.fingerprints(this.run), keys.nondeterminism(this.run)).srem(keys.runs, this.run).exec().catch(() => null);
  }

  async close(): Promise<void> {
    await this.queue.close().catch(() => {});
    this.redis.disconnect();
  }

  /**
   * Runs one Redis step. While Redis is unreachable the step is retried (ioredis reconnects with
   * backoff); after REDIS_LOST_GIVE_UP_MS without any step succeeding, the run ends with one line.
   */
  private async call<T>(what: string, step: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        const value = await step();
        this.lastContactUs = this.clock.now();
        return value;
      } catch (error) {
        if (this.clock.now() - this.lastContactUs > REDIS_LOST_GIVE_UP_MS * 1000) {
          throw new QueueError(`${this.target.shown}: lost the connection (${reasonOf(error)}) while trying to ${what}; queued jobs stay in Redis`);
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }
}
