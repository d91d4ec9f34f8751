import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { parseQueueUrl } from "../../../real/queue/connection.js";
import { JOB_FORMAT, KEY_PREFIX, keys } from "../../../real/queue/job.js";
import { redisServerInstalled, startLocalRedis, type LocalRedis } from "../../../real/queue/redis-server.js";
import { fateLines } from "../../../real/queue/stopping.js";
import { buildVersion } from "../../../real/queue/version.js";
import { startWorker } from "../../../real/queue/worker.js";
import { echoFingerprint } from "../../../scenarios/sweep/job-thread.js";
import { killChildren, testbed, until, type Running } from "../frisbee/support.js";

/**
 * `testbed worker` on SIGTERM: stops taking jobs, gives the running one a grace, closes with a
 * deadline even when Redis is gone or hangs, exits, and says what became of the job. These tests
 * freeze (SIGSTOP) and kill their Redis, so each starts a private redis-server on a free port
 * rather than the shared one CI provides.
 */
const skip = redisServerInstalled() ? null : "redis-server is not installed (apt-get install redis-server); these tests freeze and kill a private one";
const dir = mkdtempSync(join(tmpdir(), "testbed-worker-stop-"));
/** Echo jobs queued per test: enough that the worker is still busy when a held job is caught. */
const JOBS = 300;
const LOCK_MS = 1_000;

const servers: LocalRedis[] = [];
const clients: Redis[] = [];

async function privateRedis(): Promise<{ server: LocalRedis; queue: Queue }> {
  const server = await startLocalRedis();
  servers.push(server);
  const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
  client.on("error", () => {}); // The tests that kill the server expect this client to lose it.
  clients.push(client);
  return { server, queue: new Queue(keys.queue(buildVersion().id), { connection: client, prefix: KEY_PREFIX }) };
}

const envelope = (key: string) => ({ format: JOB_FORMAT, version: buildVersion().id, run: "stoptest", key, kind: "echo", payload: key });

async function addEchoJobs(queue: Queue, count: number): Promise<void> {
  await queue.addBulk(Array.from({ length: count }, (_, i) => ({ name: "echo", data: envelope(`e${i}`), opts: { jobId: `stoptest-e${i}` } })));
}

async function startCliWorker(url: string, extra: string[] = []): Promise<Running> {
  const w = testbed(["worker", "--queue", url, "--concurrency", "1", "--lock-ms", String(LOCK_MS), ...extra], dir, 600_000);
  await until(() => w.stdout().includes(" on redis://"), "the worker to connect", w, 120_000);
  return w;
}

/** Whether the process is stopped (SIGSTOP has taken effect: it can send nothing more). */
function isStopped(pid: number): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return /^\S+ \(.*\) [Tt] /.test(stat);
}

/**
 * Freezes the worker until it is seen holding a job, and returns that job's id with the worker
 * still frozen. BullMQ stamps an active job with its worker's name (field `pb`). A command the
 * worker sent just before it froze may still be unread by Redis at the first look, so the job
 * counts as held only if a second look, answered after the first, still shows it active.
 */
