import { describe, expect, it } from "vitest";
import { makeRollout, SEC } from "./rollout-support.js";
import {
  N_APPLYING,
  N_DONE,
  N_FAILED,
  N_RB_DONE,
  N_RB_FAILED,
  N_RB_WAIT,
  N_STAGED,
  N_STAGE_FAILED,
  NODE_PHASE_NAMES,
  type RolloutConfig,
} from "../../../core/service/index.js";

/**
 * The rollout driven step by step: each operation it asks for is answered (or not) by the test,
 * so every rule is seen at the moment it acts: retries and their backoff, the failure share per
 * batch, the unavailability budget, the progress deadline, the rollback and its give-up.
 */

const make = makeRollout;

describe("rollout, step by step: staging", () => {
  it("does nothing before it starts, starts once, and stages every target before changing any", () => {
    const { r, stages, applies, states } = make({ targets: 3, maxParallel: 3, batches: [3], maxUnavailable: 3 });
    expect(r.nextWakeUs()).toBe(Infinity);
    r.poll(0);
    expect(stages).toEqual([]);
    expect(r.currentBatch).toBe(-1);
    r.start(5);
    r.start(6);
    expect(states).toEqual([[5, "staging", ""]]);
    expect(stages.map((s) => s.node)).toEqual([0, 1, 2]);
    expect(applies).toEqual([]);
    r.staged(7, 0, stages[0]!.op, true);
    expect(r.phaseOf(0)).toBe(N_STAGED);
    expect(applies).toEqual([]);
    r.staged(8, 1, stages[1]!.op, true);
    r.staged(9, 2, stages[2]!.op, true);
    expect(states.map(([, s]) => s)).toEqual(["staging", "switching"]);
    expect(applies.map((a) => [a.now, a.node, a.toNew])).toEqual([[9, 0, true], [9, 1, true], [9, 2, true]]);
    expect(r.currentBatch).toBe(0);
  });

  it("stages at most maxParallel at once, starting the next as each answers", () => {
    const { r, stages } = make({ targets: 4, maxParallel: 2 });
    r.start(0);
    expect(stages.map((s) => s.node)).toEqual([0, 1]);
    r.staged(1, 1, stages[1]!.op, true);
    expect(stages.map((s) => s.node)).toEqual([0, 1, 2]);
  });

  it("retries a failed stage after the backoff, up to stageAttemptsMax, then counts the node failed in its batch without changing it", () => {
    const { r, stages, applies, states, batches } = make({ targets: 2, maxParallel: 2, batches: [2], maxUnavailable: 2, stageAttemptsMax: 2, maxFailPct: 50, maxFailTotal: 1 });
    r.start(0);
    r.staged(1, 0, stages[0]!.op, false);
    expect(r.phaseOf(0)).toBe(N_STAGE_FAILED);
    r.staged(1, 1, stages[1]!.op, true);
    // Node 0 waits 10 s (the backoff) before its second attempt.
    expect(r.nextWakeUs()).toBe(1 + 10 * SEC);
    r.poll(10 * SEC);
    expect(stages).toHaveLength(2);
    r.poll(1 + 10 * SEC);
    expect(stages.map((s) => [s.now, s.node])).toEqual([[0, 0], [0, 1], [1 + 10 * SEC, 0]]);
    r.staged(2 + 10 * SEC, 0, stages[2]!.op, false);
    // No third attempt: switching starts, and node 0 is counted as a failure of batch 1 without an apply.
    expect(states.map(([, s]) => s)).toEqual(["staging", "switching"]);
    expect(applies.map((a) => a.node)).toEqual([1]);
    expect(r.failedTotal).toBe(1);
    r.applied(3 + 10 * SEC, 1, applies[0]!.op, true);
    expect(batches).toEqual([`${2 + 10 * SEC}: start 0 at 0 size 2`, `${3 + 10 * SEC}: settled 0 failed 1`]);
    expect(r.state).toBe("done");
    expect(r.reason).toBe("1 targets not updated");
    expect(r.phaseOf(0)).toBe(N_STAGE_FAILED);
  });

  it("takes a stage unanswered by the op timeout as failed, retries it, and ignores the late answer", () => {
    const { r, stages } = make({ targets: 1, opTimeoutUs: 30 * SEC });
    r.start(0);
    expect(r.nextWakeUs()).toBe(30 * SEC);
    r.poll(30 * SEC - 1);
    expect(r.phaseOf(0)).not.toBe(N_STAGE_FAILED);
    r.poll(30 * SEC);
    expect(r.phaseOf(0)).toBe(N_STAGE_FAILED);
    r.staged(31 * SEC, 0, stages[0]!.op, true);
    expect(r.staleAnswers).toBe(1);
    expect(r.phaseOf(0)).toBe(N_STAGE_FAILED);
    r.poll(40 * SEC);
    expect(stages).toHaveLength(2);
    r.staged(41 * SEC, 0, stages[0]!.op, true);
    expect(r.staleAnswers).toBe(2);
    r.staged(41 * SEC, 0, stages[1]!.op, true);
    expect(r.phaseOf(0)).not.toBe(N_STAGE_FAILED);
  });

  it("aborts at the progress deadline while staging, changing nothing and so rolling nothing back", () => {
    const { r, applies, states } = make({ targets: 2, progressDeadlineUs: 20 * SEC, opTimeoutUs: 100 * SEC });
    r.start(0);
    expect(r.nextWakeUs()).toBe(20 * SEC);
    r.poll(20 * SEC - 1);
    expect(r.state).toBe("staging");
    r.poll(20 * SEC);
    expect(states.map(([t, s, why]) => [t, s, why])).toEqual([
      [0, "staging", ""],
      [20 * SEC, "aborting", "progress deadline: nothing became healthy for 20 s"],
    ]);
    // The stage in flight is awaited; once it answers, there is nothing to put back.
    r.staged(21 * SEC, 0, 1, true);
    expect(states.map(([, s]) => s)).toEqual(["staging", "aborting", "rolling-back", "rolled-back"]);
    expect(r.reason).toBe("progress deadline: nothing became healthy for 20 s");
    expect(applies).toEqual([]);
    expect(r.finished).toBe(true);
    expect(r.nextWakeUs()).toBe(Infinity);
  });
});

