import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Job, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { connectRedis, evictionWarning, reasonOf, type QueueUrl } from "./connection.js";
import { decodeEnvelope, KEY_PREFIX, keys, type JobEnvelope } from "./job.js";
import { CLOSE_DEADLINE_MS, fateOf, nothingToWaitFor, settlesWithin, STOP_GRACE_MS, stoppingLine, waitUntil, type HeldJob, type StopReport } from "./stopping.js";
import type { BuildVersion } from "./version.js";

/** A job's answer: anything JSON, with the run's trace fingerprint (empty when nothing ran). */
export interface JobAnswer {
  readonly fingerprint: string;
}

/** A job the handler cannot run because of what it holds: failed at once, never retried. */
export class JobRefused extends Error {
  override readonly name = "JobRefused";
}

export interface JobContext {
  /** Shared data a submitter stored under `id` (a sweep's scenario), or null if it is gone. */
  blob(id: string): Promise<string | null>;
}

export interface WorkerOptions {
  readonly target: QueueUrl;
  readonly version: BuildVersion;
  readonly concurrency: number;
  /** How long a job's lock lasts unrenewed: a dead worker's jobs go back to the queue after it. */
  readonly lockMs: number;
  readonly handle: (job: JobEnvelope, context: JobContext) => Promise<JobAnswer>;
  readonly log: (line: string) => void;
}

export interface RunningWorker {
  readonly id: string;
  /**
   * Stops taking jobs, lets the running ones finish (up to `graceMs`), then closes the queue and
   * its connections (cut after CLOSE_DEADLINE_MS even when Redis is gone or hangs). `why` starts
   * the line it logs. Says what became of each job it held.
   */
  stop(graceMs?: number, why?: string): Promise<StopReport>;
  readonly counts: { done: number; refused: number; nondeterministic: number };
}

/** Most workers one queue runs per process; each is a job in flight in a thread. */
export const WORKER_CONCURRENCY_MAX = 256;
/** Heartbeats: written this often, and gone this long after the last one. */
const HEARTBEAT_MS = 5_000;
const HEARTBEAT_TTL_MS = 15_000;
/** How often a worker looks for runs of other builds that it must leave alone (and says so). */
const GATE_SCAN_MS = 5_000;
/** Fingerprint tables and disagreement lists outlive an abandoned run by this much, then expire. */
export const RUN_KEYS_TTL_SEC = 86_400;
/** A job whose worker died returns to the queue once; a second death fails it. */
const MAX_STALLED_COUNT = 2;
/** Specs kept per worker (each a scenario's text). */
const BLOBS_CACHED_MAX = 32;

export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const redis = await connectRedis(o.target, { blocking: true });
  const warning = await evictionWarning(redis, o.target);
  if (warning !== null) o.log(`warning: ${warning}`);
  const id = randomUUID();
  const counts = { done: 0, refused: 0, nondeterministic: 0 };
  const blobs = new Map<string, string>();
  const context: JobContext = { blob: (blobId) => cachedBlob(redis, blobs, blobId) };
  // Jobs from start until their result is in Redis (at most `concurrency`: BullMQ gives no more).
  const held = new Map<string, HeldJob>();
  const state: WorkerState = { o, redis, id, counts, held, stopping: null, quiet: false };
  // Loaded only by commands that use the queue (it adds to every command's start-up otherwise).
  const { UnrecoverableError, Worker } = await import("bullmq");
  const worker = new Worker(keys.queue(o.version.id), (job: Job) => processJob(job, state, context, UnrecoverableError), {
    connection: redis,
    prefix: KEY_PREFIX,
    concurrency: o.concurrency,
    lockDuration: o.lockMs,
    stalledInterval: Math.max(500, Math.round(o.lockMs / 2)),
    maxStalledCount: MAX_STALLED_COUNT,
    name: `testbed-worker-${id}`,
  });
  let lastError = "";
  worker.on("error", (error) => {
    // A dropped connection repeats its error on every retry; say it once per change. Errors of
    // the stop's own cutting of connections say nothing new.
    const line = reasonOf(error);
    if (line !== lastError && !state.quiet) o.log(`queue error: ${line}`);
    lastError = line;
  });
  worker.on("stalled", (jobId) => o.log(`job ${jobId} stalled (its worker died or stopped answering); it is back in the queue`));
  worker.on("failed", (job, error) => {
    if (job?.id !== undefined) held.delete(job.id);
    if (error instanceof UnrecoverableError) o.log(`refused job ${job?.id ?? "?"}: ${error.message}`);
  });
  worker.on("completed", (job) => {
    if (job.id !== undefined) held.delete(job.id);
  });
  const timers = startBeats(state);
  o.log(`worker ${id.slice(0, 8)} on ${o.target.shown}, version ${o.version.id}, ${o.concurrency} at a time`);
  return {
    id,
    counts,
    stop: (graceMs = STOP_GRACE_MS, why = "stopping") => {
      for (const t of timers) clearInterval(t);
      return stopWorker(state, worker, graceMs, why);
    },
  };
}

