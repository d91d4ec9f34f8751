import { describe, expect, it } from "vitest";
import { runServiceBench } from "../../../real/agent/bench.js";

describe("bench service", () => {
  it("deploys to real agents, times a rollout per batch size and a restart-less update", async () => {
    const r = await runServiceBench({ agents: 3, batches: [3] });
    expect(r.rollouts).toEqual([expect.objectContaining({ batch: 3, state: "done" })]);
    // A rollout waits out the health wait at least once; an update without a restart does not.
    expect((r.rollouts[0]?.seconds ?? 0) * 1000).toBeGreaterThanOrEqual(r.healthyMs);
    expect(r.notice.maxMs).toBeGreaterThan(0);
    expect(r.noticeAlone.runs).toBe(9);
  });
});
