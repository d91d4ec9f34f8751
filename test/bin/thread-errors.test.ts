import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { exitCodeOf, report } from "../../bin/failure.js";
import { createThreadPool } from "../../real/queue/threads.js";

/*
 * `plan swap --shard K/N` runs its rows in a thread pool; a row failing mid-run (SwapPlanError) must
 * reach the user as the non-shard path gives it (bin/run-job.ts): one line and exit 2, not a stack.
 */
type Input = { throws: string; message: string };
const pool = createThreadPool<Input, never>(new URL("../real/queue/fixtures/throwing-task.mjs", import.meta.url), 1);
afterAll(() => pool.close());
afterEach(() => vi.restoreAllMocks());

const thrown = (input: Input): Promise<unknown> => pool.run(input).catch((e: unknown) => e);

describe("an error from a pool thread, as a command reports it", () => {
  it.each(["SwapPlanError", "PlanError", "UsageError", "SeedsError", "ScenarioError"])("%s: one line, exit 2", async (name) => {
    const lines: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: string) => void lines.push(line));
    const error = await thrown({ throws: name, message: "the base's Frisbee run left 3 of 10 nodes without the image" });
    expect(report(error)).toBe(2);
    expect(lines).toEqual(["testbed: the base's Frisbee run left 3 of 10 nodes without the image"]);
  });

  it("a bug stays a bug: rethrown with the thread's stack", async () => {
    const error = await thrown({ throws: "TypeError", message: "cells is not iterable" });
    expect(exitCodeOf(error)).toBeNull();
    expect(() => report(error)).toThrow("cells is not iterable");
    expect((error as Error).stack).toMatch(/^TypeError: cells is not iterable\n.*throwing-task\.mjs/);
  });
});
