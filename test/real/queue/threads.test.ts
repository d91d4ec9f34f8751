import { afterAll, describe, expect, it } from "vitest";
import { ThreadTaskError } from "../../../real/queue/errors.js";
import { createThreadPool } from "../../../real/queue/threads.js";

type Input = { value?: number; throws?: string; message?: string };
const pool = createThreadPool<Input, { value: number }>(new URL("./fixtures/throwing-task.mjs", import.meta.url), 1);
afterAll(() => pool.close());

describe("errors crossing the thread pool", () => {
  it("returns a task's result", async () => {
    expect(await pool.run({ value: 7 })).toEqual({ value: 7 });
  });

  it("keeps a thrown error's class name, message and the thread's stack (a clone keeps only built-in names)", async () => {
    const error = await pool.run({ throws: "SwapPlanError", message: "the base's Frisbee run left 3 of 10 nodes without the image" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ThreadTaskError);
    expect(error).toMatchObject({ thrownName: "SwapPlanError", name: "SwapPlanError", message: "the base's Frisbee run left 3 of 10 nodes without the image" });
    expect((error as Error).stack).toMatch(/throwing-task\.mjs/);
  });

  it("keeps a built-in class's name too, and the pool runs on after a failed task", async () => {
    await expect(pool.run({ throws: "TypeError", message: "x is not a function" })).rejects.toMatchObject({ thrownName: "TypeError", message: "x is not a function" });
    expect(await pool.run({ value: 8 })).toEqual({ value: 8 });
  });
});
