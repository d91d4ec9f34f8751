import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MOVE_ADD,
  MOVE_RELEASE,
  MOVE_RESULT,
  Monitor,
  MonitorConfigError,
  NO_POOL,
  backoff,
  backoffMaxUs,
  badPool,
  deployedConfig,
  goodPool,
  setupPool,
  type MonitorConfig,
  type PoolConfig,
} from "../../../core/monitor/index.js";
import { createRng } from "../../../core/engine/rng.js";
import { Harness, type Behaviour } from "./support.js";
import { breathe } from "../../support/breathe.js";

const SEC = 1_000_000;
const MIN = 60 * SEC;

/** Short backoffs so that a property run covers many tests in little simulated time. */
function smallConfig(window: number, entries: number, passesToReturn: number): MonitorConfig {
  return deployedConfig({
    pools: [
      goodPool({ passBackoff: backoff("additive", { stepUs: 2 * MIN, capUs: 10 * MIN, jitterUs: 30 * SEC }) }),
      badPool({ failBackoff: backoff("quadratic", { stepUs: MIN, capUs: 20 * MIN, jitterUs: 30 * SEC }), passBackoff: backoff("constant", { baseUs: MIN, jitterUs: 10 * SEC }) }),
    ],
    window,
    testTimeoutUs: 5 * MIN,
    entryJitterUs: 10 * SEC,
    entriesMax: entries,
    flap: { historyStates: 21, weightOldest: 0.75, weightNewest: 1.25, lowPct: 5, highPct: 20, passesToReturn },
  });
}

const behaviour: fc.Arbitrary<Behaviour> = fc.record({
  passP: fc.constantFrom(0, 0.3, 0.5, 0.9, 1),
  hangP: fc.constantFrom(0, 0, 0.05),
  durationUsMax: fc.constantFrom(SEC, MIN, 4 * MIN, 10 * MIN),
});

function boundUs(c: MonitorConfig, pool: number): number {
  const p = c.pools[pool] as PoolConfig;
  return Math.max(backoffMaxUs(p.passBackoff), backoffMaxUs(p.failBackoff), c.entryJitterUs);
}

