import { describe, expect, it } from "vitest";
import { makeRollout, SEC } from "./rollout-support.js";
import {
  N_APPLYING,
  N_FAILED,
  N_RB_WAIT,
  N_STAGED,
  N_STAGE_FAILED,
} from "../../../core/service/index.js";

/**
 * The rollout's edges that the Stryker run on rollout.ts found untested (docs/mutation.md,
 * core/service): each test drives the machine one answer at a time, as rollout-steps.test.ts
 * does, and pins what the mutant changed: a reason, a wake time, a limit, a count.
 */

const make = makeRollout;

describe("rollout edges: reasons and defaults", () => {
  it("has no reason before it starts, none on switching, and none when done with every target updated", () => {
    const { r, states, stageAll, lastApply } = make({ targets: 2, batches: [2], maxParallel: 2, maxUnavailable: 2 });
    expect(r.reason).toBe("");
    r.start(0);
    stageAll(1);
    expect(states).toEqual([[0, "staging", ""], [1, "switching", ""]]);
    r.applied(2, 0, lastApply(0).op, true);
    r.applied(2, 1, lastApply(1).op, true);
    expect(states.at(-1)).toEqual([2, "done", ""]);
    expect(r.reason).toBe("");
  });

  it("by default retries a failed stage after 2 s, then 4 s (exponential from 2 s)", () => {
    const { r, stages } = make({ targets: 1 }, false);
    r.start(0);
    r.staged(1, 0, stages[0]!.op, false);
    expect(r.nextWakeUs()).toBe(1 + 2 * SEC);
    r.poll(1 + 2 * SEC - 1);
    expect(stages).toHaveLength(1);
    r.poll(1 + 2 * SEC);
    expect(stages).toHaveLength(2);
    r.staged(2 + 2 * SEC, 0, stages[1]!.op, false);
    expect(r.nextWakeUs()).toBe(2 + 6 * SEC);
  });
});

describe("rollout edges: answers and time-outs", () => {
  it("counts a second answer to a stage it already took as stale, whatever it says", () => {
    const { r, stages } = make({ targets: 2, maxParallel: 2 });
    r.start(0);
    r.staged(1, 0, stages[0]!.op, true);
    expect(r.phaseOf(0)).toBe(N_STAGED);
    r.staged(2, 0, stages[0]!.op, false);
    expect(r.staleAnswers).toBe(1);
    expect(r.phaseOf(0)).toBe(N_STAGED);
    // No retry of node 0 was scheduled: the only wake is node 1's stage time-out.
    expect(r.nextWakeUs()).toBe(120 * SEC);
  });

  it("takes an apply unanswered by the op timeout as a failed target, and ignores its late answer", () => {
    const { r, states, stageAll, lastApply } = make({ targets: 2, batches: [2], maxParallel: 2, maxUnavailable: 2, maxFailPct: 50, maxFailTotal: 1, opTimeoutUs: 30 * SEC });
    r.start(0);
    stageAll(1);
    r.applied(2, 1, lastApply(1).op, true);
    expect(r.nextWakeUs()).toBe(1 + 30 * SEC);
    r.poll(1 + 30 * SEC);
    expect(r.phaseOf(0)).toBe(N_FAILED);
    expect(r.failedTotal).toBe(1);
    expect(states.at(-1)).toEqual([1 + 30 * SEC, "done", "1 targets not updated"]);
    r.applied(2 + 30 * SEC, 0, lastApply(0).op, true);
    expect(r.staleAnswers).toBe(1);
    expect(r.phaseOf(0)).toBe(N_FAILED);
  });

  it("schedules no retry after the last stage attempt fails", () => {
    const { r, stages } = make({ targets: 2, maxParallel: 2, stageAttemptsMax: 1 });
    r.start(0);
    r.staged(5, 0, stages[0]!.op, false);
    expect(r.phaseOf(0)).toBe(N_STAGE_FAILED);
    // Node 1's stage times out at 120 s; node 0 is not tried again, so nothing wakes sooner.
    expect(r.nextWakeUs()).toBe(120 * SEC);
  });
});

