import { describe, expect, it } from "vitest";
import { batchFailed, batchSizes, checkBatchSteps, parseBatchStep, unavailableAllowed } from "../../../core/service/index.js";

describe("batches (Ansible serial)", () => {
  it("takes counts and percentages in order, the last repeating", () => {
    expect(batchSizes(20, [1, 5, "20%"])).toEqual([1, 5, 4, 4, 4, 2]);
    expect(batchSizes(3, [10])).toEqual([3]);
    expect(batchSizes(7, ["10%"])).toEqual([1, 1, 1, 1, 1, 1, 1]);
  });

  it("fails a batch only when failures exceed the share, not equal it", () => {
    expect(batchFailed(1, 4, 25)).toBe(false);
    expect(batchFailed(2, 4, 25)).toBe(true);
    expect(batchFailed(1, 5, 0)).toBe(true);
    expect(batchFailed(0, 5, 0)).toBe(false);
  });

  it("rounds maxUnavailable down, but never to zero", () => {
    expect(unavailableAllowed(20, 25)).toBe(5);
    expect(unavailableAllowed(3, 25)).toBe(1);
  });

  it("refuses nonsense steps", () => {
    expect(checkBatchSteps([])).toMatch(/expected 1/);
    expect(checkBatchSteps([0])).toMatch(/at least 1/);
    expect(checkBatchSteps(["150%"])).toMatch(/percentage/);
    expect(parseBatchStep("20%")).toBe("20%");
    expect(parseBatchStep("x")).toBeNull();
  });
});
