import { spawn } from "node:child_process";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Redis } from "ioredis";
import { parseQueueUrl, type QueueUrl } from "../../real/queue/connection.js";
import { startLocalRedis, redisServerInstalled, type LocalRedis } from "../../real/queue/redis-server.js";
import { Submitter } from "../../real/queue/submitter.js";
import { buildVersion, packageRoot } from "../../real/queue/version.js";
import { sweepLocal, sweepQueued } from "./drivers.js";
import { echoFingerprint } from "./job-thread.js";
import { shardSeeds } from "./seeds.js";
import { readSweepSpec, type PreparedSpec } from "./spec.js";

/**
 * `testbed bench sweep`: what the queue costs per job and what it buys. On one machine it runs the
 * same short sweep in local threads (1 and N) and through Redis with 1 and 2 `testbed worker`
 * processes; it measures the queue's own cost with jobs that do no simulation (`echo`); and from
 * the measured per-job costs it projects the rate with more workers, up to where Redis or the
 * submitter would saturate.
 */
export interface SweepBenchOptions {
  readonly seeds: number;
  readonly echoJobs: number;
  /** Redis to use; null starts a private redis-server when one is installed. */
  readonly queue: string | null;
  readonly threads: number;
  readonly log?: (line: string) => void;
}

export interface RateFigure {
  readonly label: string;
  readonly jobs: number;
  readonly seconds: number;
  readonly perSec: number;
  readonly msPerJob: number;
}

export interface Projection {
  readonly threads: number;
  readonly seedsPerSec: number;
  readonly limitedBy: "workers" | "redis" | "submitter";
}

export interface SweepBenchResult {
  readonly scenario: string;
  readonly varies: readonly string[];
  readonly local: readonly RateFigure[];
  readonly queue: null | {
    readonly redis: string;
    readonly echo: RateFigure;
    readonly echoPipelined: RateFigure;
    readonly sweeps: readonly RateFigure[];
    readonly redisCpuMsPerJob: number;
    readonly submitterCpuMsPerJob: number;
    readonly projection: readonly Projection[];
  };
  readonly queueSkipped?: string;
}

export const BENCH_SCENARIO = "scenarios/sweep/examples/idle-exit-race.json";
export const BENCH_VARIES = ["frisbee.clients[1].at=0ms..1500ms", "faults[0]=on|off"];
/** Threads per projected row: workers times their concurrency. */
const PROJECTED_THREADS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] as const;

export async function runSweepBench(o: SweepBenchOptions): Promise<SweepBenchResult> {
  const log = o.log ?? ((): void => {});
  const p = readSweepSpec(join(packageRoot(), BENCH_SCENARIO), BENCH_VARIES, 1);
  const seeds = shardSeeds({ first: 1, last: o.seeds }, { index: 1, count: 1 });
  const local: RateFigure[] = [];
  for (const threads of [...new Set([1, o.threads])]) {
    log(`local, ${threads} thread(s)`);
    const run = await sweepLocal(p, seeds, threads);
    local.push(figure(`local, ${threads} thread${threads === 1 ? "" : "s"}`, seeds.length, run.wallSeconds));
  }
  const base = { scenario: BENCH_SCENARIO, varies: BENCH_VARIES, local };
  if (o.queue === null && !redisServerInstalled()) return { ...base, queue: null, queueSkipped: "no --queue given and redis-server is not installed" };
  const started: LocalRedis | null = o.queue === null ? await startLocalRedis() : null;
  try {
    const target = parseQueueUrl(o.queue ?? (started as LocalRedis).url);
    return { ...base, queue: await queueFigures(p, seeds, target, o, (local[0] as RateFigure).msPerJob, log) };
  } finally {
    await started?.stop();
  }
}