describe("rollout edges: the progress deadline", () => {
  it("counts the deadline from the last progress, not from time zero", () => {
    const { r, stages, states } = make({ targets: 2, progressDeadlineUs: 20 * SEC, opTimeoutUs: 100 * SEC });
    r.start(0);
    r.staged(5 * SEC, 0, stages[0]!.op, true);
    expect(r.nextWakeUs()).toBe(25 * SEC);
    r.poll(16 * SEC);
    expect(r.state).toBe("staging");
    r.poll(25 * SEC);
    expect(states.at(-1)).toEqual([25 * SEC, "aborting", "progress deadline: nothing became healthy for 20 s"]);
  });

  it("aborts at the deadline while switching too", () => {
    const { r, states, stageAll } = make({ targets: 2, batches: [2], maxParallel: 2, maxUnavailable: 2, progressDeadlineUs: 20 * SEC, opTimeoutUs: 100 * SEC });
    r.start(0);
    stageAll(1);
    expect(r.state).toBe("switching");
    expect(r.nextWakeUs()).toBe(1 + 20 * SEC);
    r.poll(20 * SEC);
    expect(r.state).toBe("switching");
    r.poll(1 + 20 * SEC);
    expect(states.at(-1)).toEqual([1 + 20 * SEC, "aborting", "progress deadline: nothing became healthy for 20 s"]);
  });

  it("does not give up a node waiting for its rollback retry while another rollback is still out", () => {
    const { r, stageAll, lastApply, rollbacks } = make({ targets: 2, batches: [2], maxParallel: 2, maxUnavailable: 2, progressDeadlineUs: 5 * SEC, opTimeoutUs: 100 * SEC });
    r.start(0);
    stageAll(1);
    r.applied(2, 0, lastApply(0).op, false);
    r.applied(2, 1, lastApply(1).op, true);
    expect(rollbacks()).toEqual([0, 1]);
    r.applied(3, 1, lastApply(1).op, false);
    expect(r.phaseOf(1)).toBe(N_RB_WAIT);
    // Node 0's rollback is still out at the deadline: node 1 keeps waiting for its retry.
    r.poll(2 + 5 * SEC);
    expect(r.phaseOf(1)).toBe(N_RB_WAIT);
    r.applied(8 * SEC, 0, lastApply(0).op, true);
    // Its retry is due at 10 s; the deadline now runs from 8 s.
    r.poll(11 * SEC);
    expect(rollbacks()).toEqual([0, 1, 1]);
    r.applied(12 * SEC, 1, lastApply(1).op, true);
    expect(r.state).toBe("rolled-back");
  });

  it("wakes for no stage retry once aborted", () => {
    const { r, stages, states } = make({ targets: 2, maxParallel: 2, progressDeadlineUs: 20 * SEC, opTimeoutUs: 100 * SEC });
    r.start(0);
    // Node 0's stage fails at 15 s; its retry would be at 25 s, after the abort at 20 s.
    r.staged(15 * SEC, 0, stages[0]!.op, false);
    expect(r.nextWakeUs()).toBe(20 * SEC);
    r.poll(20 * SEC);
    expect(states.at(-1)?.[1]).toBe("aborting");
    // Aborting: only node 1's stage (out until 100 s) is awaited.
    expect(r.nextWakeUs()).toBe(100 * SEC);
  });
});

