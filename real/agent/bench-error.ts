/**
 * `bench service` could not run (the agents did not start, or did not take the first version): one
 * line, exit 1. In its own file so that every command's error handling can know it without loading the bench.
 */
export class ServiceBenchError extends Error {
  override readonly name = "ServiceBenchError";
}
