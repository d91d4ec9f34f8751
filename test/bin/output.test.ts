import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { decadeTicks, lineChart, niceTicks } from "../../core/chart/svg.js";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../support/run.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

/** What the commands print for a reader: units, legends, warnings, confirmations. */
const dir = mkdtempSync(join(tmpdir(), "testbed-output-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI without blocking the event loop (test/support/run.ts). */
function testbed(...args: string[]) {
  return runTestbed([...args], { cwd: dir, timeoutMs: 60_000 });
}

const SMALL_WINDOW = ["plan", "monitor", "--nodes", "3000", "--days", "3", "--window", "1", "--seed", "1", "--no-store"];

describe("testbed plan monitor output", () => {
  it("prints long times in hours or days, not raw seconds", async () => {
    const r = await testbed(...SMALL_WINDOW);
    expect(r.code).toBe(0);
    const wait = r.stdout.split("\n").find((l) => l.startsWith("queue wait"));
    expect(wait).toMatch(/mean \d+(\.\d)? h, p50 \d+(\.\d)? h, p95 \d+(\.\d)? h, max \d+(\.\d)? h$/);
    // No figure of 120 seconds or more is left in seconds.
    expect(r.stdout).not.toMatch(/(?<![\d.])(1[2-9]\d|[2-9]\d\d|\d{4,})(\.\d+)? s\b/);
  });

  it("keeps seconds in --json", async () => {
    const r = await testbed(...SMALL_WINDOW, "--json");
    const out = JSON.parse(r.stdout) as { queueWaitSec: { mean: number; max: number }; detectSec: { mean: number } };
    expect(out.queueWaitSec.mean).toBeGreaterThan(86_400);
    expect(Number.isFinite(out.detectSec.mean)).toBe(true);
  });

  it("warns when the queue wait for a slot exceeds a day, and only then", async () => {
    const small = await testbed(...SMALL_WINDOW, "--json");
    expect(small.stderr).toMatch(/^testbed: warning: window 1 is too small for 3000 nodes: a due test waits \d+(\.\d)? h on average .* try a larger --window\n$/);
    const enough = await testbed("plan", "monitor", "--nodes", "3000", "--days", "3", "--window", "40", "--seed", "1", "--no-store");
    expect(enough.code).toBe(0);
    expect(enough.stderr).toBe("");
  });
});

describe("testbed plan frisbee output", () => {
  it("explains its columns in plain words under the table", async () => {
    const r = await testbed("plan", "frisbee", "--clients", "1", "--image-mib", "4", "--data-mib", "12", "--no-store", "--svg", join(dir, "a.svg"));
    expect(r.code).toBe(0);
    for (const column of ["loss", "dup %", "server Mb/s", "ctrl/s", "hb recv, hb lost", "model", "wall s"]) {
      expect(r.stdout).toMatch(new RegExp(`^  ${column.replace(/[%/,]/g, "\\$&")} +\\S.{20,}`, "m"));
    }
  });

  it("reports its peak memory in --json, for the benchmarks", async () => {
    const r = await testbed("plan", "frisbee", "--clients", "2", "--image-mib", "2", "--data-mib", "6", "--no-store", "--json", "--svg", join(dir, "c.svg"));
    const out = JSON.parse(r.stdout) as { results: unknown[]; peakRssMiB: number };
    expect(out.results.length).toBe(1);
    expect(out.peakRssMiB).toBeGreaterThan(10);
  });

  it("says in plain words what a chunk row's caveat means", async () => {
    const r = await testbed("plan", "frisbee", "--clients", "1000", "--loss", "0.01", "--image-mib", "2", "--data-mib", "6", "--model", "chunk", "--no-store", "--svg", join(dir, "b.svg"));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^note: beyond 300 clients .* the chunk model is optimistic: its runtimes come out shorter than the packet model's/m);
    expect(r.stdout).not.toMatch(/runs fast/);
  });
});

describe("chart ticks", () => {
  it("fall on round values that enclose the data", async () => {
    expect(niceTicks(0, 11.272, 5)).toEqual([0, 2.5, 5, 7.5, 10, 12.5]);
    expect(niceTicks(0, 278.22, 5)).toEqual([0, 100, 200, 300]);
    expect(niceTicks(0, 1.099, 5)).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25]);
    expect(niceTicks(0, 0.3, 3)).toEqual([0, 0.1, 0.2, 0.3]);
    expect(niceTicks(3, 7, 5)).toEqual([3, 4, 5, 6, 7]);
    expect(niceTicks(0, 0, 5)).toEqual([0, 0.2]);
    expect(decadeTicks(1, 40)).toEqual([1, 10, 100]);
    expect(decadeTicks(300, 10_000)).toEqual([100, 1000, 10_000]);
    expect(decadeTicks(10, 10)).toEqual([10, 100]);
  });

  it("are the labels the chart draws", async () => {
    const svg = lineChart("t", "clients", "runtime (s)", [{ label: "a", points: [{ x: 1, y: 9.753 }, { x: 40, y: 11.272 }] }], true);
    const labels = [...svg.matchAll(/text-anchor="(end|middle)">([^<]+)</g)].map((m) => m[2]);
    expect(labels).toEqual(expect.arrayContaining(["0", "2.5", "5", "7.5", "10", "12.5", "1", "100"]));
    expect(labels.filter((l) => /^\d/.test(l ?? "")).every((l) => /^(\d+|\d+\.\d|\d+\.25|\d+\.75)$/.test(l ?? ""))).toBe(true);
  });
});

describe("testbed experiment", () => {
  it("says what it created and what it changed", async () => {
    const db = join(dir, "exp.db");
    const created = await testbed("experiment", "create", "exp1", "--nodes", "node0=10.0.0.1,node1=10.0.0.2", "--db", db);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^created experiment exp1: 2 nodes, .*sync server node0/);
    expect((await testbed("experiment", "set-sync-server", "exp1", "node1", "--db", db)).stdout).toBe("experiment exp1: sync server is now node1 (10.0.0.2)\n");
    expect((await testbed("experiment", "set-sync-server", "exp1", "--default", "--db", db)).stdout).toBe("experiment exp1: sync server is now node0 (10.0.0.1, the first node by name)\n");
  });
});
