import { describe, expect, it } from "vitest";
import { checkPlan, DEFAULT_LIMITS, IMAGES_MAX, loadBudgetUs, PARTITIONS_MAX, SWAP_NODES_MAX, type SwapLimits, type SwapPlan } from "../../../core/experiment/plan.js";
import { deltaKey, swapPlanOf, type ExperimentSpec } from "../../../core/experiment/spec.js";
import { HEARTBEAT_SEC_MAX, SITE_VARIABLES, siteVariable } from "../../../core/experiment/sitevars.js";
import { phaseFigures, round3 } from "../../../core/experiment/node-table.js";
import { plan, SEC } from "./support.js";

const MIB = 2 ** 20;

/** A valid plan with one change, and what checkPlan says of it. */
function checked(change: (p: SwapPlan) => Partial<SwapPlan>, limits: Partial<SwapLimits> = {}): string | null {
  const p = plan({ nodes: 3, images: 2 });
  return checkPlan({ ...p, ...change(p), limits: { ...p.limits, ...limits } });
}

describe("checkPlan", () => {
  it("accepts a plan at every limit's edge", () => {
    expect(checked(() => ({}))).toBeNull();
    expect(checked(() => ({ spares: 0, syncServer: 2, heartbeatUs: 0 }))).toBeNull();
    const atEdges: Partial<SwapLimits> = { loadAttemptsMax: 100, bootAttemptsMax: 1, setupAttemptsMax: 100, replacementsMax: 0, setupWindow: 1, loadBaseUs: 0, imageLingerUs: 30 * 86_400 * SEC };
    expect(checked(() => ({}), atEdges)).toBeNull();
    const partitions = Array.from({ length: PARTITIONS_MAX }, (_, k) => ({ partition: k + 1, image: 1, delta: null }));
    expect(checked((p) => ({ nodes: [{ ...p.nodes[0]!, partitions }] }))).toBeNull();
    expect(checked(() => ({ images: Array.from({ length: IMAGES_MAX }, (_, i) => ({ name: `i${i}`, uncompressedBytes: MIB })) }))).toBeNull();
    const most = Array.from({ length: SWAP_NODES_MAX - 1 }, (_, i) => ({ name: `n${i}`, partitions: [], nonFatal: false }));
    expect(checked(() => ({ nodes: most, spares: 1 }))).toBeNull();
  });

  it("names the first thing wrong: nodes, spares, images, sync server, partitions", () => {
    expect(checked(() => ({ nodes: [] }))).toBe(`nodes: expected 1 to ${SWAP_NODES_MAX} with spares, got 0 + 0`);
    const most = Array.from({ length: SWAP_NODES_MAX - 1 }, (_, i) => ({ name: `n${i}`, partitions: [], nonFatal: false }));
    expect(checked(() => ({ nodes: most, spares: 2 }))).toBe(`nodes: expected 1 to ${SWAP_NODES_MAX} with spares, got ${SWAP_NODES_MAX - 1} + 2`);
    expect(checked(() => ({ spares: -1 }))).toBe("spares: expected a whole number, got -1");
    expect(checked(() => ({ spares: 1.5 }))).toBe("spares: expected a whole number, got 1.5");
    expect(checked(() => ({ images: Array.from({ length: IMAGES_MAX + 1 }, (_, i) => ({ name: `i${i}`, uncompressedBytes: MIB })) }))).toBe(`images: at most ${IMAGES_MAX}`);
    expect(checked(() => ({ syncServer: 3 }))).toBe("syncServer: no node 3");
    expect(checked(() => ({ syncServer: -1 }))).toBe("syncServer: no node -1");
    const partitions = Array.from({ length: PARTITIONS_MAX + 1 }, (_, k) => ({ partition: k + 1, image: 0, delta: null }));
    expect(checked((p) => ({ nodes: [p.nodes[0]!, { ...p.nodes[1]!, partitions }] }))).toBe(`nodes[1].partitions: at most ${PARTITIONS_MAX}`);
    expect(checked((p) => ({ nodes: [p.nodes[0]!, p.nodes[1]!, { ...p.nodes[2]!, partitions: [{ partition: 1, image: 2, delta: null }] }] }))).toBe("nodes[2]: no image 2");
    expect(checked((p) => ({ nodes: [{ ...p.nodes[0]!, partitions: [{ partition: 1, image: -1, delta: null }] }] }))).toBe("nodes[0]: no image -1");
  });

  it("names a limit out of range, each one", () => {
    for (const key of ["loadAttemptsMax", "bootAttemptsMax", "setupAttemptsMax"] as const) {
      for (const bad of [0, 101, 1.5]) expect(checked(() => ({}), { [key]: bad })).toBe(`limits.${key}: expected 1 to 100, got ${bad}`);
    }
    for (const bad of [-1, 0.5]) expect(checked(() => ({}), { replacementsMax: bad })).toBe(`limits.replacementsMax: expected a whole number, got ${bad}`);
    for (const bad of [0, 2.5]) expect(checked(() => ({}), { setupWindow: bad })).toBe(`limits.setupWindow: expected at least 1, got ${bad}`);
    const us = ["loadBaseUs", "loadPer100MiBUs", "wedgedUs", "bootTimeoutUs", "setupTimeoutUs", "setupRetryUs", "saveTimeoutUs", "releaseTimeoutUs", "imageStartTimeoutUs", "syncStartTimeoutUs", "imageLingerUs"] as const;
    for (const key of us) {
      for (const bad of [-1, 30 * 86_400 * SEC + 1, 0.5]) expect(checked(() => ({}), { [key]: bad })).toBe(`limits.${key}: expected whole microseconds up to 30 days, got ${bad}`);
    }
    for (const bad of [-1, 0.5]) expect(checked(() => ({ heartbeatUs: bad }))).toBe(`heartbeatUs: expected whole microseconds, got ${bad}`);
  });

  it("gives Emulab's load budget: 600 s plus 65 s per 100 MiB, rounded up to a microsecond", () => {
    expect(loadBudgetUs(DEFAULT_LIMITS, 0)).toBe(600 * SEC);
    expect(loadBudgetUs(DEFAULT_LIMITS, 200 * MIB)).toBe(730 * SEC);
    expect(loadBudgetUs({ ...DEFAULT_LIMITS, loadPer100MiBUs: 3 }, 100 * MIB + 1)).toBe(600 * SEC + 4);
  });
});

