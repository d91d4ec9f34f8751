import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CODE_TIMEOUT } from "../../core/sync/index.js";
import { buildWorld } from "../../scenarios/build.js";
import { checkInvariants, INVARIANT_NAMES } from "../../scenarios/invariants.js";
import { parseScenario } from "../../scenarios/schema.js";

/** Runs per property; SYNC_PROPERTY_RUNS raises it for a long soak. */
const RUNS = Number(process.env["SYNC_PROPERTY_RUNS"] ?? 60);
const ms = (n: number): string => `${n}ms`;

interface Case {
  waiters: number;
  countDelta: number;
  arrivalsMs: number[];
  initAtMs: number;
  deadlineMs: number;
  crash: "original" | "tolerant" | "intolerant";
  extra: "new" | "late";
  errors: number[];
  crashes: { host: number; atMs: number }[];
  loss: number;
  partition: { hosts: number[]; atMs: number; forMs: number } | null;
  seed: number;
}

const caseArb: fc.Arbitrary<Case> = fc.integer({ min: 1, max: 30 }).chain((n) =>
  fc.record({
    waiters: fc.constant(n),
    countDelta: fc.constantFrom(0, 0, 0, -1, 1),
    arrivalsMs: fc.array(fc.integer({ min: 0, max: 6000 }), { minLength: n, maxLength: n }),
    initAtMs: fc.integer({ min: 0, max: 6000 }),
    deadlineMs: fc.oneof(fc.constant(0), fc.integer({ min: 500, max: 20_000 })),
    crash: fc.constantFrom("original" as const, "tolerant" as const, "intolerant" as const),
    extra: fc.constantFrom("new" as const, "late" as const),
    errors: fc.array(fc.integer({ min: 0, max: 239 }), { minLength: n, maxLength: n }),
    crashes: fc.array(fc.record({ host: fc.integer({ min: 0, max: n }), atMs: fc.integer({ min: 0, max: 10_000 }) }), { maxLength: 3 }),
    loss: fc.constantFrom(0, 0, 0.05, 0.2),
    partition: fc.option(
      fc.record({
        hosts: fc.uniqueArray(fc.integer({ min: 0, max: n }), { minLength: 1, maxLength: 3 }),
        atMs: fc.integer({ min: 0, max: 8000 }),
        forMs: fc.integer({ min: 100, max: 8000 }),
      }),
    ),
    seed: fc.integer({ min: 0, max: 1_000_000 }),
  }),
);

/** Host n is the initializer (named "m"), hosts 0..n-1 the waiters. */
function scenarioOf(c: Case): unknown {
  const host = (i: number): string => (i === c.waiters ? "m" : `n${i}`);
  const errors: Record<string, number> = {};
  c.errors.forEach((e, i) => {
    if (e > 200) errors[host(i)] = e;
  });
  return {
    seed: c.seed,
    duration: "45s",
    hosts: [{ name: "s" }, { name: "m" }, { name: "n", count: c.waiters }],
    network: c.loss > 0 ? { links: [{ hosts: ["n*", "m"], loss: c.loss }] } : undefined,
    faults: [
      ...c.crashes.map((x) => ({ type: "crash", at: ms(x.atMs), hosts: host(x.host) })),
      ...(c.partition === null ? [] : [{ type: "partition", at: ms(c.partition.atMs), heal: ms(c.partition.forMs), a: c.partition.hosts.map(host), b: "s" }]),
    ],
    sync: {
      server: "s",
      lease: "3s",
      barriers: [
        {
          name: "phase",
          initializer: "m",
          waiters: "n*",
          count: Math.max(0, c.waiters + c.countDelta),
          initAt: ms(c.initAtMs),
          arrivals: c.arrivalsMs.map(ms),
          ...(c.deadlineMs > 0 ? { deadline: ms(c.deadlineMs) } : {}),
          crash: c.crash,
          extra: c.extra,
          errors,
          retransmit: "100ms",
          retransmitMax: "1s",
        },
      ],
    },
  };
}

function run(c: Case) {
  const scenario = parseScenario(JSON.stringify(scenarioOf(c)), "property.json", INVARIANT_NAMES);
  const built = buildWorld(scenario, c.seed);
  built.world.run(scenario.durationUs);
  return { built, sync: built.sync!, invariants: checkInvariants(scenario, built) };
}

describe("sync barriers in the simulator, over generated arrivals, crashes, deadlines, loss and partitions", () => {
  it("never releases early, releases everyone owed exactly once, and keeps deadlines", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const failed = run(c).invariants.filter((i) => !i.ok);
        expect(failed).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });

  it("releases everyone with the highest error when all arrive, whatever the order and loss", () => {
    fc.assert(
      fc.property(caseArb, (raw) => {
        // Loss can lapse a lease, which an intolerant barrier rightly takes for a crash.
        const c: Case = { ...raw, countDelta: 0, crashes: [], partition: null, deadlineMs: 0, loss: raw.crash === "intolerant" ? 0 : raw.loss };
        const { sync } = run(c);
        const highest = Math.max(0, ...c.errors.filter((e) => e > 200));
        expect(sync.clients.map((l) => l.client.outcome?.code)).toEqual(sync.clients.map(() => highest));
      }),
      { numRuns: RUNS },
    );
  });

  it("releases everyone with the timeout code at the deadline when one never arrives", () => {
    fc.assert(
      fc.property(caseArb, fc.integer({ min: 6_100, max: 20_000 }), (raw, deadlineMs) => {
        const c: Case = { ...raw, countDelta: 1, crashes: [], partition: null, deadlineMs, loss: 0 };
        const { sync } = run(c);
        const init = sync.records.find((r) => r.kind === "init")!;
        for (const life of sync.clients) {
          expect(life.client.outcome?.code).toBe(CODE_TIMEOUT);
          expect(life.outcomeUs).toBeGreaterThanOrEqual(init.atUs + deadlineMs * 1000);
        }
        const release = sync.records.find((r) => r.kind === "release")!;
        expect(release.atUs).toBe(init.atUs + deadlineMs * 1000);
      }),
      { numRuns: RUNS },
    );
  });

  it("is deterministic: one seed, one trace", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        expect(run(c).built.world.engine.trace.hex()).toBe(run(c).built.world.engine.trace.hex());
      }),
      { numRuns: 10 },
    );
  });
});