describe("rollout, step by step: batches and failures", () => {
  it("starts each batch where the last ended and tells its size, then settles it with its failures", () => {
    const { r, applies, batches, stageAll, lastApply } = make({ targets: 5, batches: [1, 2], maxParallel: 2, maxUnavailable: 2, maxFailPct: 50, maxFailTotal: 5 });
    r.start(0);
    stageAll(1);
    stageAll(1);
    stageAll(1);
    expect(batches).toEqual(["1: start 0 at 0 size 1"]);
    r.applied(2, 0, lastApply(0).op, true);
    expect(batches.slice(1)).toEqual(["2: settled 0 failed 0", "2: start 1 at 1 size 2"]);
    r.applied(3, 1, lastApply(1).op, false);
    r.applied(4, 2, lastApply(2).op, true);
    expect(batches.slice(3)).toEqual(["4: settled 1 failed 1", "4: start 2 at 3 size 2"]);
    expect(r.currentBatch).toBe(2);
    expect(r.phaseOf(1)).toBe(N_FAILED);
    r.applied(5, 3, lastApply(3).op, true);
    r.applied(5, 4, lastApply(4).op, true);
    expect(r.state).toBe("done");
    expect(r.reason).toBe("1 targets not updated");
    expect(applies).toHaveLength(5);
  });

  it("aborts a batch whose failures pass its share at once, waits for its other operations, then rolls back every changed node", () => {
    const { r, applies, states, stageAll, lastApply } = make({ targets: 4, batches: [4], maxParallel: 4, maxUnavailable: 4, maxFailPct: 25, maxFailTotal: 10 });
    r.start(0);
    stageAll(1);
    r.applied(2, 0, lastApply(0).op, false);
    expect(r.state).toBe("switching");
    r.applied(3, 1, lastApply(1).op, false);
    expect(states.at(-1)).toEqual([3, "aborting", "batch 1 of 1: 2 of 4 targets failed, more than 25% of the batch"]);
    // Nodes 2 and 3 are still applying: nothing is rolled back until they answer.
    expect(applies.filter((a) => !a.toNew)).toEqual([]);
    expect(r.nextWakeUs()).toBe(1 + 120 * SEC);
    r.applied(4, 2, lastApply(2).op, true);
    expect(r.state).toBe("aborting");
    r.applied(5, 3, lastApply(3).op, true);
    expect(states.at(-1)?.[1]).toBe("rolling-back");
    expect(applies.filter((a) => !a.toNew).map((a) => [a.now, a.node])).toEqual([[5, 0], [5, 1], [5, 2], [5, 3]]);
    for (let n = 0; n < 4; n++) r.applied(6, n, lastApply(n).op, true);
    expect(r.state).toBe("rolled-back");
    expect(r.reason).toBe("batch 1 of 1: 2 of 4 targets failed, more than 25% of the batch");
    for (let n = 0; n < 4; n++) expect(NODE_PHASE_NAMES[r.phaseOf(n)]).toBe("rolled-back");
  });

  it("lets failures up to the share pass, and aborts on the one over the total cap", () => {
    const { r, states, stageAll, lastApply } = make({ targets: 4, batches: [2], maxParallel: 2, maxUnavailable: 2, maxFailPct: 50, maxFailTotal: 1 });
    r.start(0);
    stageAll(1);
    stageAll(1);
    r.applied(2, 0, lastApply(0).op, false);
    r.applied(2, 1, lastApply(1).op, true);
    expect(r.state).toBe("switching");
    r.applied(3, 2, lastApply(2).op, false);
    // Nothing is in flight, so the rollback begins at once.
    expect(states.slice(-2)).toEqual([
      [3, "aborting", "batch 2 of 2: 2 failures in all, more than 1"],
      [3, "rolling-back", "batch 2 of 2: 2 failures in all, more than 1"],
    ]);
  });

  it("rolls back only the nodes it changed, the one already down first (it needs no more of the budget)", () => {
    const { r, applies, stageAll, lastApply } = make({ targets: 4, batches: [1], maxFailPct: 0 });
    r.start(0);
    for (let i = 0; i < 4; i++) stageAll(1);
    r.applied(2, 0, lastApply(0).op, true);
    r.applied(3, 1, lastApply(1).op, false);
    // maxUnavailable is 1 and node 1 holds it: node 0 must wait until node 1 is back.
    expect(applies.filter((a) => !a.toNew).map((a) => a.node)).toEqual([1]);
    r.applied(4, 1, lastApply(1).op, true);
    expect(applies.filter((a) => !a.toNew).map((a) => a.node)).toEqual([1, 0]);
    r.applied(5, 0, lastApply(0).op, true);
    expect(r.state).toBe("rolled-back");
    expect([0, 1, 2, 3].map((n) => r.phaseOf(n))).toEqual([N_RB_DONE, N_RB_DONE, N_STAGED, N_STAGED]);
  });

  it("counts answers to an operation it no longer waits for as stale, and lets them change nothing", () => {
    const { r, stageAll, lastApply } = make({ targets: 2, batches: [2], maxParallel: 2, maxUnavailable: 2 });
    r.start(0);
    r.applied(1, 0, 1, true);
    expect(r.staleAnswers).toBe(1);
    stageAll(1);
    r.staged(2, 0, 1, true);
    expect(r.staleAnswers).toBe(2);
    r.applied(3, 0, lastApply(0).op + 100, true);
    expect(r.staleAnswers).toBe(3);
    expect(r.phaseOf(0)).toBe(N_APPLYING);
    r.applied(4, 0, lastApply(0).op, true);
    expect(r.phaseOf(0)).toBe(N_DONE);
  });
});

