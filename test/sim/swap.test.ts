import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Engine } from "../../core/engine/index.js";
import { FluidLink } from "../../sim/swap/fluid.js";
import { runSwapOut, type SwapCosts } from "../../sim/swap/model.js";
import { planSwapRow, type SwapPlanOptions } from "../../sim/swap/plan.js";
import { swapRoundTrip } from "../../sim/swap/round-trip.js";

const costs: SwapCosts = {
  inUseBytes: 0, diskReadMiBs: 150, diskWriteMiBs: 120, hashMiBs: 600, compressMiBs: 60, inflateMiBs: 200, cores: 2, compressRatio: 2.5, nodeMbps: 1000, serverMbps: 1000, startSpreadUs: 2_000_000,
};

describe("a fluid link", () => {
  it("shares its capacity evenly, caps first, and carries every byte", () => {
    const e = new Engine();
    const link = new FluidLink(e, "l", 10); // 10 bytes/us
    const done: [number, number][] = [];
    link.add(1, 1000, 100, (id) => done.push([id, e.now]));
    link.add(2, 1000, 100, (id) => done.push([id, e.now]));
    link.add(3, 100, 2, (id) => done.push([id, e.now])); // capped at 2: the others share 8
    e.run();
    expect(done.map(([id]) => id)).toEqual([3, 1, 2]);
    expect(done[0]![1]).toBe(50);
    // 1 and 2 get 4 each for 50 us (200 each), then 5 each: 800 more in 160 us
    expect(done[1]![1]).toBeGreaterThanOrEqual(210);
    expect(done[1]![1]).toBeLessThanOrEqual(211);
    expect(link.carriedBytes).toBeCloseTo(2100, 3);
  });

  it("never lets a transfer run above its cap or the link above its capacity", () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 50 }), fc.nat(300)), { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 40 }), (flows, capacity) => {
      const e = new Engine();
      const link = new FluidLink(e, "l", capacity);
      const doneAt: number[] = [];
      const start = e.register<undefined>("start", (i) => {
        const [bytes, cap] = flows[i]!;
        link.add(i, bytes, cap, (id) => (doneAt[id] = e.now));
      });
      flows.forEach(([, , at], i) => e.at(at, start, i));
      e.run();
      let total = 0;
      flows.forEach(([bytes, cap, at], i) => {
        expect(doneAt[i]).toBeDefined();
        expect(doneAt[i]! - at).toBeGreaterThanOrEqual(Math.floor(bytes / cap));
        total += bytes;
      });
      expect(link.carriedBytes).toBeCloseTo(total, 0);
      expect(link.busyUs).toBeGreaterThanOrEqual(Math.floor(total / capacity) - 1);
    }), { numRuns: 200 });
  });
});

describe("the swap simulation", () => {
  it("restores every node's disk after a swap-out/swap-in round trip, whatever the edits", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 8, max: 200 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.nat(60), fc.nat(), (nodes, blocks, used, edits, seed) => {
      const r = swapRoundTrip({ nodes, blocks, usedFraction: used, editsPerNode: edits, seed, costs, frisbeeMbps: 500 });
      expect(r.notRestored).toEqual([]);
      expect(r.restored).toBe(nodes);
      for (const phase of [r.swapOut, r.swapIn]) {
        expect(phase.makespanUs).toBeGreaterThanOrEqual(Math.max(...Object.values(phase.boundsUs)) - 2);
        for (const t of phase.nodeDoneUs) expect(t).toBeGreaterThan(0);
      }
    }), { numRuns: 60 });
  });

  it("sends nothing for a node whose disk did not change, and restores it all the same", () => {
    const r = swapRoundTrip({ nodes: 3, blocks: 64, usedFraction: 0.5, editsPerNode: 0, seed: 7, costs, frisbeeMbps: 500 });
    expect(r.deltaBytes).toEqual([0, 0, 0]);
    expect(r.restored).toBe(3);
  });

  it("a thousand nodes on a shared link take as long as their deltas take to cross it", () => {
    const inUse = 4 * 1024 ** 3;
    const deltas = Array.from({ length: 1000 }, () => ({ dataBytes: inUse * 0.05 }));
    const r = runSwapOut({ ...costs, inUseBytes: inUse }, deltas, 1);
    expect(r.bottleneck).toBe("server link");
    // 1000 x 204.8 MiB / 2.5 over 1 Gbit/s: 687 s, plus the last node's start
    expect(r.makespanUs / 1e6).toBeGreaterThan(687);
    expect(r.makespanUs / 1e6).toBeLessThan(687 + 2 + 30);
    expect(r.serverBytes).toBeCloseTo(1000 * inUse * 0.05 / 2.5, -3);
  });
});

describe("plan swap rows", () => {
  const o: SwapPlanOptions = {
    nodes: [20], deltaPcts: [5], diskGiB: 1, inUsePct: 25, jitterPct: 50, compressRatio: 2.5, diskReadMiBs: 150, diskWriteMiBs: 120, hashMiBs: 600, compressMiBs: 60,
    inflateMiBs: 200, cores: 2, nodeMbps: 1000, serverMbps: 1000, frisbeeMbps: 500, loss: 0, startSpreadSec: 1, seed: 3,
  };

  it("are the same for the same seed, and name the disk as the bottleneck when the server link is fast", () => {
    const a = planSwapRow(o, 20, 5);
    expect(planSwapRow(o, 20, 5)).toEqual(a);
    expect(planSwapRow({ ...o, seed: 4 }, 20, 5).trace).not.toBe(a.trace);
    const fast = planSwapRow({ ...o, serverMbps: 100_000 }, 20, 5);
    expect(fast.swapOutBottleneck).toBe("disk");
    const slow = planSwapRow({ ...o, serverMbps: 10 }, 20, 5);
    expect(slow.swapOutBottleneck).toBe("server link");
    expect(slow.swapOutSec).toBeGreaterThan(fast.swapOutSec);
    const cpu = planSwapRow({ ...o, serverMbps: 100_000, hashMiBs: 5, cores: 1 }, 20, 5);
    expect(cpu.swapOutBottleneck).toBe("cpu");
  });
});