interface WorkerState {
  readonly o: WorkerOptions;
  readonly redis: Redis;
  readonly id: string;
  readonly counts: RunningWorker["counts"];
  readonly held: Map<string, HeldJob>;
  /** Every job held since the stop began, or null while not stopping. */
  stopping: Map<string, HeldJob> | null;
  /** Set while the stop cuts connections: the errors that follow are its own doing. */
  quiet: boolean;
}

/** Heartbeats and gate scans, on timers that do not keep the process alive. */
function startBeats(s: WorkerState): NodeJS.Timeout[] {
  const beat = (): void => {
    const info = { version: s.o.version.id, host: hostname(), pid: process.pid, concurrency: s.o.concurrency, done: s.counts.done };
    s.redis.set(keys.worker(s.id), JSON.stringify(info), "PX", HEARTBEAT_TTL_MS).catch(() => {});
  };
  beat();
  const reported = new Set<string>();
  const gate = (): void => {
    scanOtherBuilds(s.redis, s.o.version.id, reported, s.o.log).catch(() => {});
  };
  gate();
  const timers = [setInterval(beat, HEARTBEAT_MS), setInterval(gate, GATE_SCAN_MS)];
  for (const t of timers) t.unref();
  return timers;
}

/**
 * Pauses (no more jobs; the running ones go on), waits for the held jobs up to the grace, then
 * force-closes BullMQ, which then writes nothing more for them: a job still held stays active in
 * Redis until its lock lapses, and another worker's stalled check hands it on. Every wait has a
 * limit, so a worker whose Redis is gone or hangs still stops.
 */
async function stopWorker(s: WorkerState, worker: Worker, graceMs: number, why: string): Promise<StopReport> {
  if (s.stopping !== null) throw new Error("the worker is already stopping");
  s.stopping = new Map(s.held);
  s.o.log(stoppingLine(why, s.held, graceMs));
  void worker.pause(true).catch(() => {});
  await waitUntil(() => nothingToWaitFor(s.held, s.redis.status === "ready"), graceMs);
  const redisReady = s.redis.status === "ready";
  s.quiet = true;
  const forget = redisReady ? s.redis.del(keys.worker(s.id)) : Promise.resolve();
  const closed = await settlesWithin(Promise.all([forget, worker.close(true)]), CLOSE_DEADLINE_MS);
  s.redis.disconnect();
  // BullMQ's own connection (for blocking reads) is cut too when closing it did not finish.
  if (!closed) void settlesWithin(worker.disconnect(), CLOSE_DEADLINE_MS);
  const jobs = [...s.stopping.values()].map((j) => ({ id: j.id, kind: j.kind, fate: fateOf(j, s.held) }));
  return { graceMs, lockMs: s.o.lockMs, jobs, redisReady, closed };
}