describe("rollout edges: a rollback past its progress deadline with an operation out", () => {
  it("waits for that operation's answer or deadline instead of waking again at the passed deadline, then gives up", () => {
    const { r, stageAll, lastApply, rollbacks, states } = make({ targets: 3, batches: [3], maxParallel: 1, maxUnavailable: 3, progressDeadlineUs: 60 * SEC, opTimeoutUs: 120 * SEC });
    r.start(0);
    for (let i = 0; i < 3; i++) stageAll(1);
    r.applied(2, 0, lastApply(0).op, true);
    r.applied(3, 1, lastApply(1).op, true);
    r.applied(4, 2, lastApply(2).op, false);
    expect(r.state).toBe("rolling-back");
    expect(rollbacks()).toEqual([0]);
    const deadline = r.nextWakeUs();
    expect(deadline).toBeGreaterThan(4);
    expect(deadline).toBeLessThanOrEqual(4 + 60 * SEC);
    r.poll(deadline);
    // Node 0's rollback is still out (until 4 + 120 s): nothing to do before its answer or its deadline.
    expect(r.state).toBe("rolling-back");
    expect(r.nextWakeUs()).toBe(4 + 120 * SEC);
    r.poll(4 + 120 * SEC);
    expect(r.state).toBe(states.at(-1)?.[1]);
    expect(["rollback-incomplete", "rolled-back"]).toContain(r.state);
    expect(r.nextWakeUs()).toBe(Infinity);
  });
});

describe("rollout edges: limits", () => {
  it("applies at most maxParallel at once even when the unavailability budget allows more", () => {
    const { r, applies, stageAll, lastApply } = make({ targets: 4, batches: [4], maxParallel: 2, maxUnavailable: 4 });
    r.start(0);
    for (let i = 0; i < 2; i++) stageAll(1);
    expect(applies.map((a) => a.node)).toEqual([0, 1]);
    r.applied(2, 0, lastApply(0).op, true);
    expect(applies.map((a) => a.node)).toEqual([0, 1, 2]);
  });

  it("rolls back at most maxParallel at once even when the unavailability budget allows more", () => {
    const { r, stageAll, lastApply, rollbacks } = make({ targets: 3, batches: [3], maxParallel: 1, maxUnavailable: 3 });
    r.start(0);
    for (let i = 0; i < 3; i++) stageAll(1);
    r.applied(2, 0, lastApply(0).op, true);
    r.applied(3, 1, lastApply(1).op, true);
    r.applied(4, 2, lastApply(2).op, false);
    expect(r.state).toBe("rolling-back");
    expect(rollbacks()).toEqual([0]);
    r.applied(5, 0, lastApply(0).op, true);
    expect(rollbacks()).toEqual([0, 1]);
  });

  it("counts a target whose staging failed against its batch when the batch reaches it, not before", () => {
    const { r, stages, states, lastApply } = make({ targets: 3, batches: [3], maxParallel: 1, maxUnavailable: 3, stageAttemptsMax: 1 });
    r.start(0);
    r.staged(1, 0, stages[0]!.op, true);
    r.staged(2, 1, stages[1]!.op, false);
    r.staged(3, 2, stages[2]!.op, true);
    expect(r.state).toBe("switching");
    expect(r.phaseOf(0)).toBe(N_APPLYING);
    expect(r.failedTotal).toBe(0);
    r.applied(4, 0, lastApply(0).op, true);
    expect(states.at(-1)).toEqual([4, "aborting", "batch 1 of 1: 1 of 3 targets failed, more than 0% of the batch"]);
  });

  it("remembers the most nodes held unavailable at once after fewer are", () => {
    const { r, stageAll, lastApply } = make({ targets: 3, batches: [2, 1], maxParallel: 2, maxUnavailable: 2 });
    r.start(0);
    for (let i = 0; i < 2; i++) stageAll(1);
    expect(r.unavailableNow).toBe(2);
    r.applied(2, 0, lastApply(0).op, true);
    r.applied(2, 1, lastApply(1).op, true);
    expect(r.unavailableNow).toBe(1);
    expect(r.phaseOf(2)).toBe(N_APPLYING);
    expect(r.maxUnavailableSeen).toBe(2);
  });

  it("counts nothing unavailable after answered applies put in place without a restart", () => {
    const { r, stageAll, lastApply } = make({ targets: 2, batches: [2], maxParallel: 2, maxUnavailable: 1, restart: false });
    r.start(0);
    stageAll(1);
    r.applied(2, 0, lastApply(0).op, true);
    r.applied(2, 1, lastApply(1).op, true);
    expect(r.state).toBe("done");
    expect(r.unavailableNow).toBe(0);
    r.setDown(0, true);
    expect(r.unavailableNow).toBe(1);
  });
});
