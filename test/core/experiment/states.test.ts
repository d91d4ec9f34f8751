import { describe, expect, it } from "vitest";
import { EXPERIMENT_ACTIONS, EXPERIMENT_STATES, TRANSITIONS, transition } from "../../../core/experiment/index.js";

describe("the experiment transition table", () => {
  it("takes a swapped experiment through swap-in and back out", () => {
    expect(transition("new", "swapin")).toEqual({ ok: true, to: "swapping-in" });
    expect(transition("swapping-in", "swapin-done")).toEqual({ ok: true, to: "active" });
    expect(transition("active", "swapout")).toEqual({ ok: true, to: "swapping-out" });
    expect(transition("swapping-out", "swapout-done")).toEqual({ ok: true, to: "swapped" });
    expect(transition("swapped", "swapin")).toEqual({ ok: true, to: "swapping-in" });
  });

  it("refuses a second swap-in while one runs, saying so", () => {
    const r = transition("swapping-in", "swapin");
    expect(r.ok).toBe(false);
    expect(!r.ok && r.why).toBe("cannot swap in: it is swapping in already; wait until it is active or has failed");
  });

  it("refuses to swap out an experiment that is not in", () => {
    for (const state of ["new", "swapped"] as const) {
      const r = transition(state, "swapout");
      expect(r.ok).toBe(false);
    }
    expect(transition("new", "swapout")).toEqual({ ok: false, why: "cannot swap out: it has never been swapped in" });
  });

  it("refuses to delete an active experiment and lets a failed one be retried", () => {
    expect(transition("active", "delete").ok).toBe(false);
    expect(transition("failed", "swapin")).toEqual({ ok: true, to: "swapping-in" });
    expect(transition("failed", "delete")).toEqual({ ok: true, to: "deleted" });
  });

  it("answers every state and action with either a destination or a one-line reason", () => {
    for (const state of EXPERIMENT_STATES) {
      for (const action of EXPERIMENT_ACTIONS) {
        const r = transition(state, action);
        if (r.ok) expect(TRANSITIONS[state][action]).toBe(r.to);
        else expect(r.why).toMatch(/^cannot [a-z -]+: [^\n]+$/);
      }
    }
  });
});
