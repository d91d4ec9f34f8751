import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Queue } from "bullmq";
import { describe, expect, it } from "vitest";
import { parseQueueUrl } from "../../../real/queue/connection.js";
import { JOB_FORMAT, KEY_PREFIX, keys } from "../../../real/queue/job.js";
import { Submitter } from "../../../real/queue/submitter.js";
import { buildVersion } from "../../../real/queue/version.js";
import { recordFingerprint, startWorker, type RunningWorker } from "../../../real/queue/worker.js";
import { echoFingerprint } from "../../../scenarios/sweep/job-thread.js";
import { createJobPool, jobHandler } from "../../../scenarios/sweep/jobs.js";
import { testbed, until } from "../frisbee/support.js";
import { redisSkipReason } from "../../support/redis.js";
import { useQueueRedis } from "./support.js";

const RACE = fileURLToPath(new URL("../../../scenarios/sweep/examples/idle-exit-race.json", import.meta.url));
const skip = redisSkipReason();
const dir = mkdtempSync(join(tmpdir(), "testbed-worker-"));

describe.skipIf(skip !== null)(`queue workers${skip === null ? "" : ` (skipped: ${skip})`}`, () => {
  const redis = useQueueRedis(2, dir);

  it("refuses malformed jobs and jobs of another build with one clear line each, and runs the rest", async () => {
    const worker = testbed(["worker", "--queue", redis.url, "--concurrency", "1"], dir, 120_000);
    await until(() => worker.stdout().includes(" on redis://"), "the worker to connect", worker);
    const queue = new Queue(keys.queue(buildVersion().id), { connection: redis.client, prefix: KEY_PREFIX });
    const envelope = (key: string, extra: object) => ({ format: JOB_FORMAT, version: buildVersion().id, run: "handmade", key, kind: "echo", payload: key, ...extra });
    await queue.add("x", "not an object", { jobId: "handmade-junk" });
    await queue.add("x", envelope("old", { version: "0.0.1+elsewhere" }), { jobId: "handmade-old" });
    await queue.add("x", envelope("seed", { kind: "sweep-seed", payload: { spec: "zz", seed: -1 } }), { jobId: "handmade-seed" });
    await queue.add("x", envelope("gone", { kind: "sweep-seed", payload: { spec: "0123456789abcdef", seed: 1 } }), { jobId: "handmade-gone" });
    await queue.add("x", envelope("cell", { kind: "plan-frisbee-cell", payload: { clients: 0 } }), { jobId: "handmade-cell" });
    await queue.add("x", envelope("swap", { kind: "plan-swap-cell", payload: { nodes: 0, deltaPct: 1, options: {} } }), { jobId: "handmade-swap" });
    await queue.add("x", envelope("monitor", { kind: "plan-monitor-cell", payload: { nodes: "x" } }), { jobId: "handmade-monitor" });
    await queue.add("x", envelope("what", { kind: "teleport" }), { jobId: "handmade-what" });
    await queue.add("x", envelope("fine", {}), { jobId: "handmade-fine" });
    await until(() => worker.stdout().includes("handmade-what"), "the worker to refuse the last bad job", worker);
    const failed = Object.fromEntries((await queue.getFailed()).map((j) => [j.id, j.failedReason]));
    expect(failed).toEqual({
      "handmade-junk": "malformed job: expected an object, got string",
      "handmade-old": `built for version 0.0.1+elsewhere, this worker is ${buildVersion().id} (version gating)`,
      "handmade-seed": "malformed job: payload.spec: expected a spec id (16 hex digits)",
      "handmade-gone": "spec 0123456789abcdef is not in Redis (its run was cancelled or expired)",
      "handmade-cell": "malformed job: payload.clients: expected a whole number from 1 to 100000",
      "handmade-swap": "malformed job: payload.nodes: expected a whole number from 1 to 100000",
      "handmade-monitor": "malformed job: payload.nodes: expected a number",
      "handmade-what": 'unknown job kind "teleport" (this worker runs sweep-seed, plan-frisbee-cell, plan-monitor-cell, plan-swap-cell, echo)',
    });
    // Refused at once, never retried: a malformed job cannot get better.
    for (const j of await queue.getFailed()) expect(j.attemptsMade).toBe(1);
    await until(() => worker.stdout().includes("refused job handmade-junk: malformed job"), "the refusal in the log", worker);
    // The good job, added last, still ran: the refusals cost the worker nothing.
    for (let i = 0; (await queue.getJobState("handmade-fine")) !== "completed"; i++) {
      if (i > 600) throw new Error("the good job never completed");
      await new Promise((r) => setTimeout(r, 50));
    }
    const done = await queue.getJob("handmade-fine");
    expect(done?.returnvalue).toEqual({ fingerprint: echoFingerprint("fine") });
    await queue.close();
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
    expect(worker.stderr()).toBe("");
  });

  it("leaves a run of another build alone, says so on both sides, and loses nothing", async () => {
    const other = await startOtherBuild(redis.url);
    try {
      const sweep = testbed(["sweep", RACE, "--seeds", "1..40", "--json", "--no-store", "--no-shrink", "--queue", redis.url], dir, 120_000);
      await until(() => sweep.stderr().includes("no worker of version"), "the submitter's notice", sweep, 60_000);
      expect(JSON.parse(sweep.stderr().split("\n").find((l) => l.includes("no worker of version"))!)).toEqual({
        notice: `no worker of version ${buildVersion().id} is connected to ${redis.url}; the jobs wait in Redis for one (workers of other builds refuse them: 1 of version 0.0.1+otherbuild)`,
      });
      await until(() => other.lines.some((l) => l.includes("version gating")), "the other build's refusal", undefined, 30_000);
      expect(other.lines.find((l) => l.startsWith("refusing run"))).toMatch(
        new RegExp(`^refusing run \\w+ \\(40 jobs, sweep .*idle-exit-race\\.json\\): built for version ${escape(buildVersion().id)}, this worker is 0\\.0\\.1\\+otherbuild \\(version gating\\)`),
      );
      expect(other.worker.counts.done).toBe(0);
      const ours = testbed(["worker", "--queue", redis.url, "--concurrency", "1"], dir, 120_000);
      expect(await sweep.exited).toBe(0);
      const result = JSON.parse(sweep.stdout()) as { results: unknown[]; lost: unknown[] };
      expect(result.results).toHaveLength(40);
      expect(result.lost).toEqual([]);
      ours.child.kill("SIGTERM");
      expect(await ours.exited).toBe(0);
    } finally {
      await other.stop();
    }
  });

  it("leaves a swap plan of another build alone too, and the plan's own build finishes it whole", async () => {
    const other = await startOtherBuild(redis.url);
    try {
      const swap = ["plan", "swap", "--nodes", "10,40", "--delta-pct", "1", "--seed", "2", "--svg", "gated.svg"];
      const plan = testbed([...swap, "--queue", redis.url], dir, 120_000);
      await until(() => plan.stderr().includes("no worker of version"), "the submitter's notice", plan, 60_000);
      expect(plan.stderr()).toContain(`testbed: no worker of version ${buildVersion().id} is connected to ${redis.url}; the jobs wait in Redis for one (workers of other builds refuse them: 1 of version 0.0.1+otherbuild)`);
      await until(() => other.lines.some((l) => l.includes("plan swap")), "the other build's refusal", undefined, 30_000);
      expect(other.lines.find((l) => l.includes("plan swap"))).toMatch(/^refusing run \w+ \(2 jobs, plan swap.*\(version gating\)/);
      const ours = testbed(["worker", "--queue", redis.url, "--concurrency", "1"], dir, 120_000);
      expect(await plan.exited).toBe(0);
      expect(other.worker.counts.done).toBe(0);
      const local = testbed(swap.map((a) => (a === "gated.svg" ? "local.svg" : a)), dir, 120_000);
      expect(await local.exited).toBe(0);
      expect(plan.stdout().replace("gated.svg", "")).toBe(local.stdout().replace("local.svg", ""));
      ours.child.kill("SIGTERM");
      expect(await ours.exited).toBe(0);
    } finally {
      await other.stop();
    }
  });

  it("records a job's first fingerprint and reports a second run that disagrees as nondeterminism", async () => {
    const submitter = await Submitter.open(parseQueueUrl(redis.url), buildVersion());
    try {
      const job = { format: JOB_FORMAT, version: buildVersion().id, run: submitter.run, key: "17", kind: "sweep-seed", payload: null } as const;
      expect(await recordFingerprint(redis.client, job, "aaaaaaaaaaaaaaaa", "w1")).toBe(false);
      expect(await recordFingerprint(redis.client, job, "aaaaaaaaaaaaaaaa", "w2")).toBe(false);
      expect(await submitter.nondeterminism()).toEqual([]);
      expect(await recordFingerprint(redis.client, job, "bbbbbbbbbbbbbbbb", "w3")).toBe(true);
      const [found] = await submitter.nondeterminism();
      expect(found).toMatchObject({ key: "17", kind: "sweep-seed", fingerprints: ["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"] });
      expect(found!.workers[0]).toMatch(/\/w1$/);
      expect(found!.workers[1]).toMatch(/\/w3$/);
      await submitter.finish([]);
      expect(await redis.client.exists(keys.fingerprints(submitter.run), keys.nondeterminism(submitter.run))).toBe(0);
    } finally {
      await submitter.close();
    }
  });
});

/** A worker of another build, in this process, logging to `lines`. */
async function startOtherBuild(url: string): Promise<{ worker: RunningWorker; lines: string[]; stop(): Promise<void> }> {
  const pool = createJobPool(1);
  const lines: string[] = [];
  const worker = await startWorker({
    target: parseQueueUrl(url),
    version: { id: "0.0.1+otherbuild", packageVersion: "0.0.1" },
    concurrency: 1,
    lockMs: 2_000,
    handle: jobHandler(pool),
    log: (line) => lines.push(line),
  });
  const stop = async (): Promise<void> => {
    await worker.stop(5_000);
    await pool.close();
  };
  return { worker, lines, stop };
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