const SPEC: ExperimentSpec = {
  name: "exp1",
  project: "proj",
  nodes: [
    { name: "a", partitions: [{ partition: 1, image: "std" }], nonFatal: false },
    { name: "b", partitions: [{ partition: 2, image: "big" }, { partition: 3, image: "std" }], nonFatal: true },
  ],
  images: [
    { name: "std", file: null, compressedBytes: 10, uncompressedBytes: 100 },
    { name: "big", file: null, compressedBytes: 20, uncompressedBytes: 200 },
  ],
  syncServer: "b",
  saveDiskState: true,
  setup: null,
  spares: 2,
  limits: {},
  sim: null,
};

describe("swapPlanOf", () => {
  const sizes = [
    { compressedBytes: 10, uncompressedBytes: 1_000 },
    { compressedBytes: 20, uncompressedBytes: 2_000 },
  ];

  it("turns names into indices, takes the sizes given, and each saved delta by node and partition", () => {
    const deltas = new Map([[deltaKey("b", 3), "saved/b-3.ndz"]]);
    expect(deltaKey("b", 3)).toBe("b/3");
    expect(swapPlanOf(SPEC, { sizes, heartbeatUs: 5 * SEC, deltas })).toEqual({
      experiment: "exp1",
      nodes: [
        { name: "a", nonFatal: false, partitions: [{ partition: 1, image: 0, delta: null }] },
        { name: "b", nonFatal: true, partitions: [{ partition: 2, image: 1, delta: null }, { partition: 3, image: 0, delta: "saved/b-3.ndz" }] },
      ],
      images: [
        { name: "std", uncompressedBytes: 1_000 },
        { name: "big", uncompressedBytes: 2_000 },
      ],
      syncServer: 1,
      saveDiskState: true,
      spares: 2,
      heartbeatUs: 5 * SEC,
      limits: DEFAULT_LIMITS,
    });
  });

  it("has no sync server when the spec names none", () => {
    expect(swapPlanOf({ ...SPEC, syncServer: null }, { sizes, heartbeatUs: 0 }).syncServer).toBeNull();
  });

  it("finds a sync server that is the first node", () => {
    expect(swapPlanOf({ ...SPEC, syncServer: "a" }, { sizes, heartbeatUs: 0 }).syncServer).toBe(0);
  });

  it("applies each limit the file overrides (a fixed load time drops the per-100-MiB part), then the caller's", () => {
    const limits = { loadUs: 1, bootUs: 2, setupUs: 3, wedgedUs: 4, saveUs: 5, setupWindow: 6, setupAttempts: 7, setupRetryUs: 8, imageLingerUs: 9 };
    expect(swapPlanOf({ ...SPEC, limits }, { sizes, heartbeatUs: 0, limits: { releaseTimeoutUs: 10, wedgedUs: 11 } }).limits).toEqual({
      ...DEFAULT_LIMITS,
      loadBaseUs: 1,
      loadPer100MiBUs: 0,
      bootTimeoutUs: 2,
      setupTimeoutUs: 3,
      wedgedUs: 11,
      saveTimeoutUs: 5,
      setupWindow: 6,
      setupAttemptsMax: 7,
      setupRetryUs: 8,
      imageLingerUs: 9,
      releaseTimeoutUs: 10,
    });
  });
});

