/**
 * An experiment's states and the one table that moves it between them (h11's `_state.py` shape).
 * Emulab wrote any state string from anywhere and left experiments "paniced" in a swapping state
 * that no page could leave; here every change is a row of this table, and an action that has no
 * row for the current state is refused with a sentence that says why, before anything is done.
 */
export const EXPERIMENT_STATES = ["new", "swapping-in", "active", "swapping-out", "swapped", "failed"] as const;
export type ExperimentState = (typeof EXPERIMENT_STATES)[number];

/**
 * What moves an experiment: a user's request (swapin, swapout, delete) or the outcome of the
 * swap that is running (the four -done / -failed results, which only the swap machine sends).
 */
export const EXPERIMENT_ACTIONS = ["swapin", "swapin-done", "swapin-failed", "swapout", "swapout-done", "swapout-failed", "delete"] as const;
export type ExperimentAction = (typeof EXPERIMENT_ACTIONS)[number];

/** Where delete leads: the experiment is gone from the store. */
export const DELETED = "deleted";
export type Destination = ExperimentState | typeof DELETED;

export const TRANSITIONS: Readonly<Record<ExperimentState, Readonly<Partial<Record<ExperimentAction, Destination>>>>> = {
  new: { swapin: "swapping-in", delete: DELETED },
  "swapping-in": { "swapin-done": "active", "swapin-failed": "failed" },
  active: { swapout: "swapping-out" },
  "swapping-out": { "swapout-done": "swapped", "swapout-failed": "failed" },
  swapped: { swapin: "swapping-in", delete: DELETED },
  // A failed swap-in has released its nodes; a failed swap-out keeps the nodes it could not save.
  failed: { swapin: "swapping-in", swapout: "swapping-out", delete: DELETED },
};

export type TransitionResult = { readonly ok: true; readonly to: Destination } | { readonly ok: false; readonly why: string };

/** Why each state refuses the user's actions it has no row for, in words a user can act on. */
const REFUSALS: Readonly<Record<ExperimentState, string>> = {
  new: "it has never been swapped in",
  "swapping-in": "it is swapping in already; wait until it is active or has failed",
  active: "it is active (swapped in)",
  "swapping-out": "it is swapping out; wait until it is swapped or has failed",
  swapped: "it is swapped out",
  failed: "it failed",
};

/** The state `action` leads to from `state`, or why it cannot be taken there. */
export function transition(state: ExperimentState, action: ExperimentAction): TransitionResult {
  const to = TRANSITIONS[state][action];
  if (to !== undefined) return { ok: true, to };
  return { ok: false, why: `cannot ${verb(action)}: ${REFUSALS[state]}` };
}

function verb(action: ExperimentAction): string {
  switch (action) {
    case "swapin":
      return "swap in";
    case "swapout":
      return "swap out";
    case "delete":
      return "delete";
    default:
      return `record ${action}`;
  }
}

export function isExperimentState(text: string): text is ExperimentState {
  return (EXPERIMENT_STATES as readonly string[]).includes(text);
}

/** States in which a swap is running: some process owns the experiment until it ends. */
export function isSwapping(state: ExperimentState): boolean {
  return state === "swapping-in" || state === "swapping-out";
}
