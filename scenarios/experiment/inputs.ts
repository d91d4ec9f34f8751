import type { SwapInputs } from "../../core/experiment/commands.js";

/**
 * What a testbed (simulated or real) reports, passed to the swap machine: each report is one
 * input, through `input` so the world re-arms the machine's next wake-up after it; progress also
 * marks the node as changed for the next flush to the store. Both worlds use it, so they feed the
 * machine the same way.
 */
export function machineInputs(m: () => SwapInputs, input: (fn: () => void) => void, touched: (node: number) => void): SwapInputs {
  return {
    imageServing: (now, image, ok, reason) => input(() => m().imageServing(now, image, ok, reason)),
    progress: (now, node, bytes, left) =>
      input(() => {
        m().progress(now, node, bytes, left);
        touched(node);
      }),
    loadDone: (now, node, attempt, ok, reason) => input(() => m().loadDone(now, node, attempt, ok, reason)),
    bootDone: (now, node, attempt, ok, reason) => input(() => m().bootDone(now, node, attempt, ok, reason)),
    setupDone: (now, node, attempt, passed, reason) => input(() => m().setupDone(now, node, attempt, passed, reason)),
    syncStarted: (now, ok, reason) => input(() => m().syncStarted(now, ok, reason)),
    saveDone: (now, node, attempt, ok, reason) => input(() => m().saveDone(now, node, attempt, ok, reason)),
    released: (now, node) => input(() => m().released(now, node)),
  };
}