describe("site variables", () => {
  it("knows the Frisbee heartbeat, 0 (off) by default, and no other name", () => {
    const v = siteVariable("images/frisbee/heartbeat");
    expect(v).toBe(SITE_VARIABLES[0]);
    expect(v?.defaultValue).toBe("0");
    expect(v?.description).toMatch(/^seconds between a loading node's progress reports/);
    expect(siteVariable("images/frisbee/heartbeats")).toBeUndefined();
    expect(siteVariable("")).toBeUndefined();
    expect(SITE_VARIABLES).toHaveLength(1);
  });

  it("accepts whole seconds from 0 to an hour and refuses anything else, quoting at most 40 characters", () => {
    const check = siteVariable("images/frisbee/heartbeat")!.check;
    for (const ok of ["0", "5", "0005", String(HEARTBEAT_SEC_MAX)]) expect(check(ok)).toBeNull();
    for (const bad of [String(HEARTBEAT_SEC_MAX + 1), "9999", "12345", "-1", "1.5", " 5", "5 ", "x5", "5x", ""]) {
      expect(check(bad)).toBe(`expected whole seconds from 0 to ${HEARTBEAT_SEC_MAX}, got "${bad}"`);
    }
    expect(check("a".repeat(50))).toBe(`expected whole seconds from 0 to ${HEARTBEAT_SEC_MAX}, got "${"a".repeat(40)}"`);
  });
});

describe("phase figures", () => {
  it("gives the mean and largest duration in seconds over the nodes that went through the phase", () => {
    const from = Float64Array.from([0, 1 * SEC, NaN, 2 * SEC]);
    const to = Float64Array.from([2 * SEC, 2 * SEC, 5 * SEC, NaN]);
    expect(phaseFigures(from, to)).toEqual({ nodes: 2, meanSec: 1.5, maxSec: 2 });
    expect(phaseFigures(new Float64Array(2).fill(NaN), new Float64Array(2))).toEqual({ nodes: 0, meanSec: 0, maxSec: 0 });
    expect(phaseFigures(Float64Array.from([0, 0, 0]), Float64Array.from([1, 2, 2]))).toEqual({ nodes: 3, meanSec: 0, maxSec: 0 });
    expect(phaseFigures(Float64Array.from([0, 0, 0]), Float64Array.from([1_000, 2_000, 3_500]))).toEqual({ nodes: 3, meanSec: 0.002, maxSec: 0.004 });
  });

  it("rounds to thousandths", () => {
    expect(round3(1.2344)).toBe(1.234);
    expect(round3(1.2346)).toBe(1.235);
    expect(round3(-0.0004)).toBe(-0);
  });
});
