import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
    // The third way, batch shards merged, prints the very same JSON.
    for (const k of [1, 2]) await done(testbed([...SWAP, "--shard", `${k}/2`, "--out", `qswap${k}.json`, "--concurrency", "1"], dir, 300_000));
    const merged = JSON.parse(await done(testbed(["sweep", "merge", "qswap2.json", "qswap1.json", "--json", "--svg", "qmerged.svg"], dir, 300_000))) as unknown;
    expect(merged).toEqual(b);
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

  it("joins the shards of a swap plan into the table and JSON of one run, byte for byte, and stores nothing, as the plan", async () => {
    const local = await done(testbed([...SWAP, "--svg", "swhole.svg"], dir, 300_000));
    const localJson = await done(testbed([...SWAP, "--json", "--svg", "swhole-j.svg"], dir, 300_000));
    // 4 rows in 3 slices: 2, 1 and 1 rows.
    for (const k of [1, 2, 3]) {
      const out = await done(testbed([...SWAP, "--shard", `${k}/3`, "--out", `swap${k}.json`, "--concurrency", "1"], dir, 300_000));
      expect(out.trim()).toBe(`plan swap shard ${k}/3: ${k === 1 ? 2 : 1} cells, 0 failing, written to swap${k}.json (join the shards with testbed sweep merge)`);
    }
    const merged = await done(testbed(["sweep", "merge", "swap2.json", "swap3.json", "swap1.json", "--svg", "smerged.svg", "--db", "swap-merged.db"], dir, 300_000));
    expect(merged.replace("smerged.svg", "")).toBe(local.replace("swhole.svg", ""));
    const mergedJson = await done(testbed(["sweep", "merge", "swap1.json", "swap2.json", "swap3.json", "--json", "--svg", "smerged-j.svg"], dir, 300_000));
    expect(mergedJson).toBe(localJson);
    expect(readFileSync(join(dir, "smerged.svg"), "utf8")).toBe(readFileSync(join(dir, "swhole.svg"), "utf8"));
    expect(existsSync(join(dir, "swap-merged.db"))).toBe(false);
  });

  it("refuses a wrong slice, mixed kinds, a repeated or missing shard and a cut file in one line naming it", async () => {
    const refused = async (args: string[], line: RegExp): Promise<void> => {
      const r = testbed(args, dir, 300_000);
      expect(await r.exited, r.stderr()).toBe(2);
      expect(r.stderr().trimEnd().split("\n")).toHaveLength(1);
      expect(r.stderr().trimEnd()).toMatch(line);
    };
    for (const k of [1, 2]) await done(testbed([...SWAP, "--shard", `${k}/2`, "--out", `sw${k}.json`], dir, 300_000));
    await done(testbed([...PLAN, "--shard", "1/2", "--out", "fr1.json", "--concurrency", "1"], dir, 300_000));
    await refused([...SWAP, "--shard", "3/2", "--out", "never.json"], /^testbed: --shard: K must be from 1 to 2, got 3/);
    await refused([...SWAP, "--shard", "0/2", "--out", "never.json"], /^testbed: --shard: K must be from 1 to 2, got 0 \(a 0-based index/);
    await refused([...SWAP, "--shard", "1/2"], /^testbed: --shard: a shard's cells are only useful merged; give --out FILE$/);
    await refused([...SWAP, "--out", "never.json"], /^testbed: --out: goes with --shard K\/N$/);
    await refused(["sweep", "merge", "sw1.json", "fr1.json"], /^testbed: fr1\.json: a shard of a frisbee plan, sw1\.json of a swap plan; merge each plan on its own$/);
    await refused(["sweep", "merge", "sw1.json", "sw2.json", "sw1.json"], /^testbed: sw1\.json: shard 1\/2 is also in sw1\.json$/);
    await refused(["sweep", "merge", "sw2.json"], /^testbed: sweep merge: plan shard 1 of 2 missing$/);
    const text = readFileSync(join(dir, "sw2.json"), "utf8");
    writeFileSync(join(dir, "sw2-cut.json"), text.slice(0, Math.floor(text.length / 2)));
    await refused(["sweep", "merge", "sw1.json", "sw2-cut.json"], /^testbed: sw2-cut\.json: not valid JSON/);
    await refused(["plan", "monitor", "--nodes", "10", "--shard", "1/2", "--no-store"], /^testbed: --shard: plan monitor is one simulation, not a grid of runs/);
    expect(existsSync(join(dir, "never.json"))).toBe(false);
  });
});