async function frozenHoldingAJob(url: string, worker: Running): Promise<string> {
  const short = /worker (\S+) on redis:/.exec(worker.stdout())?.[1];
  if (short === undefined) throw new Error(`no worker id in: ${worker.stdout()}`);
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  const pid = worker.child.pid!;
  try {
    for (;;) {
      if (worker.child.exitCode !== null) throw new Error(`the worker exited: ${worker.stderr()}`);
      worker.child.kill("SIGSTOP");
      while (!isStopped(pid)) await new Promise((resolve) => setTimeout(resolve, 5));
      const held = (await heldBy(redis, short)) ?? "";
      if (held !== "" && (await heldBy(redis, short)) === held) return held;
      worker.child.kill("SIGCONT");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    redis.disconnect();
  }
}

async function heldBy(redis: Redis, short: string): Promise<string | null> {
  for (const key of await redis.keys(`${KEY_PREFIX}:*:active`)) {
    const queue = key.slice(0, -":active".length);
    for (const job of await redis.lrange(key, 0, -1)) {
      if ((await redis.hget(`${queue}:${job}`, "pb"))?.startsWith(`testbed-worker-${short}`) === true) return job;
    }
  }
  return null;
}

function lineAbout(worker: Running, job: string): string {
  return worker.stdout().split("\n").find((l) => l.includes(`job ${job} (echo):`)) ?? `(no line about job ${job} in: ${worker.stdout()})`;
}

describe.skipIf(skip !== null)(`a worker given SIGTERM${skip === null ? "" : ` (skipped: ${skip})`}`, () => {
  afterEach(async () => {
    killChildren();
    for (const c of clients.splice(0)) c.disconnect();
    for (const s of servers.splice(0)) {
      try {
        process.kill(s.pid, "SIGCONT"); // A frozen server would not stop.
      } catch {
        // Already gone.
      }
      await s.stop();
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("while idle: takes no more jobs, says none was running, and exits 0", async () => {
    const { server } = await privateRedis();
    const worker = await startCliWorker(server.url);
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
    expect(worker.stdout()).toMatch(/SIGTERM: taking no more jobs; no job was running\n.*stopped: 0 jobs done, 0 refused, 0 nondeterministic\n$/);
    expect(worker.stderr()).toBe("");
  });

  it("while idle with its Redis gone: exits 0 all the same", async () => {
    const { server } = await privateRedis();
    const worker = await startCliWorker(server.url);
    await server.stop();
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
    expect(worker.stdout()).toContain("SIGTERM: taking no more jobs; no job was running");
    expect(worker.stdout()).toMatch(/stopped: 0 jobs done/);
    expect(worker.stderr()).toBe("");
  });

  it("while holding a job: lets it finish in the grace, returns its result once, and exits 0", async () => {
    const { server, queue } = await privateRedis();
    const worker = await startCliWorker(server.url);
    await addEchoJobs(queue, JOBS);
    const job = await frozenHoldingAJob(server.url, worker);
    // With Redis frozen the job cannot be returned before the worker has seen the signal.
    process.kill(server.pid, "SIGSTOP");
    worker.child.kill("SIGCONT");
    worker.child.kill("SIGTERM");
    await until(() => worker.stdout().includes("SIGTERM: taking no more jobs"), "the worker to start stopping", worker);
    expect(worker.stdout()).toContain(`SIGTERM: taking no more jobs; job ${job} (echo) running, up to 30 s to finish`);
    process.kill(server.pid, "SIGCONT");
    expect(await worker.exited).toBe(0);
    expect(lineAbout(worker, job)).toMatch(/: finished; its result is in Redis$/);
    const done = await queue.getJob(job);
    expect(await done?.getState()).toBe("completed");
    expect(done?.returnvalue).toEqual({ fingerprint: echoFingerprint(job.replace("stoptest-", "")) });
    // It took no job after the signal: the rest still wait.
    const { completed = -1, waiting = -1, active, failed } = await queue.getJobCounts("completed", "waiting", "active", "failed");
    expect([active, failed]).toEqual([0, 0]);
    expect(waiting).toBeGreaterThan(0);
    expect(completed + waiting).toBe(JOBS);
    expect(worker.stdout()).toContain(`stopped: ${completed} jobs done`);
    expect(worker.stderr()).toBe("");
  });

  it("while holding a job with its Redis hung: gives up after the grace, closes within its deadline, exits 0; another worker runs the job once", async () => {
    const { server, queue } = await privateRedis();
    const worker = await startCliWorker(server.url, ["--grace-ms", "1000"]);
    await addEchoJobs(queue, JOBS);
    const job = await frozenHoldingAJob(server.url, worker);
    process.kill(server.pid, "SIGSTOP");
    worker.child.kill("SIGCONT");
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
    expect(lineAbout(worker, job)).toMatch(
      new RegExp(`: finished, but Redis did not take its result within the 1 s grace; it goes back to the queue when its lock lapses \\(within 1 s\\) and another worker runs it$`),
    );
    expect(worker.stderr()).toBe("");
    process.kill(server.pid, "SIGCONT");
    const other = await startCliWorker(server.url);
    for (;;) {
      const counts = await queue.getJobCounts("completed", "failed");
      expect(counts.failed).toBe(0);
      if (counts.completed === JOBS) break;
      if (other.child.exitCode !== null) throw new Error(`the other worker exited: ${other.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const done = await queue.getJob(job);
    expect(done?.returnvalue).toEqual({ fingerprint: echoFingerprint(job.replace("stoptest-", "")) });
    expect(other.stdout()).toContain(`job ${job} stalled`);
    other.child.kill("SIGTERM");
    expect(await other.exited).toBe(0);
  });

  it("while holding a job when its Redis is killed: exits 0, saying the result could not be returned and the job goes back to the queue", async () => {
    const { server, queue } = await privateRedis();
    const worker = await startCliWorker(server.url);
    await addEchoJobs(queue, JOBS);
    const job = await frozenHoldingAJob(server.url, worker);
    await server.stop();
    worker.child.kill("SIGCONT");
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
    expect(lineAbout(worker, job)).toMatch(/: finished, but its result could not be returned \(Redis unreachable\); it goes back to the queue when its lock lapses \(within 1 s\) and another worker runs it$/);
    expect(worker.stderr()).toBe("");
  });

  it("abandons a job still running after the grace, and another worker runs it once", async () => {
    const { server, queue } = await privateRedis();
    let release = (): void => {};
    let started = (): void => {};
    const running = new Promise<void>((resolve) => (started = resolve));
    const lines: string[] = [];
    const slow = await startWorker({
      target: parseQueueUrl(server.url),
      version: buildVersion(),
      concurrency: 1,
      lockMs: LOCK_MS,
      handle: (job) => {
        started();
        return new Promise((resolve) => (release = () => resolve({ fingerprint: `slow-${job.key}` })));
      },
      log: (line) => lines.push(line),
    });
    await queue.add("echo", envelope("one"), { jobId: "stoptest-one" });
    await running;
    const report = await slow.stop(200, "test");
    expect(lines).toContain("test: taking no more jobs; job stoptest-one (echo) running, up to 0.2 s to finish");
    expect(report.jobs).toEqual([{ id: "stoptest-one", kind: "echo", fate: "running" }]);
    expect(fateLines(report)).toEqual([
      "job stoptest-one (echo): still running after the 0.2 s grace, stopped; it goes back to the queue when its lock lapses (within 1 s) and another worker runs it",
    ]);
    // What the stopped worker computes later is not written: the job is the other worker's now.
    release();
    const other = await startWorker({ target: parseQueueUrl(server.url), version: buildVersion(), concurrency: 1, lockMs: LOCK_MS, handle: async (job) => ({ fingerprint: `other-${job.key}` }), log: () => {} });
    try {
      while ((await queue.getJobState("stoptest-one")) !== "completed") await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await queue.getJob("stoptest-one"))?.returnvalue).toEqual({ fingerprint: "other-one" });
      expect(other.counts.done).toBe(1);
    } finally {
      await other.stop();
    }
  });
});