describe("rollout, step by step: unavailability", () => {
  it("never starts an apply that would take more than maxUnavailable down, and starts it when one is healthy again", () => {
    const { r, applies, stageAll, lastApply } = make({ targets: 4, batches: [4], maxParallel: 4, maxUnavailable: 2, maxFailPct: 100, maxFailTotal: 4 });
    r.start(0);
    stageAll(1);
    expect(applies.map((a) => a.node)).toEqual([0, 1]);
    expect(r.unavailableNow).toBe(2);
    // A failed apply leaves its node unavailable: no room is freed.
    r.applied(2, 0, lastApply(0).op, false);
    expect(applies).toHaveLength(2);
    r.applied(3, 1, lastApply(1).op, true);
    expect(applies.map((a) => a.node)).toEqual([0, 1, 2]);
    expect(r.maxUnavailableSeen).toBe(2);
  });

  it("counts nodes known to be down against the budget, and polls again when one comes back", () => {
    const { r, applies, stageAll } = make({ targets: 3, batches: [3], maxParallel: 3, maxUnavailable: 2 });
    expect(r.setDown(2, true)).toBe(false);
    expect(r.setDown(2, true)).toBe(false);
    expect(r.unavailableNow).toBe(1);
    r.start(0);
    stageAll(1);
    expect(applies.map((a) => a.node)).toEqual([0]);
    expect(r.setDown(2, false)).toBe(true);
    expect(r.setDown(2, false)).toBe(false);
    expect(r.unavailableNow).toBe(1);
    r.poll(2);
    expect(applies.map((a) => a.node)).toEqual([0, 1]);
  });

  it("applies to a node known down without more room (it is unavailable already), and counts it once", () => {
    const { r, applies, stageAll, lastApply } = make({ targets: 2, batches: [2], maxParallel: 2, maxUnavailable: 1 });
    r.setDown(0, true);
    r.start(0);
    stageAll(1);
    expect(applies.map((a) => a.node)).toEqual([0]);
    expect(r.unavailableNow).toBe(1);
    r.applied(2, 0, lastApply(0).op, true);
    // Healthy after the apply, but still known down: the budget stays taken until it is said up.
    expect(r.unavailableNow).toBe(1);
    expect(applies).toHaveLength(1);
    r.setDown(0, false);
    expect(r.unavailableNow).toBe(0);
    r.poll(3);
    expect(applies.map((a) => a.node)).toEqual([0, 1]);
    r.setDown(1, true);
    expect(r.unavailableNow).toBe(1);
  });

  it("needs no budget for a change put in place without a restart", () => {
    const { r, applies, stageAll } = make({ targets: 4, batches: [4], maxParallel: 4, maxUnavailable: 1, restart: false });
    r.start(0);
    stageAll(1);
    expect(applies.map((a) => a.node)).toEqual([0, 1, 2, 3]);
    expect(r.unavailableNow).toBe(0);
    expect(r.maxUnavailableSeen).toBe(0);
  });
});

