import { describe, expect, it } from "vitest";
import { createRng } from "../../../core/engine/rng.js";
import { SetupPool, type SetupPoolPort } from "../../../core/experiment/setup-pool.js";
import { plan, SEC } from "./support.js";

type Call = [string, number, number, ...unknown[]];

/** A setup pool whose port records every call; tests answer the setups by hand. */
function pool(limits: NonNullable<Parameters<typeof plan>[0]>["limits"] = {}, experiment = "exp1") {
  const calls: Call[] = [];
  const port: SetupPoolPort = {
    start: (now, node, attempt) => calls.push(["start", now, node, attempt]),
    abort: (now, node, timedOut) => calls.push(["abort", now, node, timedOut]),
    tested: (now, node, attempt, outcome) => calls.push(["tested", now, node, attempt, outcome]),
    flapping: (now, node, on, percent) => calls.push(["flapping", now, node, on, percent]),
  };
  const p = { ...plan({ nodes: 4, limits: { setupRetryUs: 10 * SEC, setupAttemptsMax: 5, setupTimeoutUs: 600 * SEC, setupWindow: 40, ...limits } }), experiment };
  return { setup: new SetupPool(p, createRng(7), port), calls, take: () => calls.splice(0, calls.length) };
}

/** Runs the pool to its next wake-up (the monitor's next due test or time-out). */
function wake(setup: SetupPool): number {
  const t = setup.nextWakeUs();
  setup.poll(t);
  return t;
}

describe("SetupPool: an experiment's setups on the node monitor's machine", () => {
  it("is named after its experiment, in the characters a pool name may hold, at most 64", () => {
    expect(pool().setup.name).toBe("setup:exp1");
    expect(pool({}, "my exp/1").setup.name).toBe("setup:my_exp_1");
    expect(pool({}, "x".repeat(80)).setup.name).toBe(`setup:${"x".repeat(58)}`);
  });

  it("a node set up at once passes on its first attempt: one result, passed, 1 attempt, nothing left", () => {
    const { setup, take } = pool();
    expect(setup.takeResult()).toBeNull();
    const entry = setup.add(0, 2);
    expect(take()).toEqual([["start", 0, 2, 1]]);
    expect(setup.inFlight).toBe(1);
    setup.done(5 * SEC, entry, 1, true);
    expect(take()).toEqual([["tested", 5 * SEC, 2, 1, "pass"]]);
    expect(setup.takeResult()).toEqual({ node: 2, entry, passed: true, attempts: 1, aborted: false });
    expect(setup.takeResult()).toBeNull();
    expect(setup.inFlight).toBe(0);
    expect(setup.retried).toBe(0);
  });

  it("failures are retried after a delay that doubles from the plan's first delay (jitter up to half of it)", () => {
    const { setup, take } = pool({ setupAttemptsMax: 5 });
    const entry = setup.add(0, 1);
    take();
    let failedAt = 0;
    const gaps: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      setup.done(failedAt, entry, attempt, false);
      expect(setup.failuresOf(entry)).toBe(attempt);
      take();
      const startedAt = wake(setup);
      expect(take()).toEqual([["start", startedAt, 1, attempt + 1]]);
      gaps.push(startedAt - failedAt);
      failedAt = startedAt + SEC;
    }
    gaps.forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual(10 * SEC * 2 ** i);
      expect(gap).toBeLessThanOrEqual(10 * SEC * 2 ** i + 5 * SEC);
    });
    expect(setup.retried).toBe(4);
    setup.done(failedAt, entry, 5, true);
    take();
    expect(setup.takeResult()).toEqual({ node: 1, entry, passed: true, attempts: 5, aborted: false });
  });

  it("gives a node up after setupAttemptsMax failures in a row, and forgets it", () => {
    const { setup, take } = pool({ setupAttemptsMax: 2 });
    const entry = setup.add(0, 3);
    setup.done(SEC, entry, 1, false);
    setup.done(wake(setup) + SEC, entry, 2, false);
    expect(setup.takeResult()).toEqual({ node: 3, entry, passed: false, attempts: 2, aborted: false });
    expect(setup.inFlight).toBe(0);
    expect(setup.waiting).toBe(0);
    expect(setup.retried).toBe(1);
    take();
    // Gone: a late answer or a removal of it does nothing.
    setup.done(100 * SEC, entry, 2, true);
    setup.remove(100 * SEC, entry);
    expect(take()).toEqual([]);
    expect(setup.takeResult()).toBeNull();
  });

  it("a setup past its time is aborted as timed out; given up on a time-out, the result says it was aborted", () => {
    const { setup, take } = pool({ setupAttemptsMax: 1, setupTimeoutUs: 30 * SEC });
    const entry = setup.add(0, 0);
    take();
    expect(wake(setup)).toBe(30 * SEC);
    expect(take()).toEqual([
      ["abort", 30 * SEC, 0, true],
      ["tested", 30 * SEC, 0, 1, "timeout"],
    ]);
    expect(setup.takeResult()).toEqual({ node: 0, entry, passed: false, attempts: 1, aborted: true });
    // Given up inside the monitor's own poll, it is removed in that same call: nothing waits for a retry.
    expect(setup.waiting).toBe(0);
    expect(setup.inFlight).toBe(0);
  });

  it("a node withdrawn during its setup is aborted as a withdrawal, not a time-out, and gives no result", () => {
    const { setup, take } = pool();
    const entry = setup.add(0, 2);
    take();
    setup.remove(3 * SEC, entry);
    expect(take()).toEqual([["abort", 3 * SEC, 2, false]]);
    expect(setup.takeResult()).toBeNull();
    expect(setup.inFlight).toBe(0);
    // A later time-out in the same pool is a time-out again.
    const other = setup.add(4 * SEC, 1);
    take();
    setup.poll(4 * SEC + 600 * SEC);
    expect(take()[0]).toEqual(["abort", 604 * SEC, 1, true]);
    expect(setup.isFlapping(other)).toBe(false);
  });

  it("an answer for no entry (-1) is ignored", () => {
    const { setup, take } = pool();
    setup.add(0, 0);
    take();
    setup.done(SEC, -1, 1, true);
    expect(take()).toEqual([]);
    expect(setup.takeResult()).toBeNull();
    expect(setup.inFlight).toBe(1);
  });

  it("the window bounds setups in flight: the next node starts when one finishes", () => {
    const { setup, take } = pool({ setupWindow: 1 });
    const a = setup.add(0, 0);
    setup.add(0, 1);
    expect(take()).toEqual([["start", 0, 0, 1]]);
    expect(setup.waiting).toBe(1);
    setup.done(2 * SEC, a, 1, true);
    expect(take()).toEqual([
      ["tested", 2 * SEC, 0, 1, "pass"],
      ["start", 2 * SEC, 1, 1],
    ]);
  });
});
