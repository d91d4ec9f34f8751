import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEY_PREFIX } from "../../../real/queue/job.js";
import { killChildren, testbed, until, type Running } from "../../real/frisbee/support.js";
import { redisSkipReason, startTestRedis, type TestRedis } from "../../support/redis.js";

/**
 * The issue's "must show" through the command line: the same sweep locally and through Redis with
 * two `testbed worker` processes, and a worker killed with SIGKILL in the middle of a sweep.
 */
const RACE = fileURLToPath(new URL("../../../scenarios/sweep/examples/idle-exit-race.json", import.meta.url));
const VARIES = ["--vary", "frisbee.clients[1].at=0ms..1500ms", "--vary", "faults[0]=on|off"];
const SEEDS = 2_000;
const skip = redisSkipReason();
const dir = mkdtempSync(join(tmpdir(), "testbed-queue-"));

interface SweepJson {
  results: { seed: number; verdict: string; fingerprint: string }[];
  lost: unknown[];
  nondeterministic: unknown[];
  ranOn: string;
  summary: { fingerprint: string; failing: { seed: number }[]; counts: Record<string, number> };
}

async function finished(run: Running): Promise<SweepJson> {
  const code = await run.exited;
  if (code !== 0 && code !== 1) throw new Error(`sweep exited ${code}: ${run.stderr()}`);
  return JSON.parse(run.stdout()) as SweepJson;
}

function startWorker(url: string, extra: string[] = []): Running {
  return testbed(["worker", "--queue", url, "--concurrency", "1", ...extra], dir, 600_000);
}

async function stopWorker(w: Running): Promise<number> {
  w.child.kill("SIGTERM");
  expect(await w.exited).toBe(0);
  return Number(/stopped: (\d+) jobs done/.exec(w.stdout())?.[1]);
}

/**
 * Freezes a worker (SIGSTOP) until it is seen holding a job, then SIGKILLs it: a worker killed
 * between two jobs holds nothing, and nothing would stall. BullMQ stamps each active job with the
 * name of the worker that took it (field `pb`), and the worker names itself after its id.
 */
async function killHoldingAJob(url: string, victim: Running, sweep: Running): Promise<void> {
  const short = /worker (\S+) on redis:/.exec(victim.stdout())?.[1];
  if (short === undefined) throw new Error(`no worker id in: ${victim.stdout()}`);
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    // Until the sweep ends (a victim never seen holding a job then fails the test, below).
    for (let attempt = 0; attempt < 100_000 && sweep.child.exitCode === null; attempt++) {
      victim.child.kill("SIGSTOP");
      for (const key of await redis.keys(`${KEY_PREFIX}:*:active`)) {
        const queue = key.slice(0, -":active".length);
        for (const job of await redis.lrange(key, 0, -1)) {
          const by = await redis.hget(`${queue}:${job}`, "pb");
          if (by?.startsWith(`testbed-worker-${short}`) === true) {
            victim.child.kill("SIGKILL");
            return;
          }
        }
      }
      victim.child.kill("SIGCONT");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error("the victim was never seen holding a job before the sweep ended");
  } finally {
    redis.disconnect();
  }
}

const perSeed = (s: SweepJson) => s.results.map((r) => `${r.seed} ${r.verdict} ${r.fingerprint}`);

describe.skipIf(skip !== null)(`sweeps through Redis${skip === null ? "" : ` (skipped: ${skip})`}`, () => {
  let redis: TestRedis;
  let local: SweepJson;
  beforeAll(async () => {
    redis = await startTestRedis(1);
    local = await finished(testbed(["sweep", RACE, "--seeds", `1..${SEEDS}`, ...VARIES, "--json", "--no-store", "--no-shrink", "--concurrency", "2"], dir, 600_000));
  });
  afterAll(async () => {
    killChildren();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`gives the same per-seed fingerprints and failing seeds locally and through Redis with 2 workers (${SEEDS} seeds)`, async () => {
    const workers = [startWorker(redis.url), startWorker(redis.url)];
    for (const w of workers) await until(() => w.stdout().includes(" on redis://"), "a worker to connect", w);
    const queued = await finished(testbed(["sweep", RACE, "--seeds", `1..${SEEDS}`, ...VARIES, "--json", "--no-store", "--no-shrink", "--queue", redis.url], dir, 600_000));
    expect(queued.results).toHaveLength(SEEDS);
    expect(perSeed(queued)).toEqual(perSeed(local));
    expect(queued.summary.failing.map((f) => f.seed)).toEqual(local.summary.failing.map((f) => f.seed));
    expect(local.summary.failing.length).toBeGreaterThan(100);
    expect(queued.summary.fingerprint).toBe(local.summary.fingerprint);
    expect(queued.lost).toEqual([]);
    expect(queued.nondeterministic).toEqual([]);
    expect(queued.ranOn).toMatch(/, 2 workers$/);
    // Both took part, and between them ran each job exactly once.
    const done = await Promise.all(workers.map(stopWorker));
    expect(done.every((n) => n > 0)).toBe(true);
    expect(done[0]! + done[1]!).toBe(SEEDS);
  });

  it("completes a sweep when a worker is SIGKILLed in the middle of it, counting each seed once", async () => {
    const seeds = SEEDS;
    const victim = startWorker(redis.url, ["--lock-ms", "2000"]);
    const survivor = startWorker(redis.url, ["--lock-ms", "2000"]);
    for (const w of [victim, survivor]) await until(() => w.stdout().includes(" on redis://"), "a worker to connect", w);
    const sweep = testbed(["sweep", RACE, "--seeds", `1..${seeds}`, ...VARIES, "--json", "--no-store", "--no-shrink", "--queue", redis.url], dir, 600_000);
    const progress = (): number => Math.max(0, ...[...sweep.stderr().matchAll(/"done":(\d+)/g)].map((m) => Number(m[1])));
    await until(() => progress() >= 100, "100 seeds done", sweep, 300_000);
    await killHoldingAJob(redis.url, victim, sweep);
    const queued = await finished(sweep);
    expect(queued.results.map((r) => r.seed)).toEqual(Array.from({ length: seeds }, (_, i) => i + 1));
    expect(perSeed(queued)).toEqual(perSeed(local).slice(0, seeds));
    expect(queued.lost).toEqual([]);
    expect(await victim.exited).toBeNull();
    // The victim died holding a job: the survivor saw its lock lapse and took the job back.
    expect(survivor.stdout()).toMatch(/job \S+ stalled \(its worker died or stopped answering\); it is back in the queue/);
    expect(await stopWorker(survivor)).toBeGreaterThan(0);
  });
});
