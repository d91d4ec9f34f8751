import { describe, expect, it, vi } from "vitest";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../support/run.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

/** Runs the CLI without blocking the event loop (test/support/run.ts). */
function testbed(...args: string[]) {
  return runTestbed([...args], { timeoutMs: 300_000 });
}

describe("testbed bench swap", () => {
  it("prints the swap's wall time, memory, phase times, the chunk model's prediction and the baseline's figures", async () => {
    const r = await testbed("bench", "swap", "--nodes", "60", "--baseline", "20", "--seed", "3", "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.swap).toMatchObject({ nodes: 60, ok: true });
    expect(j.baseline).toMatchObject({ nodes: 20, ok: true });
    for (const s of [j.swap, j.baseline]) {
      expect(s.wallSeconds).toBeGreaterThan(0);
      expect(s.events).toBeGreaterThan(s.nodes);
      // The milestones come in order: loaded, booted, past the barrier.
      expect(s.allLoadedSec).toBeGreaterThan(0);
      expect(s.allBootedSec).toBeGreaterThan(s.allLoadedSec);
      expect(s.barrierSec).toBeGreaterThanOrEqual(s.allBootedSec);
      expect(s.phases.load.nodes).toBeGreaterThanOrEqual(s.nodes);
      expect(s.loadAverage.start).toBeGreaterThanOrEqual(0);
      expect(s.cpuSeconds).toBeGreaterThan(0);
      expect(s.loadAverage.end).toBeGreaterThanOrEqual(0);
    }
    expect(j.rssPeakMiB).toBeGreaterThan(10);
    expect(j.predicted.loadSec).toBeGreaterThan(0);
    expect(j.loadOverPredicted).toBeCloseTo(j.swap.phases.load.maxSec / j.predicted.loadSec, 2);
    expect(j.wallPerNodeRatio).toBeGreaterThan(0);
    expect(j.cpuPerNodeRatio).toBeCloseTo(j.swap.cpuSeconds / 60 / (j.baseline.cpuSeconds / 20), 2);
  });

  it("refuses a baseline larger than the swap, in one line, exit 2", async () => {
    const r = await testbed("bench", "swap", "--nodes", "10", "--baseline", "20");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("testbed: --baseline: at most --nodes\n");
  });
});
