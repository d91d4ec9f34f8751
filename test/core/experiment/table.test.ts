import { describe, expect, it } from "vitest";
import { EXPERIMENT_ACTIONS, EXPERIMENT_STATES, isExperimentState, isSwapping, transition, type ExperimentAction, type ExperimentState } from "../../../core/experiment/index.js";

/**
 * The whole transition table, cell by cell: the state each action leads to, or the exact sentence
 * `testbed exp` prints when it refuses. A changed cell is a changed promise to the user.
 */
const TABLE: Record<ExperimentState, Record<ExperimentAction, string>> = {
  new: {
    swapin: "-> swapping-in",
    "swapin-done": "cannot record swapin-done: it has never been swapped in",
    "swapin-failed": "cannot record swapin-failed: it has never been swapped in",
    swapout: "cannot swap out: it has never been swapped in",
    "swapout-done": "cannot record swapout-done: it has never been swapped in",
    "swapout-failed": "cannot record swapout-failed: it has never been swapped in",
    delete: "-> deleted",
  },
  "swapping-in": {
    swapin: "cannot swap in: it is swapping in already; wait until it is active or has failed",
    "swapin-done": "-> active",
    "swapin-failed": "-> failed",
    swapout: "cannot swap out: it is swapping in already; wait until it is active or has failed",
    "swapout-done": "cannot record swapout-done: it is swapping in already; wait until it is active or has failed",
    "swapout-failed": "cannot record swapout-failed: it is swapping in already; wait until it is active or has failed",
    delete: "cannot delete: it is swapping in already; wait until it is active or has failed",
  },
  active: {
    swapin: "cannot swap in: it is active (swapped in)",
    "swapin-done": "cannot record swapin-done: it is active (swapped in)",
    "swapin-failed": "cannot record swapin-failed: it is active (swapped in)",
    swapout: "-> swapping-out",
    "swapout-done": "cannot record swapout-done: it is active (swapped in)",
    "swapout-failed": "cannot record swapout-failed: it is active (swapped in)",
    delete: "cannot delete: it is active (swapped in)",
  },
  "swapping-out": {
    swapin: "cannot swap in: it is swapping out; wait until it is swapped or has failed",
    "swapin-done": "cannot record swapin-done: it is swapping out; wait until it is swapped or has failed",
    "swapin-failed": "cannot record swapin-failed: it is swapping out; wait until it is swapped or has failed",
    swapout: "cannot swap out: it is swapping out; wait until it is swapped or has failed",
    "swapout-done": "-> swapped",
    "swapout-failed": "-> failed",
    delete: "cannot delete: it is swapping out; wait until it is swapped or has failed",
  },
  swapped: {
    swapin: "-> swapping-in",
    "swapin-done": "cannot record swapin-done: it is swapped out",
    "swapin-failed": "cannot record swapin-failed: it is swapped out",
    swapout: "cannot swap out: it is swapped out",
    "swapout-done": "cannot record swapout-done: it is swapped out",
    "swapout-failed": "cannot record swapout-failed: it is swapped out",
    delete: "-> deleted",
  },
  failed: {
    swapin: "-> swapping-in",
    "swapin-done": "cannot record swapin-done: it failed",
    "swapin-failed": "cannot record swapin-failed: it failed",
    swapout: "-> swapping-out",
    "swapout-done": "cannot record swapout-done: it failed",
    "swapout-failed": "cannot record swapout-failed: it failed",
    delete: "-> deleted",
  },
};

describe("the experiment transition table, every cell", () => {
  for (const state of EXPERIMENT_STATES) {
    it(`from ${state}`, () => {
      const got = Object.fromEntries(EXPERIMENT_ACTIONS.map((a) => {
        const r = transition(state, a);
        return [a, r.ok ? `-> ${r.to}` : r.why];
      }));
      expect(got).toEqual(TABLE[state]);
    });
  }

  it("knows its states by name, and which of them have a swap running", () => {
    expect(EXPERIMENT_STATES.filter(isSwapping)).toEqual(["swapping-in", "swapping-out"]);
    expect(EXPERIMENT_STATES.every(isExperimentState)).toBe(true);
    for (const text of ["", "deleted", "paniced", "Active", "swapping"]) expect(isExperimentState(text), text).toBe(false);
  });
});
