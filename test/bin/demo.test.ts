import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openExperimentStore } from "../../real/store/index.js";

const CLI = join(fileURLToPath(new URL("../..", import.meta.url)), "dist/bin/testbed.js");
const dir = mkdtempSync(join(tmpdir(), "testbed-demo-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function demo(db: string) {
  const r = spawnSync(process.execPath, [CLI, "exp", "demo", "--nodes", "30", "--seed", "2", "--db", db], { cwd: dir, encoding: "utf8", timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("testbed exp demo (npm start, smaller)", () => {
  it("swaps in a simulated experiment by itself, records it, and prints the portal line; a second run swaps the first out and in again", () => {
    const db = join(dir, "demo.db");
    const first = demo(db);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^seed: 2\n/);
    expect(first.stdout).toMatch(/created experiment demo-30: 30 simulated nodes/);
    expect(first.stdout).toMatch(/boot barrier passed: 30\/30 ready/);
    expect(first.stdout.trimEnd().split("\n").at(-1)).toBe(`open it in the portal: npx testbed serve --db ${db}   then http://127.0.0.1:8080/#/exp/demo-30`);
    checkMilestoneTimes(first.stdout, db);
    const second = demo(db);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/demo-30 is active from an earlier run: swapping it out first/);
    const store = openExperimentStore(db);
    try {
      expect(store.experimentHead("demo-30")?.state).toBe("active");
      expect(store.swapRuns("demo-30").map((r) => [r.kind, r.ok])).toEqual([["swapin", true], ["swapout", true], ["swapin", true]]);
    } finally {
      store.close();
    }
  });
});

/**
 * The milestone lines carry the swap's own times: each is the time in the store's events (the
 * n-th node's last move from loading to booting, the n-th to ready, the barrier), not the time a
 * progress tick noticed it; and they come in time order.
 */
function checkMilestoneTimes(stdout: string, db: string): void {
  const said = new Map([...stdout.matchAll(/^ +(\d+\.\d) s {2}(.*)$/gm)].map((m) => [m[2]!.replace(/ \(.*|;.*/, ""), Number(m[1])]));
  expect([...said.keys()]).toEqual(["first node loaded", "half the nodes loaded", "boot barrier: half of 30 nodes ready", "every node loaded", "boot barrier passed: 30/30 ready, 1 node replaced by spares"]);
  const times = [...said.values()];
  expect(times).toEqual([...times].sort((a, b) => a - b));
  const store = openExperimentStore(db);
  try {
    const events = store.experimentEvents("demo-30");
    const startUs = events.find((e) => e.kind === "swap.start")!.timeUs;
    const last = (phase: string): number[] => {
      const byNode = new Map<string, number>();
      for (const e of events) if (e.kind === "node.phase" && e.data.phase === phase) byNode.set(String(e.data.node), (e.timeUs - startUs) / 1e6);
      return [...byNode.values()].sort((a, b) => a - b);
    };
    const loaded = last("booting");
    const ready = last("ready");
    const barrier = (events.find((e) => e.kind === "barrier.passed")!.timeUs - startUs) / 1e6;
    const tenth = (sec: number): number => Number(sec.toFixed(1));
    expect(said.get("first node loaded")).toBe(tenth(loaded[0]!));
    expect(said.get("half the nodes loaded")).toBe(tenth(loaded[14]!));
    expect(said.get("every node loaded")).toBe(tenth(loaded[29]!));
    expect(said.get("boot barrier: half of 30 nodes ready")).toBe(tenth(ready[14]!));
    expect(said.get("boot barrier passed: 30/30 ready, 1 node replaced by spares")).toBe(tenth(barrier));
    // Ticks come every few simulated seconds at most: every node loaded long before the barrier passed.
    expect(said.get("every node loaded")! + 5).toBeLessThan(barrier);
  } finally {
    store.close();
  }
}
