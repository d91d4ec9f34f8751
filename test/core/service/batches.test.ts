import { describe, expect, it } from "vitest";
import { BATCH_STEPS_MAX, batchFailed, batchSizes, checkBatchSteps, parseBatchStep, stepSize, unavailableAllowed } from "../../../core/service/index.js";

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

describe("batches: edges", () => {
  it("reads counts and percentages as an operator writes them, and nothing else", () => {
    expect(parseBatchStep(" 5 ")).toBe(5);
    expect(parseBatchStep("1")).toBe(1);
    expect(parseBatchStep(" 12.5% ")).toBe("12.5%");
    expect(parseBatchStep("12.55%")).toBe("12.55%");
    expect(parseBatchStep("25")).toBe(25);
    expect(parseBatchStep("100%")).toBe("100%");
    for (const bad of ["0", "0%", "0.0%", "100.1%", "-1", "5x", "5 %", "%", "", "1e3", "5%%", "x5%", "1.%"]) expect(parseBatchStep(bad), bad).toBeNull();
  });

  it("takes a percentage of all targets, rounded down but at least 1", () => {
    expect(stepSize(20, "20%")).toBe(4);
    expect(stepSize(19, "20%")).toBe(3);
    expect(stepSize(3, "10%")).toBe(1);
    expect(stepSize(1000, "12.5%")).toBe(125);
    expect(stepSize(10, 7)).toBe(7);
    expect(batchSizes(10, ["100%"])).toEqual([10]);
    expect(batchSizes(10, [4, 4, 4])).toEqual([4, 4, 2]);
    expect(batchSizes(1, [1, 5])).toEqual([1]);
  });

  it("refuses steps that are not whole counts or percentages up to 100, and lists of no or too many steps", () => {
    expect(checkBatchSteps([1.5])).toBe("expected a count of at least 1 or a percentage, got 1.5");
    expect(checkBatchSteps([-2])).toBe("expected a count of at least 1 or a percentage, got -2");
    expect(checkBatchSteps(["0%"])).toBe('expected a percentage above 0 up to 100, got "0%"');
    expect(checkBatchSteps(["100.5%"])).toBe('expected a percentage above 0 up to 100, got "100.5%"');
    expect(checkBatchSteps(["abc" as `${number}%`])).toBe('expected a percentage above 0 up to 100, got "abc"');
    expect(checkBatchSteps(["x5%" as `${number}%`])).toBe('expected a percentage above 0 up to 100, got "x5%"');
    expect(checkBatchSteps([1, "100%", "0.5%"])).toBeNull();
    expect(checkBatchSteps(new Array(BATCH_STEPS_MAX).fill(1))).toBeNull();
    expect(checkBatchSteps(new Array(BATCH_STEPS_MAX + 1).fill(1))).toBe("expected 1 to 100 steps, got 101");
    expect(() => batchSizes(5, [0])).toThrow("batches: expected a count of at least 1 or a percentage, got 0");
  });

  it("allows a share of unavailable targets and of batch failures exactly at their edges", () => {
    expect(unavailableAllowed(8, 25)).toBe(2);
    expect(unavailableAllowed(7, 25)).toBe(1);
    expect(unavailableAllowed(10, 0)).toBe(1);
    expect(unavailableAllowed(10, 100)).toBe(10);
    expect(batchFailed(3, 10, 30)).toBe(false);
    expect(batchFailed(4, 10, 30)).toBe(true);
    expect(batchFailed(10, 10, 100)).toBe(false);
  });
});