async function queueFigures(p: PreparedSpec, seeds: readonly number[], target: QueueUrl, o: SweepBenchOptions, seedMs: number, log: (line: string) => void): Promise<NonNullable<SweepBenchResult["queue"]>> {
  log("echo jobs, 1 worker, 1 at a time");
  const serial = await withWorkers(target, 1, 1, () => echoRun(target, o.echoJobs));
  log("echo jobs, 1 worker, 8 at a time");
  const pipelined = await withWorkers(target, 1, 8, () => echoRun(target, o.echoJobs));
  const sweeps: RateFigure[] = [];
  for (const workers of [1, 2]) {
    log(`sweep, ${workers} worker(s), 1 thread each`);
    const run = await withWorkers(target, workers, 1, () => sweepQueued(p, seeds, { target, version: buildVersion() }));
    sweeps.push(figure(`queue, ${workers} worker${workers === 1 ? "" : "s"} x 1 thread`, seeds.length, run.wallSeconds));
  }
  const echo = figure("echo, 1 worker x 1", o.echoJobs, serial.seconds);
  const redisCpuMsPerJob = round(Math.max(serial.redisCpuMs / o.echoJobs, 1e-6));
  const submitterCpuMsPerJob = round(Math.max(serial.submitterCpuMs / o.echoJobs, 1e-6));
  return {
    redis: target.shown,
    echo,
    echoPipelined: figure("echo, 1 worker x 8", o.echoJobs, pipelined.seconds),
    sweeps,
    redisCpuMsPerJob,
    submitterCpuMsPerJob,
    projection: project(seedMs, echo.msPerJob, redisCpuMsPerJob, submitterCpuMsPerJob),
  };
}

/**
 * A thread finishes a seed every (simulation + queue round trip) ms; Redis serves one job per
 * redisCpuMsPerJob of its one core, the submitter collects one per submitterCpuMsPerJob.
 */
export function project(seedMs: number, queueMs: number, redisMs: number, submitterMs: number): Projection[] {
  return PROJECTED_THREADS.map((threads) => {
    const byWorkers = (threads * 1000) / (seedMs + queueMs);
    const byRedis = 1000 / redisMs;
    const bySubmitter = 1000 / submitterMs;
    const best = Math.min(byWorkers, byRedis, bySubmitter);
    const limitedBy = best === byWorkers ? "workers" : best === byRedis ? "redis" : "submitter";
    return { threads, seedsPerSec: Math.round(best), limitedBy };
  });
}

interface EchoRun {
  seconds: number;
  redisCpuMs: number;
  submitterCpuMs: number;
}

/** `jobs` echo jobs through the queue, timed, with Redis's and this process's CPU time for them. */
async function echoRun(target: QueueUrl, jobs: number): Promise<EchoRun> {
  const { Redis: RedisClient } = await import("ioredis");
  const redis = new RedisClient(target.url, { maxRetriesPerRequest: 1 });
  const submitter = await Submitter.open(target, buildVersion());
  try {
    const redisBefore = await redisCpuMs(redis);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await submitter.add(Array.from({ length: jobs }, (_, i) => ({ key: String(i), kind: "echo", payload: String(i) })));
    let done = 0;
    while (done < jobs) {
      await new Promise((r) => setTimeout(r, 20));
      for (const outcome of await submitter.collect()) {
        if (!outcome.ok || (outcome.value as { fingerprint: string }).fingerprint !== echoFingerprint(outcome.key)) throw new Error(`echo job ${outcome.key} came back wrong`);
        done++;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    return { seconds, redisCpuMs: (await redisCpuMs(redis)) - redisBefore, submitterCpuMs: (cpu.user + cpu.system) / 1000 };
  } finally {
    await submitter.finish([]);
    await submitter.close();
    redis.disconnect();
  }
}

async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const field = (name: string): number => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return (field("used_cpu_sys") + field("used_cpu_user")) * 1000;
}

/** Runs `body` with `count` `testbed worker` processes connected, and stops them after. */
async function withWorkers<T>(target: QueueUrl, count: number, concurrency: number, body: () => Promise<T>): Promise<T> {
  const cli = join(packageRoot(), "dist/bin/testbed.js");
  const workers = Array.from({ length: count }, () => spawn(process.execPath, [cli, "worker", "--queue", target.url, "--concurrency", String(concurrency)], { stdio: ["ignore", "pipe", "inherit"] }));
  try {
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      let out = "";
      w.stdout?.on("data", (b: Buffer) => {
        out += b.toString();
        if (out.includes(" on redis")) resolve();
      });
      w.once("exit", (code) => reject(new Error(`a worker exited with ${code} before it connected: ${out}`)));
    })));
    return await body();
  } finally {
    await Promise.all(workers.map((w) => new Promise<void>((resolve) => {
      if (w.exitCode !== null) return resolve();
      w.once("exit", () => resolve());
      w.kill("SIGTERM");
    })));
  }
}

function figure(label: string, jobs: number, seconds: number): RateFigure {
  return { label, jobs, seconds: round(seconds), perSec: round(jobs / seconds), msPerJob: round((seconds * 1000) / jobs) };
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
