import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../../support/run.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

const dir = mkdtempSync(join(tmpdir(), "testbed-plansvc-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI without blocking the event loop (test/support/run.ts). */
function testbed(...args: string[]) {
  return runTestbed([...args], { cwd: dir, timeoutMs: 120_000 });
}

describe("testbed plan service", () => {
  it("prints availability, repair times and rollouts as JSON, writes the chart and stores the run", async () => {
    const db = join(dir, "p.db");
    const r = await testbed("plan", "service", "--nodes", "80", "--days", "2", "--seed", "2", "--json", "--db", db, "--svg", "chart.svg");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const key of ["availabilityPct", "repairSec", "rolloutSec", "rollouts", "noticeSec", "liveness", "invariants", "traceHash"]) expect(out).toHaveProperty(key);
    expect(out["ok"]).toBe(true);
    expect(out["runId"]).toBe(1);
    expect(readFileSync(join(dir, "chart.svg"), "utf8")).toMatch(/^<svg[\s\S]*rollout time \(s\)[\s\S]*<\/svg>$/);
    expect((await testbed("runs", "--db", db)).stdout).toContain("plan service nodes=80 days=2");
  });

  it("prints a table with the invariants", async () => {
    const r = await testbed("plan", "service", "--nodes", "50", "--days", "1", "--no-store", "--svg", "t.svg");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/availability \d+(\.\d+)?% of node-time/);
    expect(r.stdout).toMatch(/invariants: unavailable within budget ok, no cross-version messages ok, minority never overrules ok, one version at the end ok/);
  });

  it("refuses bad flags in one line with exit 2, and writes nothing", async () => {
    for (const [args, pattern] of [
      [["--nodes", "1"], /^testbed: --nodes: expected a whole number from 2/],
      [["--days", "forever"], /^testbed: --days:/],
      [["--max-unavailable-pct", "150"], /^testbed: --max-unavailable-pct: expected a percentage/],
    ] as const) {
      const r = await testbed("plan", "service", ...args, "--no-store", "--svg", "bad.svg");
      expect(r.code).toBe(2);
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    }
    expect(existsSync(join(dir, "bad.svg"))).toBe(false);
  });
});
