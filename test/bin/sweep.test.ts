import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openStore } from "../../real/store/index.js";
import { run, runTestbed, COMMANDS_TEST_TIMEOUT_MS, type Ran } from "../support/run.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "dist/bin/testbed.js");
const RACE = join(ROOT, "scenarios/sweep/examples/idle-exit-race.json");
const VARIES = ["--vary", "frisbee.clients[1].at=0ms..1500ms", "--vary", "faults[0]=on|off"];
const dir = mkdtempSync(join(tmpdir(), "testbed-sweep-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI without blocking the event loop (test/support/run.ts). */
async function testbed(...args: string[]) {
  return testbedUntil(undefined, ...args);
}

/** testbed(), stopped with SIGTERM when `signal` aborts. */
async function testbedUntil(signal: AbortSignal | undefined, ...args: string[]) {
  const r = await runTestbed([...args], { cwd: dir, timeoutMs: 300_000, ...(signal === undefined ? {} : { signal }) });
  return { ...r, how: howItEnded(`testbed ${args.join(" ")}`, r) };
}

/**
 * What a failed check prints: the command, and how it ended when it did not exit by itself (a
 * signal, a spawn error, the timeout; run() puts a spawn error in stderr).
 */
function howItEnded(command: string, r: Ran): string {
  return `${command}: status ${r.code}, signal ${r.signal}; stderr: ${r.stderr.slice(-400)}`;
}

/** Runs a replay line as a shell would read it, with `testbed` meaning this build (awaited, as testbed() is). */
async function replay(line: string, ...extra: string[]) {
  const command = `${line} ${extra.join(" ")}`;
  const r = await run("sh", ["-c", command.replace(/^testbed /, `"${process.execPath}" "${CLI}" `)], { cwd: dir, timeoutMs: 300_000 });
  return { ...r, how: howItEnded(command, r) };
}

function expectOneLineError(r: { code: number | null; stderr: string; how?: string }, code: number, pattern: RegExp) {
  expect(r.code, r.how).toBe(code);
  expect(r.stderr.trimEnd().split("\n"), r.how).toHaveLength(1);
  expect(r.stderr.trimEnd()).toMatch(pattern);
}

interface SweepJson {
  results: { seed: number; verdict: string; fingerprint: string }[];
  summary: { fingerprint: string; failing: { seed: number; replay: string; failed: string[]; fingerprint: string }[] };
  shrunk: { seed: number; path: string; replay: string; steps: string[] }[];
  runId: number | null;
}

describe("testbed sweep", () => {
  let whole: SweepJson;
  let wholeProgress: string;
  beforeAll(async () => {
    const r = await testbed("sweep", RACE, "--seeds", "1..90", ...VARIES, "--json", "--db", "whole.db", "--concurrency", "2");
    expect(r.code).toBe(1); // The scenario's seeded bug fails some seeds.
    whole = JSON.parse(r.stdout) as SweepJson;
    wholeProgress = r.stderr;
  });

  it("lists every seed with its fingerprint and verdict, and ends its progress with the totals", async () => {
    expect(whole.results.map((r) => r.seed)).toEqual(Array.from({ length: 90 }, (_, i) => i + 1));
    expect(whole.results.every((r) => /^[0-9a-f]{16}$/.test(r.fingerprint) && ["pass", "fail"].includes(r.verdict))).toBe(true);
    const last = JSON.parse(wholeProgress.trimEnd().split("\n").at(-1)!) as { progress: Record<string, unknown> };
    expect(last.progress).toMatchObject({ done: 90, total: 90, failed: whole.summary.failing.length });
    expect(typeof last.progress.seedsPerSec).toBe("number");
  });

  it("hands back failing seeds whose replay line reproduces the exact run", async () => {
    expect(whole.summary.failing.length).toBeGreaterThan(0);
    for (const f of whole.summary.failing.slice(0, 3)) {
      const r = await replay(f.replay, "--json", "--no-store");
      expect(r.code, r.how).toBe(1);
      const run = JSON.parse(r.stdout) as { traceHash: string; invariants: { name: string; ok: boolean }[] };
      expect(run.traceHash).toBe(f.fingerprint);
      expect(run.invariants.filter((i) => !i.ok).map((i) => i.name)).toEqual(["frisbee-clients-finish"]);
    }
  });

  it("writes shrunk scenarios that still fail when replayed", async () => {
    expect(whole.shrunk.length).toBeGreaterThan(0);
    for (const s of whole.shrunk) {
      expect(existsSync(join(dir, s.path))).toBe(true);
      const r = await replay(s.replay, "--no-store");
      expect(r.code, r.how).toBe(1);
      expect(r.stderr).toContain("invariant frisbee-clients-finish FAILED");
    }
    expect(readdirSync(join(dir, "sweep-failures")).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("stores one row for the sweep and one event per failing seed", async () => {
    const store = openStore(join(dir, "whole.db"), { readonly: true });
    try {
      const [row] = store.listRuns();
      expect(row).toMatchObject({ id: whole.runId, kind: "sweep", scenario: RACE, seed: "1..90", fingerprint: whole.summary.fingerprint, ok: false });
      const events = store.runEvents(row!.id);
      expect(events.map((e) => (e.data as { seed: number }).seed)).toEqual(whole.summary.failing.map((f) => f.seed));
      expect(events.every((e) => e.kind === "sweep.failing-seed")).toBe(true);
    } finally {
      store.close();
    }
  });

  it("runs shards that sweep merge joins into the same report and store rows as one run", async () => {
    for (const k of [1, 2, 3]) {
      const r = await testbed("sweep", RACE, "--seeds", "1..90", ...VARIES, "--shard", `${k}/3`, "--out", `shard${k}.json`, "--concurrency", "1");
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toContain(`shard ${k}/3`);
    }
    expect(existsSync(join(dir, "whole.db.shards"))).toBe(false);
    const merged = await testbed("sweep", "merge", "shard3.json", "shard1.json", "shard2.json", "--json", "--db", "merged.db");
    expect(merged.code).toBe(1);
    const m = JSON.parse(merged.stdout) as SweepJson;
    const strip = (j: SweepJson) => j.results.map((r) => `${r.seed} ${r.verdict} ${r.fingerprint}`);
    expect(strip(m)).toEqual(strip(whole));
    expect(m.summary.fingerprint).toBe(whole.summary.fingerprint);
    const rows = (db: string) => {
      const store = openStore(join(dir, db), { readonly: true });
      try {
        const [row] = store.listRuns();
        const { id, createdAt, wallSeconds, results, ...rest } = row!;
        const { ranOn, ...same } = results as Record<string, unknown>;
        return { rest, same, events: store.runEvents(id).map((e) => e.data), ranOn, createdAt, wallSeconds };
      } finally {
        store.close();
      }
    };
    const a = rows("whole.db");
    const b = rows("merged.db");
    expect(b.rest).toEqual(a.rest);
    expect(b.same).toEqual(a.same);
    expect(b.events).toEqual(a.events);
    expectOneLineError(await testbed("sweep", "merge", "shard1.json", "shard2.json"), 2, /^testbed: sweep merge: shard 3 of 3 missing$/);
    expectOneLineError(await testbed("sweep", "merge", "shard1.json", "shard1.json", "shard2.json"), 2, /shard1\.json: shard 1\/3 is also in shard1\.json/);
  });
});

describe("testbed sweep and worker refuse bad input in one line", () => {
  it("reports an unreachable Redis in one line, and writes nothing", async () => {
    // No clock here: that the commands give up at once, without retrying, is the next test's.
    expectOneLineError(await testbed("sweep", RACE, "--seeds", "1..5", "--queue", "redis://127.0.0.1:1"), 1, /^testbed: redis:\/\/127\.0\.0\.1:1: cannot connect \(.*ECONNREFUSED.*\)$/);
    expectOneLineError(await testbed("worker", "--queue", "redis://127.0.0.1:1"), 1, /^testbed: redis:\/\/127\.0\.0\.1:1: cannot connect/);
    expectOneLineError(await testbed("worker", "--queue", "redis://user:secret@127.0.0.1:1"), 1, /^testbed: redis:\/\/user:\*\*\*@127\.0\.0\.1:1: cannot connect/);
    // Plans through the queue: the same line, and no chart or store row appears.
    expectOneLineError(await testbed("plan", "monitor", "--nodes", "10", "--days", "1", "--queue", "redis://127.0.0.1:1", "--db", "plan.db"), 1, /^testbed: redis:\/\/127\.0\.0\.1:1: cannot connect/);
    expectOneLineError(await testbed("plan", "frisbee", "--clients", "1", "--queue", "redis://127.0.0.1:1", "--no-store", "--svg", "never.svg"), 1, /^testbed: redis:\/\/127\.0\.0\.1:1: cannot connect/);
    expectOneLineError(await testbed("plan", "swap", "--nodes", "10", "--delta-pct", "5", "--queue", "redis://127.0.0.1:1", "--svg", "never.svg"), 1, /^testbed: redis:\/\/127\.0\.0\.1:1: cannot connect/);
    expectOneLineError(await testbed("plan", "swap", "--nodes", "10", "--delta-pct", "5", "--queue", "redis://", "--svg", "never.svg"), 2, /^testbed: --queue: the URL names no host/);
    expectOneLineError(await testbed("plan", "frisbee", "--clients", "1", "--queue", "http://x", "--no-store", "--svg", "never.svg"), 2, /^testbed: --queue: expected a redis:\/\/ or rediss:\/\/ URL/);
    expect(existsSync(join(dir, "never.svg"))).toBe(false);
  });

  it("gives up on a Redis it cannot talk to after one attempt: no retry, no backoff, whatever the load", async () => {
    // "At once" checked by counting, not timing: this server takes each connection and drops it. A
    // command that retried (or waited with a backoff to retry) would connect a second time; that
    // fails the test as soon as it happens, and stops the command.
    let connections = 0;
    let retried = (): void => {};
    const server = createServer((socket) => {
      socket.destroy();
      if (++connections === 2) retried();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `redis://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      for (const args of [
        ["sweep", RACE, "--seeds", "1..5"],
        ["worker"],
        ["plan", "frisbee", "--clients", "1", "--no-store", "--svg", "never.svg"],
        ["plan", "monitor", "--nodes", "10", "--days", "1", "--no-store"],
        ["plan", "swap", "--nodes", "10", "--delta-pct", "5", "--svg", "never.svg"],
      ]) {
        connections = 0;
        const stop = new AbortController();
        const second = new Promise<"retried">((resolve) => (retried = () => resolve("retried")));
        const ran = testbedUntil(stop.signal, ...args, "--queue", url);
        const first = await Promise.race([ran, second]);
        if (first === "retried") {
          stop.abort();
          await ran;
        }
        expect(first, `testbed ${args.join(" ")} connected a second time`).not.toBe("retried");
        expectOneLineError(first as Awaited<typeof ran>, 1, /^testbed: redis:\/\/127\.0\.0\.1:\d+: cannot connect \(/);
        expect(connections, `testbed ${args.join(" ")}`).toBe(1);
      }
    } finally {
      server.close();
    }
    expect(existsSync(join(dir, "never.svg"))).toBe(false);
  });

  it("names the flag or field that is wrong", async () => {
    expectOneLineError(await testbed("sweep", RACE, "--seeds", "9..1"), 2, /^testbed: --seeds: the range runs backwards \(9 > 1\)$/);
    expectOneLineError(await testbed("sweep", RACE, "--seeds", "1..5", "--queue", "http://x"), 2, /^testbed: --queue: expected a redis:\/\/ or rediss:\/\/ URL, got "http:\/\/x"$/);
    expectOneLineError(await testbed("sweep", RACE, "--seeds", "1..5", "--shard", "1/2"), 2, /^testbed: --shard: a shard's results are only useful merged; give --out FILE$/);
    expectOneLineError(await testbed("sweep", RACE, "--seeds", "1..5", "--vary", "faults[7]=on|off"), 2, /^testbed: --vary faults\[7\]: faults has 1 items, no \[7\]$/);
    expectOneLineError(await testbed("sweep", RACE, "--seeds", "1..5", "--vary", "frisbee.clients[1].at=1s..5ms"), 2, /is not a range/);
    expectOneLineError(await testbed("sweep", "missing.json", "--seeds", "1..5"), 2, /^testbed: missing\.json: no such file$/);
    expectOneLineError(await testbed("sweep", "merge", "missing.json"), 2, /^testbed: missing\.json: no such file$/);
    expectOneLineError(await testbed("worker", "--queue", "redis://127.0.0.1:6379", "--concurrency", "0"), 2, /^testbed: --concurrency: expected a whole number from 1/);
    expectOneLineError(await testbed("sim", RACE, "--seed", "1", "--vary", "nothing=1..2", "--no-store"), 2, /^testbed: --vary nothing=1\.\.2: .*duration|invalid|unknown field/);
  });
});
