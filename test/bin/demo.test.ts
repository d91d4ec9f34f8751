import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { openExperimentStore } from "../../real/store/index.js";
import { runTestbed, COMMANDS_TEST_TIMEOUT_MS } from "../support/run.js";

// Awaited commands are held to the test limit: several of them at load 30+ outlast the default.
vi.setConfig({ testTimeout: COMMANDS_TEST_TIMEOUT_MS });

const dir = mkdtempSync(join(tmpdir(), "testbed-demo-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the demo without blocking the event loop (test/support/run.ts). */
function demo(db: string) {
  return runTestbed(["exp", "demo", "--nodes", "30", "--seed", "2", "--db", db], { cwd: dir, timeoutMs: 300_000 });
}

describe("testbed exp demo (npm start, smaller)", () => {
  it("swaps in a simulated experiment by itself, records it, and prints the portal line; a second run swaps the first out and in again", async () => {
    const db = join(dir, "demo.db");
    const first = await demo(db);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^seed: 2\n/);
    expect(first.stdout).toMatch(/created experiment demo-30: 30 simulated nodes/);
    expect(first.stdout).toMatch(/boot barrier passed: 30\/30 ready/);
    expect(first.stdout.trimEnd().split("\n").at(-1)).toBe(`open it in the portal: npx testbed serve --db ${db}   then http://127.0.0.1:8080/#/exp/demo-30`);
    checkMilestoneTimes(first.stdout, db);
    const second = await demo(db);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/demo-30 is active from an earlier run: swapping it out first/);
    const store = openExperimentStore(db);
    try {
      expect(store.experimentHead("demo-30")?.state).toBe("active");
      expect(store.swapRuns("demo-30").map((r) => [r.kind, r.ok])).toEqual([["swapin", true], ["swapout", true], ["swapin", true]]);
    } finally {
      store.close();
    }
    // Two whole demo processes: on a machine at load 40 they can take longer than the suite's 120 s per test.
  }, 600_000);
});

/**
 * The milestone lines carry the swap's own times: each is the time in the store's events when that
 * many nodes were first loaded (moved from loading to booting) or ready at once, a node given to a
 * spare dropping out until its spare gets there, the replacement itself, the barrier; not the time a
 * progress tick noticed it. So they are the same lines on every run of a seed, however the ticks fall
 * (under load they fall more often), and they come in time order.
 */
function checkMilestoneTimes(stdout: string, db: string): void {
  const said = new Map([...stdout.matchAll(/^ +(\d+\.\d) s {2}(.*)$/gm)].map((m) => [m[2]!.replace(/ \(.*|;.*|:.*/, ""), Number(m[1])]));
  expect([...said.keys()]).toEqual(["first node loaded", "half the nodes loaded", "every node loaded", "boot barrier", "node1 given to a spare", "boot barrier passed"]);
  const times = [...said.values()];
  expect(times).toEqual([...times].sort((a, b) => a - b));
  const store = openExperimentStore(db);
  try {
    const events = store.experimentEvents("demo-30");
    const startUs = events.find((e) => e.kind === "swap.start")!.timeUs;
    const sec = (timeUs: number): number => Number(((timeUs - startUs) / 1e6).toFixed(1));
    /** reached[k - 1]: when k nodes were first in `phase` (or past it) at once. */
    const atOnce = (phase: string): number[] => {
      const there = new Set<string>();
      const reached: number[] = [];
      for (const e of events) {
        if (e.kind === "node.phase" && e.data.phase === phase) there.add(String(e.data.node));
        else if (e.kind === "node.replaced") there.delete(String(e.data.node));
        else continue;
        if (there.size > reached.length) reached.push(sec(e.timeUs));
      }
      return reached;
    };
    const loaded = atOnce("booting");
    const ready = atOnce("ready");
    const replaced = events.filter((e) => e.kind === "node.replaced");
    expect(replaced.map((e) => e.data.node)).toEqual(["node1"]);
    expect(said.get("first node loaded")).toBe(loaded[0]);
    expect(said.get("half the nodes loaded")).toBe(loaded[14]);
    expect(said.get("every node loaded")).toBe(loaded[29]);
    expect(said.get("boot barrier")).toBe(ready[14]);
    expect(said.get("node1 given to a spare")).toBe(sec(replaced[0]!.timeUs));
    expect(said.get("boot barrier passed")).toBe(sec(events.find((e) => e.kind === "barrier.passed")!.timeUs));
    // Every node was loaded before node1 was given back; its spare loaded after.
    expect(said.get("every node loaded")!).toBeLessThan(said.get("node1 given to a spare")!);
  } finally {
    store.close();
  }
}
