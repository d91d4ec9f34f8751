import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Controller } from "../../../real/agent/controller.js";
import { startAgent, type RunningAgent } from "../../../real/agent/daemon.js";
import { BAD_RUN, GOOD_RUN, KEY, serviceOf, startAgents, tarball, tempDir } from "./support.js";

const sha = (text: string): string => createHash("sha256").update(text).digest("hex");
let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/**
 * 20 agents on loopback in two node sets. v1 works everywhere; v2 works on the first set (n0..n9)
 * and fails at start on the second (n10..n19). Batches of 5, no failure tolerated: the third batch
 * (n10..n14) fails, the rollout aborts and puts the first ten back.
 */
async function twentyAgents() {
  const t = tempDir("svc-rollout");
  const { agents, nodes } = await startAgents(t.dir, 20);
  cleanups.push(t.cleanup, async () => void (await Promise.all(agents.map((a) => a.stop()))));
  const v1 = await tarball(t.dir, "v1", { "run.sh": GOOD_RUN("v1") });
  const v2good = await tarball(t.dir, "v2-good", { "run.sh": GOOD_RUN("v2") });
  const v2bad = await tarball(t.dir, "v2-bad", { "run.sh": BAD_RUN("v2") });
  const first = Array.from({ length: 10 }, (_, i) => i);
  const second = Array.from({ length: 10 }, (_, i) => i + 10);
  const v1Service = serviceOf([{ name: "first", nodes: first, tarballs: [v1] }, { name: "second", nodes: second, tarballs: [v1] }]);
  const v2Service = serviceOf([{ name: "first", nodes: first, tarballs: [v2good] }, { name: "second", nodes: second, tarballs: [v2bad] }]);
  const deployer = new Controller(nodes, KEY, v1Service);
  expect((await deployer.deploy("v1")).filter((r) => !r.ok)).toEqual([]);
  deployer.close();
  return { t, agents, nodes, v1Service, v2Service };
}

describe("a real rollout across 20 agents on loopback", () => {
  it("aborts at the failing batch, rolls every changed node back, and a checksum sweep finds every node on the old files", async () => {
    const { nodes, v2Service, v1Service } = await twentyAgents();
    const c = new Controller(nodes, KEY, v2Service);
    cleanups.push(() => c.close());
    const lines: string[] = [];
    const report = await c.rollout("v2", nodes.map((_, i) => i), (l) => lines.push(l));
    expect(report.state).toBe("rolled-back");
    expect(report.reason).toMatch(/^batch 3 of 4: \d of 5 targets failed, more than 0% of the batch$/);
    expect(report.batches.map((b) => b.failed)).toEqual([0, 0, expect.any(Number)]);
    expect(report.nodes.slice(0, 10).every((n) => n.outcome === "rolled-back")).toBe(true);
    expect(report.nodes.slice(15).every((n) => n.outcome === "pending" || n.outcome === "staged")).toBe(true);
    const status = await c.status();
    expect(status.map((s) => s.version)).toEqual(new Array(20).fill("v1"));
    expect(status.every((s) => s.healthy)).toBe(true);
    const sums = await new Controller(nodes, KEY, v1Service).checksum();
    expect(sums.map((s) => [s.nodeSet, s.verdict.decided, s.verdict.supporters, s.minority])).toEqual([
      ["first", sha(GOOD_RUN("v1")), 10, []],
      ["second", sha(GOOD_RUN("v1")), 10, []],
    ]);
  });

  it("does the same with an agent killed mid-rollout; the killed node is silent, and on the old files once it is back", async () => {
    const { t, agents, nodes, v2Service, v1Service } = await twentyAgents();
    const victim = 7;
    let killed: Promise<void> | null = null;
    const c = new Controller(nodes, KEY, v2Service);
    cleanups.push(() => c.close());
    const report = await c.rollout("v2", nodes.map((_, i) => i), (line) => {
      // Kill the agent as its batch starts: its connection drops, its processes die with it.
      if (line.startsWith("batch 2:") && killed === null) killed = (agents[victim] as RunningAgent).stop();
    });
    await killed;
    expect(report.state).toMatch(/^rolled-back|rollback-incomplete$/);
    expect(report.reason).toMatch(/^batch 2 of 4: 1 of 5 targets failed/);
    const sums = await new Controller(nodes, KEY, v1Service).checksum(5_000);
    const first = sums.find((s) => s.nodeSet === "first");
    expect(first?.silent).toEqual(["n7"]);
    expect(first?.verdict.decided).toBe(sha(GOOD_RUN("v1")));
    expect(first?.minority).toEqual([]);
    // The node comes back with what it had: v1, since it never got v2.
    const back = await startAgent({ host: "127.0.0.1", port: nodes[victim]?.port as number, key: KEY, dir: join(t.dir, `agent${victim}`), node: "n7", log: () => {} });
    cleanups.push(() => back.stop());
    expect(readFileSync(join(t.dir, `agent${victim}`, "current", "run.sh"), "utf8")).toBe(GOOD_RUN("v1"));
    const after = await new Controller(nodes, KEY, v1Service).checksum(5_000);
    expect(after.every((s) => s.verdict.supporters === 10 && s.minority.length === 0 && s.silent.length === 0)).toBe(true);
  });
});
