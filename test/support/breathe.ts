/**
 * Long synchronous runs in a test (property runs of thousands of cases, big simulations) block
 * the vitest worker's event loop; on a loaded machine a block of a few CPU seconds lasts a minute
 * of wall time, and vitest's worker RPC (a fixed 60 s timeout) then fails the whole run though no
 * test failed. `await breathe()` inside such a loop (or an fc.asyncProperty) lets the loop turn
 * (timers, I/O, the RPC's answer) once SLICE_MS of work has passed since it last did, so it costs
 * nothing between those points. test/support/stall-probe.ts measures what is left.
 */

/** Work between two turns of the event loop: short enough that a 20x slow-down stays far from 60 s. */
export const SLICE_MS = 50;

let lastTurn = performance.now();

export async function breathe(): Promise<void> {
  if (performance.now() - lastTurn < SLICE_MS) return;
  // setImmediate, not a resolved promise: microtasks run before the loop reaches timers and I/O.
  await new Promise<void>((resolve) => setImmediate(resolve));
  lastTurn = performance.now();
}

/**
 * Runs a computation in steps (a generator that yields where it may pause, as scenarios/runner.ts's
 * Steps) to its end, breathing at each pause: one long simulation no longer holds the loop.
 */
export async function breatheThrough<T>(steps: Generator<unknown, T, void>): Promise<T> {
  for (;;) {
    const next = steps.next();
    if (next.done === true) return next.value;
    await breathe();
  }
}
