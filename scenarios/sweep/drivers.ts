import { performance } from "node:perf_hooks";
import type { QueueUrl } from "../../real/queue/connection.js";
import { Submitter, type JobOutcome, type Nondeterminism } from "../../real/queue/submitter.js";
import type { BuildVersion } from "../../real/queue/version.js";
import { createJobPool, decodeSeedResult, sweepSeedPayload } from "./jobs.js";
import type { LostSeed, NondeterministicSeed } from "./report.js";
import type { SeedResult } from "./run-seed.js";
import type { PreparedSpec } from "./spec.js";

/**
 * The two ways a sweep's seeds run: in this process's worker threads, or as jobs on a BullMQ queue
 * that `testbed worker`s take. Both hand every result to `onResult` once per seed, in the order they
 * finish, and return the same kind of record.
 */
export interface SweepListener {
  onResult?(result: SeedResult): void;
  /** A situation the user should hear about while waiting (no workers, Redis trouble). */
  onNotice?(line: string): void;
}

export interface SweepRun {
  readonly results: SeedResult[];
  readonly lost: LostSeed[];
  readonly nondeterministic: NondeterministicSeed[];
  readonly ranOn: string;
  readonly wallSeconds: number;
  /** Seeds never started because the run was cancelled. */
  readonly cancelled: number;
}

/** Seeds in flight per thread: enough to keep a thread busy between hand-offs, few enough to stop fast. */
const IN_FLIGHT_PER_THREAD = 2;

export async function sweepLocal(p: PreparedSpec, seeds: readonly number[], threads: number, listener: SweepListener = {}, signal?: AbortSignal): Promise<SweepRun> {
  const started = performance.now();
  const pool = createJobPool(threads);
  const results: SeedResult[] = [];
  let next = 0;
  try {
    const lane = async (): Promise<void> => {
      while (next < seeds.length && signal?.aborted !== true) {
        const seed = seeds[next++] as number;
        const result = (await pool.run({ kind: "sweep-seed", specId: p.id, spec: p.spec, seed })) as SeedResult;
        results.push(result);
        listener.onResult?.(result);
      }
    };
    await Promise.all(Array.from({ length: Math.min(seeds.length, threads * IN_FLIGHT_PER_THREAD) }, lane));
  } finally {
    await pool.close();
  }
  const wallSeconds = round((performance.now() - started) / 1000);
  return { results, lost: [], nondeterministic: [], ranOn: `local, ${threads} thread${threads === 1 ? "" : "s"}`, wallSeconds, cancelled: seeds.length - next };
}

export interface QueuedOptions {
  readonly target: QueueUrl;
  readonly version: BuildVersion;
  readonly listener?: SweepListener;
  readonly signal?: AbortSignal;
}

/** Jobs a submitter keeps in Redis at once; more are added as results come back. */
export const OUTSTANDING_JOBS_MAX = 20_000;
/** How often the submitter collects results. */
const POLL_MS = 200;
/** How long with no worker of this build before the user is told, and how often after that. */
const NO_WORKER_NOTICE_MS = 5_000;
const WORKER_CHECK_MS = 2_000;

export async function sweepQueued(p: PreparedSpec, seeds: readonly number[], o: QueuedOptions): Promise<SweepRun> {
  const jobs = seeds.map((seed) => ({ key: String(seed), kind: "sweep-seed", payload: sweepSeedPayload(p.id, seed) }));
  const run = await runQueued(jobs, {
    ...o,
    what: `sweep ${p.spec.file}`,
    blob: { id: p.id, text: JSON.stringify(p.spec) },
    decode: (key, value) => decodeSeedResult(value, Number(key)),
    onResult: (_key, result) => o.listener?.onResult?.(result),
  });
  return {
    results: [...run.results.values()],
    lost: run.lost.map((l) => ({ seed: Number(l.key), reason: l.reason })),
    nondeterministic: run.nondeterministic.map((n) => ({ seed: Number(n.key), fingerprints: n.fingerprints, workers: n.workers })),
    ranOn: run.ranOn,
    wallSeconds: run.wallSeconds,
    cancelled: run.cancelled,
  };
}

export interface QueuedJob {
  readonly key: string;
  readonly kind: string;
  readonly payload: unknown;
}

export interface QueuedRun<T> {
  /** By job key, in the order the results came back. */
  readonly results: Map<string, T>;
  readonly lost: { key: string; reason: string }[];
  readonly nondeterministic: Nondeterminism[];
  readonly ranOn: string;
  readonly wallSeconds: number;
  readonly cancelled: number;
}

