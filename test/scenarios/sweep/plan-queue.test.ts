import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../../real/store/index.js";
import { killChildren, testbed, until, type Running } from "../../real/frisbee/support.js";
import { redisSkipReason, startTestRedis, type TestRedis } from "../../support/redis.js";

/**
 * Plans through the queue: the cells run on `testbed worker`s and the submitter's store, table and
 * JSON are what a local plan gives (wall-clock figures aside).
 */
const PLAN = ["plan", "frisbee", "--clients", "1,3", "--loss", "0,0.02", "--runs", "2", "--image-mib", "2", "--data-mib", "4"];
const MONITOR = ["plan", "monitor", "--nodes", "300", "--days", "1", "--seed", "4"];
const SWAP = ["plan", "swap", "--nodes", "10,40", "--delta-pct", "1,5", "--seed", "2"];
const skip = redisSkipReason();
const dir = mkdtempSync(join(tmpdir(), "testbed-plan-queue-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Drops what measures this machine rather than the plan: wall time, peak memory, when and which row id. */
function machineFree(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(machineFree);
  if (v === null || typeof v !== "object") return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => !["wallSeconds", "peakRssMiB", "createdAt", "id", "runId"].includes(k)).map(([k, x]) => [k, machineFree(x)]));
}

function storedRuns(db: string): unknown {
  const store = openStore(join(dir, db), { readonly: true });
  try {
    return machineFree(store.listRuns().reverse());
  } finally {
    store.close();
  }
}

async function done(run: Running): Promise<string> {
  const code = await run.exited;
  if (code !== 0) throw new Error(`exited ${code}: ${run.stderr()}`);
  return run.stdout();
}

/** The table without its last column (wall s: this machine's time per row) and the chart's path. */
const tableOnly = (text: string) => text.split("\n").filter((l) => !l.startsWith("chart:")).map((l) => l.replace(/\s+[0-9.]+$/, ""));

describe.skipIf(skip !== null)(`plans through Redis${skip === null ? "" : ` (skipped: ${skip})`}`, () => {
  let redis: TestRedis;
  let workers: Running[];
  beforeAll(async () => {
    redis = await startTestRedis(4);
    workers = [0, 1].map(() => testbed(["worker", "--queue", redis.url, "--concurrency", "1"], dir, 300_000));
    for (const w of workers) await until(() => w.stdout().includes(" on redis://"), "a worker to connect", w);
  });
  afterAll(async () => {
    for (const w of workers ?? []) w.child.kill("SIGTERM");
    killChildren();
    await redis?.stop();
  });

  it("stores the same rows, prints the same table and JSON for a Frisbee plan run on workers", async () => {
    const local = await done(testbed([...PLAN, "--db", "local.db", "--svg", "local.svg"], dir, 300_000));
    const queued = await done(testbed([...PLAN, "--db", "queued.db", "--svg", "queued.svg", "--queue", redis.url], dir, 300_000));
    expect(tableOnly(queued)).toEqual(tableOnly(local));
    expect(storedRuns("queued.db")).toEqual(storedRuns("local.db"));
    expect((storedRuns("local.db") as unknown[]).length).toBe(8); // 4 rows x 2 seeds
    const json = async (extra: string[]) => JSON.parse(await done(testbed([...PLAN, "--no-store", "--json", "--svg", "j.svg", ...extra], dir, 300_000))) as unknown;
    expect(machineFree(await json(["--queue", redis.url]))).toEqual(machineFree(await json([])));
  });

  it("prints the same swap plan table and JSON with its rows run on workers", async () => {
    const local = await done(testbed([...SWAP, "--svg", "slocal.svg"], dir, 300_000));
    const queued = await done(testbed([...SWAP, "--svg", "squeued.svg", "--queue", redis.url], dir, 300_000));
    expect(queued.replace("squeued.svg", "")).toBe(local.replace("slocal.svg", ""));
    const json = async (extra: string[]) => JSON.parse(await done(testbed([...SWAP, "--json", "--svg", "sj.svg", ...extra], dir, 300_000))) as { results: unknown[] };
    const [a, b] = [await json([]), await json(["--queue", redis.url])];
    expect(b).toEqual(a);
    expect(a.results).toHaveLength(4);
  });

  it("gives the same monitor plan result and stored row on a worker", async () => {
    const local = JSON.parse(await done(testbed([...MONITOR, "--json", "--db", "mlocal.db"], dir, 300_000))) as { traceHash: string };
    const queued = JSON.parse(await done(testbed([...MONITOR, "--json", "--db", "mqueued.db", "--queue", redis.url], dir, 300_000))) as { traceHash: string };
    expect(machineFree(queued)).toEqual(machineFree(local));
    expect(storedRuns("mqueued.db")).toEqual(storedRuns("mlocal.db"));
  });
});

describe("plan shards", () => {
  it("joins the shards of a Frisbee plan into the rows, table and store rows of one run", async () => {
    const local = await done(testbed([...PLAN, "--db", "one.db", "--svg", "one.svg"], dir, 300_000));
    for (const k of [1, 2, 3]) await done(testbed([...PLAN, "--shard", `${k}/3`, "--out", `plan${k}.json`, "--concurrency", "1"], dir, 300_000));
    const merged = await done(testbed(["sweep", "merge", "plan3.json", "plan1.json", "plan2.json", "--db", "merged.db", "--svg", "merged.svg"], dir, 300_000));
    expect(tableOnly(merged)).toEqual(tableOnly(local));
    expect(storedRuns("merged.db")).toEqual(storedRuns("one.db"));
    const missing = testbed(["sweep", "merge", "plan1.json", "plan2.json", "--no-store"], dir);
    expect(await missing.exited).toBe(2);
    expect(missing.stderr().trim()).toBe("testbed: sweep merge: plan shard 3 of 3 missing");
    const mixed = testbed(["sweep", "merge", "plan1.json", "plan2.json", "plan3.json", "--out", "x.json", "--no-store"], dir);
    expect(await mixed.exited).toBe(2);
    expect(mixed.stderr()).toMatch(/^testbed: --out: a merged plan is its rows/);
  });
});