describe("Monitor invariants under random worlds", () => {
  const world = fc.record({
    behaviours: fc.array(behaviour, { minLength: 1, maxLength: 25 }),
    window: fc.integer({ min: 1, max: 8 }),
    passesToReturn: fc.integer({ min: 1, max: 6 }),
    seed: fc.nat(),
    gate: fc.array(fc.tuple(fc.integer({ min: 0, max: 20 * 3_600 }), fc.integer({ min: 1, max: 3_600 })), { maxLength: 3 }),
  });

  it("never exceeds the window, never schedules past cap + jitter, never returns a flapper unproven", async () => {
    await fc.assert(
      fc.asyncProperty(world, async ({ behaviours, window, passesToReturn, seed, gate }) => {
        await breathe();
        const c = smallConfig(window, behaviours.length, passesToReturn);
        const h = new Harness(c, behaviours, seed);
        behaviours.forEach((_, node) => h.monitor.add(0, node));
        h.run(24 * 3_600 * SEC, gate.map(([a, d]) => [a * SEC, (a + d) * SEC]));
        expect(h.problems).toEqual([]);
        expect(h.maxInFlight).toBeLessThanOrEqual(window);
        for (const s of h.starts) {
          if (s.lastEndUs !== undefined) expect(s.dueUs - s.lastEndUs).toBeLessThanOrEqual(boundUs(c, s.pool));
        }
        for (const a of h.aborts) expect(a.timeUs - a.startedUs).toBe(c.testTimeoutUs);
      }),
      { numRuns: 60 },
    );
  });

  it("starts every test within cap + jitter of the last one's end when the window has room and the gate stays open", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(behaviour, { minLength: 1, maxLength: 12 }), fc.nat(), async (behaviours, seed) => {
        await breathe();
        const c = smallConfig(behaviours.length, behaviours.length, 3);
        const h = new Harness(c, behaviours, seed);
        behaviours.forEach((_, node) => h.monitor.add(0, node));
        h.run(12 * 3_600 * SEC);
        expect(h.problems).toEqual([]);
        for (const s of h.starts) {
          expect(s.timeUs).toBe(s.dueUs);
          if (s.lastEndUs !== undefined) expect(s.timeUs - s.lastEndUs).toBeLessThanOrEqual(boundUs(c, s.pool));
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe("Monitor pools", () => {
  it("moves a node that fails from good to bad at once, and back on its next pass", () => {
    const attempts = new Map<number, number>();
    const moves: string[] = [];
    const m = new Monitor(deployedConfig({ entryJitterUs: 0, entriesMax: 4 }), {
      startTest: (_now, e, _n, _p, attempt) => attempts.set(e, attempt),
      abortTest: () => {},
      tested: () => {},
      moved: (_now, _e, _n, from, to) => moves.push(`${m.poolName(from)}>${m.poolName(to)}`),
      flapChanged: () => {},
    }, createRng(1));
    const e = m.add(0, 0);
    m.poll(0);
    expect(m.inFlight).toBe(1);
    m.testDone(10 * SEC, e, attempts.get(e) as number, false);
    expect(m.poolName(m.poolOf(e))).toBe("bad");
    expect(m.dueUsOf(e)).toBe(10 * SEC);
    m.poll(10 * SEC);
    m.testDone(20 * SEC, e, attempts.get(e) as number, true);
    expect(moves).toEqual(["->good", "good>bad", "bad>good"]);
    // After the move the node is tested at once, then backs off by the deployed formula.
    m.poll(20 * SEC);
    m.testDone(30 * SEC, e, attempts.get(e) as number, true);
    const delay = m.dueUsOf(e) - 30 * SEC;
    expect(delay).toBeGreaterThanOrEqual(2 * 2 * 600 * SEC);
    expect(delay).toBeLessThanOrEqual(2 * 2 * 600 * SEC + 120 * SEC);
  });

  it("times a hung test out, ignores its late result and kills it", () => {
    const attempts = new Map<number, number>();
    const aborted: number[] = [];
    const m = new Monitor(deployedConfig({ entryJitterUs: 0, entriesMax: 2, testTimeoutUs: 600 * SEC }), {
      startTest: (_now, e, _n, _p, attempt) => attempts.set(e, attempt),
      abortTest: (_now, e) => aborted.push(e),
      tested: () => {},
      moved: () => {},
      flapChanged: () => {},
    }, createRng(1));
    const e = m.add(0, 0);
    m.poll(0);
    const first = attempts.get(e) as number;
    expect(m.nextWakeUs()).toBe(600 * SEC);
    m.poll(600 * SEC);
    expect(aborted).toEqual([e]);
    expect(m.timeouts).toBe(1);
    expect(m.poolName(m.poolOf(e))).toBe("bad");
    m.testDone(700 * SEC, e, first, true);
    expect(m.staleResults).toBe(1);
    expect(m.poolName(m.poolOf(e))).toBe("bad");
  });

  it("pauses new tests while the load gate is closed, and lets running ones finish", () => {
    const attempts = new Map<number, number>();
    const m = new Monitor(deployedConfig({ entryJitterUs: 0, entriesMax: 3 }), {
      startTest: (_now, e, _n, _p, attempt) => attempts.set(e, attempt),
      abortTest: () => {},
      tested: () => {},
      moved: () => {},
      flapChanged: () => {},
    }, createRng(1));
    const a = m.add(0, 0);
    m.poll(0);
    m.setPaused(true);
    m.add(0, 1);
    m.poll(0);
    expect(m.inFlight).toBe(1);
    m.testDone(5 * SEC, a, attempts.get(a) as number, true);
    m.poll(5 * SEC);
    expect(m.inFlight).toBe(0);
    expect(m.nextWakeUs()).toBe(Infinity);
    m.setPaused(false);
    m.poll(6 * SEC);
    expect(m.inFlight).toBe(1);
  });

  it("lets a finished test's slot go to the next due entry at once", () => {
    const started: number[] = [];
    const attempts = new Map<number, number>();
    const m = new Monitor(deployedConfig({ entryJitterUs: 0, entriesMax: 3, window: 1 }), {
      startTest: (now, e, _n, _p, attempt) => {
        started.push(now);
        attempts.set(e, attempt);
      },
      abortTest: () => {},
      tested: () => {},
      moved: () => {},
      flapChanged: () => {},
    }, createRng(1));
    const a = m.add(0, 0);
    m.add(0, 1);
    m.poll(0);
    m.testDone(7 * SEC, a, attempts.get(a) as number, true);
    m.poll(7 * SEC);
    expect(started).toEqual([0, 7 * SEC]);
  });

  it("runs a setup pool first, retries its failures with backoff and releases a node once set up", () => {
    const order: string[] = [];
    const attempts = new Map<number, number>();
    const moves: string[] = [];
    const c = deployedConfig({ pools: [goodPool(), badPool(), setupPool("exp1")], entryJitterUs: 0, entriesMax: 4, window: 1 });
    const m = new Monitor(c, {
      startTest: (_now, e, _n, p, attempt) => {
        order.push(m.poolName(p));
        attempts.set(e, attempt);
      },
      abortTest: () => {},
      tested: () => {},
      moved: (_now, _e, n, from, to, reason) => moves.push(`${n}:${m.poolName(from)}>${m.poolName(to)}:${reason}`),
      flapChanged: () => {},
    }, createRng(1));
    m.add(0, 0);
    const s = m.add(0, 1, m.poolIndex("exp1"));
    m.poll(0);
    expect(order).toEqual(["exp1"]);
    m.testDone(SEC, s, attempts.get(s) as number, false);
    expect(m.dueUsOf(s)).toBeGreaterThanOrEqual(61 * SEC);
    m.poll(SEC);
    expect(order).toEqual(["exp1", "good"]);
    m.poll(200 * SEC);
    m.testDone(200 * SEC, 0, attempts.get(0) as number, true);
    m.poll(200 * SEC);
    m.testDone(210 * SEC, s, attempts.get(s) as number, true);
    expect(m.has(s)).toBe(false);
    expect(moves.filter((x) => x.startsWith("1:"))).toEqual([`1:->exp1:${MOVE_ADD}`, `1:exp1>-:${MOVE_RELEASE}`]);
  });

  it("holds a flapping node in the bad pool until K passes in a row, then clears the flag with its evidence", () => {
    const K = 4;
    const attempts = new Map<number, number>();
    const flaps: number[] = [];
    const c = deployedConfig({ entryJitterUs: 0, entriesMax: 1, flap: { historyStates: 21, weightOldest: 0.75, weightNewest: 1.25, lowPct: 5, highPct: 20, passesToReturn: K } });
    const m = new Monitor(c, {
      startTest: (_now, e, _n, _p, attempt) => attempts.set(e, attempt),
      abortTest: () => {},
      tested: () => {},
      moved: () => {},
      flapChanged: (_now, _e, _n, change) => flaps.push(change),
    }, createRng(3));
    const e = m.add(0, 0);
    let t = 0;
    const test = (passed: boolean): void => {
      t = Math.max(t, m.dueUsOf(e));
      m.poll(t);
      t += SEC;
      m.testDone(t, e, attempts.get(e) as number, passed);
    };
    for (const passed of [false, true, false, true, false, true]) test(passed);
    expect(m.isFlapping(e)).toBe(true);
    expect(m.poolName(m.poolOf(e))).toBe("bad");
    // The last of those passes was the first of the K.
    for (let i = 2; i < K; i++) {
      test(true);
      expect(m.poolName(m.poolOf(e))).toBe("bad");
    }
    test(true);
    expect(m.poolName(m.poolOf(e))).toBe("good");
    expect(m.isFlapping(e)).toBe(false);
    expect(m.isOnProbation(e)).toBe(false);
    expect(flaps[0]).toBe(0);
    expect(flaps[flaps.length - 1]).toBe(2);
    // The spent evidence does not bring the flag back on the next pass.
    test(true);
    expect(m.isFlapping(e)).toBe(false);
    expect(m.heldBack).toBe(K - 1);
  });

  it("counts every move it makes through the port", () => {
    const moves: number[] = [];
    const m = new Monitor(deployedConfig({ entriesMax: 2 }), {
      startTest: () => {},
      abortTest: () => {},
      tested: () => {},
      moved: (_n, _e, _node, _f, _t, r) => moves.push(r),
      flapChanged: () => {},
    }, createRng(1));
    const e = m.add(0, 0);
    m.remove(0, e);
    expect(moves).toEqual([MOVE_ADD, 3]);
    expect(m.moves).toBe(2);
    expect(m.entries).toBe(0);
    void MOVE_RESULT;
    void NO_POOL;
  });

  it("refuses a configuration with a move to an unknown pool, in one line", () => {
    const bad = deployedConfig({ pools: [goodPool({ onFail: { to: "nowhere" } }), badPool()] });
    expect(() => new Monitor(bad, {} as never, createRng(1))).toThrow(MonitorConfigError);
    expect(() => new Monitor(bad, {} as never, createRng(1))).toThrow(/pools\[0\]\.onFail: no pool named "nowhere"/);
  });
});