export interface RunQueuedOptions<T> extends QueuedOptions {
  /** What the run is, for workers of other builds to name it. */
  readonly what: string;
  /** Shared data the jobs refer to, stored once. */
  readonly blob?: { readonly id: string; readonly text: string };
  /** Checks a job's returned value: the result, or what is wrong with it. */
  readonly decode: (key: string, value: unknown) => T | string;
  readonly onResult?: (key: string, result: T) => void;
}

/**
 * Runs jobs through the build's queue: adds them in a window, collects each outcome once by key,
 * checks each result, and removes whatever is left when it stops (finished or cancelled).
 */
export async function runQueued<T>(jobs: readonly QueuedJob[], o: RunQueuedOptions<T>): Promise<QueuedRun<T>> {
  const started = performance.now();
  const submitter = await Submitter.open(o.target, o.version);
  for (const w of submitter.warnings) o.listener?.onNotice?.(w);
  const results = new Map<string, T>();
  const lost: { key: string; reason: string }[] = [];
  const pending = new Set<string>();
  let next = 0;
  let workersSeen = 0;
  try {
    if (o.blob !== undefined) await submitter.putBlob(o.blob.id, o.blob.text);
    await submitter.register(jobs.length, o.what);
    const watch = workerWatch(submitter, o.listener);
    while ((next < jobs.length && o.signal?.aborted !== true) || pending.size > 0) {
      if (o.signal?.aborted === true && next < jobs.length) break;
      const room = OUTSTANDING_JOBS_MAX - pending.size;
      if (room > 0 && next < jobs.length) {
        const batch = jobs.slice(next, next + room);
        await submitter.add(batch);
        for (const j of batch) pending.add(j.key);
        next += batch.length;
      }
      await sleep(POLL_MS);
      for (const outcome of await submitter.collect()) {
        if (!pending.delete(outcome.key)) continue;
        const result = count(outcome, o.decode, lost);
        if (result === null) continue;
        results.set(outcome.key, result);
        o.onResult?.(outcome.key, result);
      }
      workersSeen = Math.max(workersSeen, await watch());
    }
    const nondeterministic = await submitter.nondeterminism();
    const wallSeconds = round((performance.now() - started) / 1000);
    return { results, lost, nondeterministic, ranOn: `${o.target.shown}, ${workersSeen} worker${workersSeen === 1 ? "" : "s"}`, wallSeconds, cancelled: jobs.length - next };
  } finally {
    await submitter.finish([...pending]).catch(() => {});
    await submitter.close();
  }
}

/** Checks one outcome: a result, or a lost job with the worker's (or the check's) reason. */
function count<T>(outcome: JobOutcome, decode: (key: string, value: unknown) => T | string, lost: { key: string; reason: string }[]): T | null {
  if (!outcome.ok) {
    lost.push({ key: outcome.key, reason: outcome.reason });
    return null;
  }
  const result = decode(outcome.key, outcome.value);
  if (typeof result === "string") {
    lost.push({ key: outcome.key, reason: `a worker returned a malformed result (${result})` });
    return null;
  }
  return result;
}

/** Tells the user when no worker of this build is connected, and which builds are, every so often. */
function workerWatch(submitter: Submitter, listener: SweepListener | undefined): () => Promise<number> {
  let lastCheckMs = 0;
  let absentSinceMs = performance.now();
  let lastNoticeMs = -Infinity;
  let peak = 0;
  return async () => {
    const now = performance.now();
    if (now - lastCheckMs < WORKER_CHECK_MS) return peak;
    lastCheckMs = now;
    const seen = await submitter.workers();
    peak = Math.max(peak, seen.ours);
    if (seen.ours > 0) absentSinceMs = now;
    else if (now - absentSinceMs > NO_WORKER_NOTICE_MS && now - lastNoticeMs > NO_WORKER_NOTICE_MS * 12) {
      lastNoticeMs = now;
      const others = [...seen.others].map(([v, n]) => `${n} of version ${v}`).join(", ");
      listener?.onNotice?.(
        `no worker of version ${submitter.version.id} is connected to ${submitter.target.shown}; the jobs wait in Redis for one` +
          (others === "" ? "" : ` (workers of other builds refuse them: ${others})`),
      );
    }
    return peak;
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