async function processJob(job: Job, s: WorkerState, context: JobContext, UnrecoverableError: new (message: string) => Error): Promise<JobAnswer> {
  // Held until the result is in Redis (the completed or failed event); "computed" once the
  // handler has answered, since what follows only waits on Redis.
  const held: HeldJob = { id: job.id ?? "?", kind: job.name, phase: "running" };
  s.held.set(held.id, held);
  s.stopping?.set(held.id, held);
  const envelope = decodeEnvelope(job.data);
  const refuse = (why: string): never => {
    held.phase = "computed";
    s.counts.refused++;
    throw new UnrecoverableError(why);
  };
  if (typeof envelope === "string") return refuse(`malformed job: ${envelope}`);
  if (envelope.version !== s.o.version.id) return refuse(`built for version ${envelope.version}, this worker is ${s.o.version.id} (version gating)`);
  let answer: JobAnswer;
  try {
    answer = await s.o.handle(envelope, context);
  } catch (error) {
    if (error instanceof JobRefused) return refuse(error.message);
    throw error;
  } finally {
    held.phase = "computed";
  }
  if (answer.fingerprint !== "" && (await recordFingerprint(s.redis, envelope, answer.fingerprint, s.id))) s.counts.nondeterministic++;
  s.counts.done++;
  return answer;
}

/**
 * Delivery is at least once, so a job can run twice (its first worker lost its lock but kept
 * running). The first fingerprint per job is kept; a later one that differs is the same run giving
 * two answers, which is recorded as nondeterminism for the submitter. Returns whether it differed.
 */
export async function recordFingerprint(redis: Redis, job: JobEnvelope, fingerprint: string, workerId: string): Promise<boolean> {
  const table = keys.fingerprints(job.run);
  const entry = JSON.stringify({ fingerprint, worker: workerId, host: hostname() });
  const [[, added]] = (await redis.multi().hsetnx(table, job.key, entry).expire(table, RUN_KEYS_TTL_SEC).exec()) as [[null, number]];
  if (added === 1) return false;
  const first = JSON.parse((await redis.hget(table, job.key)) ?? "{}") as { fingerprint?: string; worker?: string; host?: string };
  if (first.fingerprint === fingerprint) return false;
  const list = keys.nondeterminism(job.run);
  const record = { key: job.key, kind: job.kind, fingerprints: [first.fingerprint ?? "", fingerprint], workers: [`${first.host}/${first.worker}`, `${hostname()}/${workerId}`] };
  await redis.multi().rpush(list, JSON.stringify(record)).expire(list, RUN_KEYS_TTL_SEC).exec();
  return true;
}

async function cachedBlob(redis: Redis, cache: Map<string, string>, id: string): Promise<string | null> {
  const hit = cache.get(id);
  if (hit !== undefined) return hit;
  const text = await redis.get(keys.blob(id));
  if (text === null) return null;
  if (cache.size >= BLOBS_CACHED_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(id, text);
  return text;
}

/** Says once per run that runs of another build wait for their own workers; this one leaves them. */
async function scanOtherBuilds(redis: Redis, version: string, reported: Set<string>, log: (line: string) => void): Promise<void> {
  for (const run of await redis.srandmember(keys.runs, RUNS_SCANNED_MAX)) {
    if (reported.has(run)) continue;
    const text = await redis.get(keys.run(run));
    if (text === null) {
      await redis.srem(keys.runs, run); // Its submitter is gone and the registration expired.
      continue;
    }
    const info = JSON.parse(text) as { version?: string; jobs?: number; what?: string };
    if (info.version === undefined || info.version === version) continue;
    reported.add(run);
    log(`refusing run ${run} (${info.jobs ?? "?"} jobs, ${info.what ?? "?"}): built for version ${info.version}, this worker is ${version} (version gating); start a worker of that build for it`);
  }
}

/** Runs one gate scan looks at. */
const RUNS_SCANNED_MAX = 1_000;

/** Most keys one pattern scan returns: runs and workers are few; this bounds a polluted database. */
const SCAN_KEYS_MAX = 10_000;

export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    found.push(...batch);
    cursor = next;
  } while (cursor !== "0" && found.length < SCAN_KEYS_MAX);
  return found.slice(0, SCAN_KEYS_MAX);
}
