import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { INVARIANT_NAMES } from "../../scenarios/invariants.js";
import { scenarioSteps } from "../../scenarios/runner.js";
import { parseScenario } from "../../scenarios/schema.js";
import { breatheThrough } from "../support/breathe.js";

/** Generated small worlds: a few hosts, lossy links, unicast and multicast traffic, faults. */
const lossArb = fc.oneof(
  fc.constant(null),
  fc.double({ min: 0.001, max: 0.2, noNaN: true }),
  fc.record({
    model: fc.constant("gilbert-elliott"),
    rate: fc.double({ min: 0.01, max: 0.2, noNaN: true }),
    meanBurst: fc.integer({ min: 1, max: 10 }),
  }),
);

const worldArb = fc
  .record({
    hosts: fc.integer({ min: 2, max: 24 }),
    bandwidthMbit: fc.integer({ min: 1, max: 1000 }),
    latencyUs: fc.integer({ min: 0, max: 5000 }),
    queueKiB: fc.integer({ min: 2, max: 512 }),
    loss: lossArb,
    multicastKbit: fc.integer({ min: 100, max: 20_000 }),
    unicastKbit: fc.integer({ min: 10, max: 2_000 }),
    pattern: fc.constantFrom("constant", "poisson"),
    drift: fc.integer({ min: -200, max: 200 }),
    partitionAtMs: fc.option(fc.integer({ min: 0, max: 1500 }), { nil: null }),
    oneWay: fc.boolean(),
    crashAtMs: fc.option(fc.integer({ min: 0, max: 1500 }), { nil: null }),
    pauseAtMs: fc.option(fc.integer({ min: 0, max: 1500 }), { nil: null }),
  })
  .map((w) => {
    const half = Math.max(1, Math.floor(w.hosts / 2));
    const faults: unknown[] = [];
    if (w.partitionAtMs !== null) {
      faults.push({ type: "partition", at: `${w.partitionAtMs}ms`, heal: "300ms", a: `h[0-${half - 1}]`, b: "src", oneWay: w.oneWay });
    }
    if (w.crashAtMs !== null) faults.push({ type: "crash", at: `${w.crashAtMs}ms`, hosts: "h0", restart: "200ms" });
    if (w.pauseAtMs !== null) faults.push({ type: "pause", at: `${w.pauseAtMs}ms`, hosts: `h${half - 1}`, for: "100ms" });
    return {
      duration: "2s",
      hosts: [{ name: "src" }, { name: "h", count: w.hosts, clockDriftPpm: w.drift }],
      network: {
        headerBytes: 28,
        defaults: { bandwidth: `${w.bandwidthMbit}Mbit`, latency: `${w.latencyUs}us`, queue: `${w.queueKiB}KiB` },
        links: w.loss === null ? [] : [{ hosts: "h*", direction: "down", loss: w.loss }],
      },
      workloads: [
        { type: "traffic", from: "src", to: "group:1", members: "h*", rate: `${w.multicastKbit}Kbit`, packet: "1000", pattern: w.pattern },
        { type: "traffic", from: "h*", to: "src", rate: `${w.unicastKbit}Kbit`, packet: "300", pattern: "poisson" },
      ],
      faults,
    };
  });

/**
 * runScenario's run, in steps that let the vitest worker answer between them: 60 cases of two runs
 * held it 16.8 s (1.7 CPU s) at load 18 when run at once.
 */
async function run(world: unknown, seed: number) {
  const scenario = parseScenario(JSON.stringify(world), "generated.json", INVARIANT_NAMES);
  return (await breatheThrough(scenarioSteps(scenario, seed))).result;
}

describe("determinism over generated worlds", () => {
  it("gives the same fingerprint, event count and statistics for the same seed and world", async () => {
    await fc.assert(
      fc.asyncProperty(worldArb, fc.integer({ min: 0, max: 2 ** 31 }), async (world, seed) => {
        const a = await run(world, seed);
        const b = await run(world, seed);
        expect(b.traceHash).toBe(a.traceHash);
        expect(b.events).toBe(a.events);
        expect(b.stats).toEqual(a.stats);
        expect(b.invariants).toEqual(a.invariants);
      }),
      { numRuns: 60 },
    );
  });

  it("gives different fingerprints for different seeds on a lossy world", async () => {
    const lossyWorld = worldArb.filter((w) => w.network.links.length > 0);
    await fc.assert(
      fc.asyncProperty(lossyWorld, fc.integer({ min: 0, max: 2 ** 30 }), async (world, seed) => {
        const a = await run(world, seed);
        const b = await run(world, seed + 1);
        expect(b.traceHash).not.toBe(a.traceHash);
      }),
      { numRuns: 40 },
    );
  });

  it("holds every applicable invariant on generated worlds", async () => {
    await fc.assert(
      fc.asyncProperty(worldArb, fc.integer({ min: 0, max: 2 ** 31 }), async (world, seed) => {
        const result = await run(world, seed);
        const failed = result.invariants.filter((i) => !i.ok);
        expect(failed, `replay: seed ${seed} world ${JSON.stringify(world)}`).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });
});