describe("rollout, step by step: rollback", () => {
  function failedBatch(overrides: Partial<RolloutConfig> = {}) {
    const m = make({ targets: 2, batches: [2], maxParallel: 2, maxUnavailable: 2, rollbackAttemptsMax: 2, ...overrides });
    m.r.start(0);
    m.stageAll(1);
    m.r.applied(2, 0, m.lastApply(0).op, false);
    m.r.applied(2, 1, m.lastApply(1).op, true);
    return m;
  }

  it("retries a failed rollback after the backoff, and ends incomplete after rollbackAttemptsMax, naming how many", () => {
    const { r, applies, states, lastApply } = failedBatch();
    expect(states.at(-1)?.[1]).toBe("rolling-back");
    r.applied(3, 1, lastApply(1).op, true);
    r.applied(3, 0, lastApply(0).op, false);
    expect(r.phaseOf(0)).toBe(N_RB_WAIT);
    expect(r.nextWakeUs()).toBe(3 + 10 * SEC);
    r.poll(2 + 10 * SEC);
    expect(applies.filter((a) => !a.toNew)).toHaveLength(2);
    r.poll(3 + 10 * SEC);
    expect(applies.filter((a) => !a.toNew).map((a) => [a.now, a.node])).toEqual([[2, 0], [2, 1], [3 + 10 * SEC, 0]]);
    r.applied(4 + 10 * SEC, 0, lastApply(0).op, false);
    expect(r.phaseOf(0)).toBe(N_RB_FAILED);
    expect(r.state).toBe("rollback-incomplete");
    expect(r.reason).toBe("batch 1 of 1: 1 of 2 targets failed, more than 0% of the batch; 1 targets could not be rolled back");
  });

  it("stops at rollback-incomplete when the budget is held by nodes known down for a whole progress deadline", () => {
    const m = make({ targets: 3, batches: [3], maxParallel: 1, maxUnavailable: 1, progressDeadlineUs: 60 * SEC, rollbackAttemptsMax: 3 });
    m.r.start(0);
    for (let i = 0; i < 3; i++) m.stageAll(1);
    m.r.applied(2, 0, m.lastApply(0).op, true);
    m.r.applied(3, 1, m.lastApply(1).op, false);
    expect(m.r.state).toBe("rolling-back");
    // Node 1 failed and holds the only unit of the budget; node 0's rollback needs another.
    m.r.setDown(2, true);
    expect(m.applies.filter((a) => !a.toNew).map((a) => a.node)).toEqual([1]);
    m.r.applied(4, 1, m.lastApply(1).op, true);
    // Node 1 is back; but node 2 is known down and takes the budget: node 0 cannot be rolled back.
    expect(m.applies.filter((a) => !a.toNew).map((a) => a.node)).toEqual([1]);
    expect(m.r.phaseOf(0)).toBe(N_RB_WAIT);
    expect(m.r.nextWakeUs()).toBe(4 + 60 * SEC);
    m.r.poll(3 + 60 * SEC);
    expect(m.r.state).toBe("rolling-back");
    m.r.poll(4 + 60 * SEC);
    expect(m.r.state).toBe("rollback-incomplete");
    expect(m.r.reason).toMatch(/; 1 targets could not be rolled back$/);
    expect(m.r.phaseOf(0)).toBe(N_RB_FAILED);
    expect(m.r.phaseOf(2)).toBe(N_STAGED);
  });

  it("while aborting wakes only for the operations it awaits, not for the progress deadline", () => {
    const { r, stageAll, lastApply } = make({ targets: 2, batches: [2], maxParallel: 2, maxUnavailable: 2, progressDeadlineUs: 20 * SEC, opTimeoutUs: 100 * SEC });
    r.start(0);
    stageAll(1);
    r.applied(3, 0, lastApply(0).op, false);
    expect(r.state).toBe("aborting");
    expect(r.nextWakeUs()).toBe(1 + 100 * SEC);
    r.poll(50 * SEC);
    expect(r.state).toBe("aborting");
  });

  it("counts a rollback unanswered by the op timeout as a failed attempt, and tries again", () => {
    const { r, applies, lastApply } = failedBatch({ opTimeoutUs: 30 * SEC });
    r.applied(3, 1, lastApply(1).op, true);
    const first = lastApply(0);
    expect(first.toNew).toBe(false);
    r.poll(2 + 30 * SEC);
    expect(r.phaseOf(0)).toBe(N_RB_WAIT);
    r.applied(3 + 30 * SEC, 0, first.op, true);
    expect(r.staleAnswers).toBe(1);
    r.poll(2 + 40 * SEC);
    expect(applies.filter((a) => !a.toNew && a.node === 0)).toHaveLength(2);
    r.applied(3 + 40 * SEC, 0, lastApply(0).op, true);
    expect(r.state).toBe("rolled-back");
  });

  it("does not give up a rollback while one of its operations is still out", () => {
    const { r, lastApply } = failedBatch({ progressDeadlineUs: 10 * SEC, opTimeoutUs: 100 * SEC });
    r.applied(3, 1, lastApply(1).op, true);
    r.poll(50 * SEC);
    expect(r.state).toBe("rolling-back");
    r.applied(51 * SEC, 0, lastApply(0).op, true);
    expect(r.state).toBe("rolled-back");
  });
});

describe("rollout, step by step: a node reported down while the rollout holds it", () => {
  it("counts it once, and keeps counting it down after its apply until it is said up", () => {
    const { r, stageAll, lastApply } = make({ targets: 2, batches: [2], maxParallel: 2, maxUnavailable: 2 });
    r.start(0);
    stageAll(1);
    expect(r.unavailableNow).toBe(2);
    r.setDown(0, true);
    expect(r.unavailableNow).toBe(2);
    r.applied(2, 0, lastApply(0).op, true);
    expect(r.unavailableNow).toBe(2);
    r.applied(2, 1, lastApply(1).op, true);
    expect(r.unavailableNow).toBe(1);
    r.setDown(0, false);
    expect(r.unavailableNow).toBe(0);
    expect(r.maxUnavailableSeen).toBe(2);
  });
});
