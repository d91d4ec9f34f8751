import { QueueError } from "../real/queue/connection.js";
import { StoreError } from "../real/store/index.js";
import { ScenarioError } from "../scenarios/reader.js";
import { SeedsError } from "../scenarios/sweep/seeds.js";
import { VaryError } from "../scenarios/sweep/vary.js";
import { UsageError } from "./errors.js";

/**
 * Runs an async command to its exit code. Commander's synchronous parse does not await actions, so
 * errors are turned into exit codes here, as bin/testbed.ts does for the synchronous commands:
 * mistakes one line and 2, failures of the outside world one line and 1, bugs a stack trace.
 */
export function settle(command: () => Promise<number>): void {
  command().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.exitCode = exitCodeOf(error);
    },
  );
}

export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError || error instanceof ScenarioError || error instanceof VaryError || error instanceof SeedsError || (error instanceof QueueError && error.usage)) {
    console.error(`testbed: ${error.message}`);
    return 2;
  }
  if (error instanceof QueueError || error instanceof StoreError) {
    console.error(`testbed: ${error.message}`);
    return 1;
  }
  console.error(error);
  return 1;
}
