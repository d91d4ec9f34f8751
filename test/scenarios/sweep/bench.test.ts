import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { project, runSweepBench } from "../../../scenarios/sweep/bench.js";
import { redisSkipReason, startTestRedis, type TestRedis } from "../../support/redis.js";

/**
 * `testbed bench sweep` measures something: the projection follows from the per-job costs, and a
 * small run through a real Redis and real `testbed worker`s returns every figure it prints.
 */
describe("the sweep bench's projection", () => {
  it("grows with threads until Redis or the submitter saturates, and says which", () => {
    // A seed takes 10 ms plus 2 ms of queue round trip; Redis serves 2,000 jobs/s, the submitter 1,000.
    const rows = project(10, 2, 0.5, 1);
    expect(rows[0]).toEqual({ threads: 1, seedsPerSec: 83, limitedBy: "workers" });
    expect(rows.find((r) => r.threads === 8)).toEqual({ threads: 8, seedsPerSec: 667, limitedBy: "workers" });
    expect(rows.find((r) => r.threads === 16)).toEqual({ threads: 16, seedsPerSec: 1000, limitedBy: "submitter" });
    expect(project(10, 2, 2, 1).at(-1)).toEqual({ threads: 512, seedsPerSec: 500, limitedBy: "redis" });
    const rates = rows.map((r) => r.seedsPerSec);
    expect(rates).toEqual([...rates].sort((a, b) => a - b));
  });
});

const skip = redisSkipReason();
describe.skipIf(skip !== null)(`the sweep bench on Redis${skip === null ? "" : ` (skipped: ${skip})`}`, () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startTestRedis(5);
  });
  afterAll(async () => redis?.stop());

  it("times local threads, 1 and 2 workers and echo jobs, and projects from what it measured", async () => {
    const r = await runSweepBench({ seeds: 12, echoJobs: 15, queue: redis.url, threads: 2 });
    expect(r.local.map((x) => [x.label, x.jobs])).toEqual([["local, 1 thread", 12], ["local, 2 threads", 12]]);
    const q = r.queue!;
    expect(q.sweeps.map((x) => [x.label, x.jobs])).toEqual([["queue, 1 worker x 1 thread", 12], ["queue, 2 workers x 1 thread", 12]]);
    expect([q.echo.jobs, q.echoPipelined.jobs]).toEqual([15, 15]);
    for (const x of [...r.local, ...q.sweeps, q.echo, q.echoPipelined]) {
      expect(x.seconds).toBeGreaterThan(0);
      expect(x.msPerJob).toBeCloseTo((x.seconds * 1000) / x.jobs, 0);
    }
    expect(q.redisCpuMsPerJob).toBeGreaterThan(0);
    expect(q.projection).toEqual(project(r.local[0]!.msPerJob, q.echo.msPerJob, q.redisCpuMsPerJob, q.submitterCpuMsPerJob));
  }, 300_000);
});
