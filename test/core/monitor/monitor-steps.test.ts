import { describe, expect, it } from "vitest";
import { createRng } from "../../../core/engine/rng.js";
import {
  FLAP_START,
  FLAP_STOP_GONE,
  FLAP_STOP_LOW,
  FLAP_STOP_PROVEN,
  MOVE_ADD,
  MOVE_RELEASE,
  MOVE_REMOVE,
  MOVE_RESULT,
  Monitor,
  NAGIOS_FLAP,
  NO_POOL,
  OUTCOME_FAIL,
  OUTCOME_PASS,
  OUTCOME_TIMEOUT,
  backoff,
  badPool,
  deployedConfig,
  goodPool,
  setupPool,
  type MonitorConfig,
  type MonitorPort,
  type PoolConfig,
} from "../../../core/monitor/index.js";

/** The monitor driven by hand: every effect recorded, every rule seen at the moment it acts. */
const SEC = 1_000_000;

function make(overrides: Partial<MonitorConfig> = {}, seed = 1) {
  const starts: [number, number, number, number, number][] = [];
  const aborts: [number, number, number, number][] = [];
  const tested: [number, number, number, number, number, number][] = [];
  const moves: [number, number, number, number, number, number][] = [];
  const flaps: [number, number, number, number, number][] = [];
  const attempt = new Map<number, number>();
  const port: MonitorPort = {
    startTest: (now, e, node, pool, a) => {
      starts.push([now, e, node, pool, a]);
      attempt.set(e, a);
    },
    abortTest: (now, e, node, a) => aborts.push([now, e, node, a]),
    tested: (now, e, node, pool, outcome, d) => tested.push([now, e, node, pool, outcome, d]),
    moved: (now, e, node, from, to, reason) => moves.push([now, e, node, from, to, reason]),
    flapChanged: (now, e, node, change, pct) => flaps.push([now, e, node, change, pct]),
  };
  const m = new Monitor(deployedConfig({ entryJitterUs: 0, entriesMax: 8, ...overrides }), port, createRng(seed));
  const done = (now: number, e: number, passed: boolean): void => m.testDone(now, e, attempt.get(e) as number, passed);
  return { m, starts, aborts, tested, moves, flaps, done, attempt };
}

/** One pool that keeps every node, with exact (jitter-free) backoffs: due times show the counts. */
function onePool(extra: Partial<PoolConfig> = {}): Partial<MonitorConfig> {
  return {
    pools: [goodPool({ name: "p", onPass: "stay", onFail: "stay", passBackoff: backoff("additive", { stepUs: 10 * SEC }), failBackoff: backoff("additive", { stepUs: 100 * SEC }), requiresProven: false, ...extra })],
    entryPool: "p",
  };
}

describe("monitor, by hand: retests", () => {
  it("counts passes and failures in a row, each resetting the other, and retests after the backoff of that count", () => {
    const { m, done, tested } = make(onePool());
    const e = m.add(0, 42);
    let t = 0;
    const step = (passed: boolean): number => {
      m.poll(m.dueUsOf(e));
      t = m.dueUsOf(e) + SEC;
      done(t, e, passed);
      return m.dueUsOf(e) - t;
    };
    expect([step(true), step(true), step(false), step(false), step(true)]).toEqual([10 * SEC, 20 * SEC, 100 * SEC, 200 * SEC, 10 * SEC]);
    expect(m.entryState(e)).toMatchObject({ node: 42, passes: 1, failures: 0 });
    expect(tested.map(([, , node, pool, outcome, d]) => [node, pool, outcome, d])).toEqual([
      [42, 0, OUTCOME_PASS, SEC],
      [42, 0, OUTCOME_PASS, SEC],
      [42, 0, OUTCOME_FAIL, SEC],
      [42, 0, OUTCOME_FAIL, SEC],
      [42, 0, OUTCOME_PASS, SEC],
    ]);
    expect(m.testsStarted).toBe(5);
    expect(m.testsFinished).toBe(5);
  });

  it("does not start a test before it is due, and starts it when due", () => {
    const { m, done, starts } = make(onePool());
    const e = m.add(0, 0);
    m.poll(0);
    done(SEC, e, true);
    m.poll(11 * SEC - 1);
    expect(starts).toHaveLength(1);
    expect(m.isTesting(e)).toBe(false);
    expect(m.nextWakeUs()).toBe(11 * SEC);
    m.poll(11 * SEC);
    expect(starts.map(([now, , , , a]) => [now, a])).toEqual([[0, 1], [11 * SEC, 2]]);
    expect(m.isTesting(e)).toBe(true);
  });

  it("times a test out at exactly testTimeout, counts it failed with that duration, and takes a stale result for nothing", () => {
    const { m, done, aborts, tested } = make({ ...onePool(), testTimeoutUs: 50 * SEC });
    const e = m.add(0, 9);
    m.poll(0);
    m.poll(50 * SEC - 1);
    expect(m.timeouts).toBe(0);
    m.poll(50 * SEC);
    expect(aborts).toEqual([[50 * SEC, e, 9, 1]]);
    expect(tested.at(-1)).toEqual([50 * SEC, e, 9, 0, OUTCOME_TIMEOUT, 50 * SEC]);
    expect(m.entryState(e).failures).toBe(1);
    done(51 * SEC, e, true);
    expect(m.staleResults).toBe(1);
    m.testDone(52 * SEC, -1, 1, true);
    m.testDone(52 * SEC, 99, 1, true);
    m.testDone(52 * SEC, e, 7, true);
    expect(m.staleResults).toBe(4);
    expect(m.testsFinished).toBe(1);
  });

  it("tests an entry at once when it enters a pool, or after a jitter of 0..entryJitterUs drawn from the seed", () => {
    const { m } = make(onePool());
    expect(m.dueUsOf(m.add(5, 0))).toBe(5);
    const dues = (seed: number): number[] => {
      const { m: j } = make({ ...onePool(), entryJitterUs: 100 }, seed);
      return [0, 1, 2, 3, 4, 5].map((n) => j.dueUsOf(j.add(1_000, n)) - 1_000);
    };
    const a = dues(3);
    expect(dues(3)).toEqual(a);
    expect(a.every((d) => d >= 0 && d <= 100)).toBe(true);
    expect(new Set(a).size).toBeGreaterThan(1);
  });
});

describe("monitor, by hand: the window and the pools", () => {
  it("keeps at most `window` tests in flight, and while full wakes only for a time-out", () => {
    const { m, done } = make({ ...onePool(), window: 2, testTimeoutUs: 30 * SEC });
    const e = [0, 1, 2].map((n) => m.add(0, n));
    m.poll(0);
    expect(m.inFlight).toBe(2);
    expect(m.maxInFlight).toBe(2);
    expect(m.isTesting(e[2]!)).toBe(false);
    expect(m.nextWakeUs()).toBe(30 * SEC);
    done(SEC, e[0]!, true);
    expect(m.nextWakeUs()).toBe(0);
    m.poll(SEC);
    expect(m.isTesting(e[2]!)).toBe(true);
    expect(m.maxInFlight).toBe(2);
  });

  it("starts the higher-priority pool first, then the earliest due, and a pool not yet due waits", () => {
    const pools = [
      goodPool({ name: "low", onFail: "stay", requiresProven: false, priority: 0 }),
      goodPool({ name: "high", onFail: "stay", requiresProven: false, priority: 5 }),
      goodPool({ name: "low2", onFail: "stay", requiresProven: false, priority: 0 }),
    ];
    const { m, starts } = make({ pools, entryPool: "low", window: 1 });
    m.add(3, 0, m.poolIndex("low2"));
    m.add(2, 1, m.poolIndex("low"));
    m.add(9, 2, m.poolIndex("high"));
    m.poll(5);
    // "high" is not due until 9: of the two due at 5, the earlier (2, in "low") goes first.
    expect(starts.map(([, , node]) => node)).toEqual([1]);
    const { m: m2, starts: s2 } = make({ pools, entryPool: "low", window: 1 });
    m2.add(3, 0, m2.poolIndex("low2"));
    m2.add(2, 1, m2.poolIndex("low"));
    m2.add(4, 2, m2.poolIndex("high"));
    m2.poll(5);
    expect(s2.map(([, , node]) => node)).toEqual([2]);
    const { m: m3, starts: s3 } = make({ pools, entryPool: "low", window: 1 });
    m3.add(2, 0, m3.poolIndex("low2"));
    m3.add(3, 1, m3.poolIndex("low"));
    m3.poll(5);
    expect(s3.map(([, , node]) => node)).toEqual([0]);
  });

  it("moves on a result to the pool it names, releases a set-up node, and counts every move", () => {
    const { m, done, moves } = make({ pools: [goodPool(), badPool(), setupPool("exp")], window: 4 });
    const g = m.add(0, 0);
    const s = m.add(0, 1, m.poolIndex("exp"));
    m.poll(0);
    done(SEC, g, false);
    done(SEC, s, true);
    expect(moves).toEqual([
      [0, g, 0, NO_POOL, 0, MOVE_ADD],
      [0, s, 1, NO_POOL, 2, MOVE_ADD],
      [SEC, g, 0, 0, 1, MOVE_RESULT],
      [SEC, s, 1, 2, NO_POOL, MOVE_RELEASE],
    ]);
    expect(m.moves).toBe(4);
    expect(m.has(s)).toBe(false);
    expect(m.entries).toBe(1);
    expect(m.waitingIn(1)).toBe(1);
    expect(m.waitingIn(2)).toBe(0);
  });

  it("names its pools, and refuses a pool it does not have", () => {
    const { m } = make();
    expect([m.poolIndex("good"), m.poolIndex("bad")]).toEqual([0, 1]);
    expect(m.poolName(1)).toBe("bad");
    expect(m.poolName(NO_POOL)).toBe("-");
    expect(() => m.poolIndex("gold")).toThrow('no pool named "gold"');
    expect(() => m.add(0, 0, 7)).toThrow("no pool 7");
  });
});

describe("monitor, by hand: entries", () => {
  it("holds at most entriesMax entries, and reuses the place of one that left", () => {
    const { m } = make({ entriesMax: 2 });
    const a = m.add(0, 0);
    m.add(0, 1);
    expect(() => m.add(0, 2)).toThrow("monitor full: entriesMax (2) entries");
    m.remove(1, a);
    expect(m.add(1, 3)).toBe(a);
    expect(m.entryState(a)).toMatchObject({ node: 3, passes: 0, failures: 0, flapping: false, probation: false, history: 0, historyLength: 0 });
  });

  it("removes a waiting entry from its pool, and aborts the test of one in flight", () => {
    const { m, aborts, moves } = make({ window: 1 });
    const a = m.add(0, 10);
    const b = m.add(0, 11);
    m.poll(0);
    expect(m.waitingIn(0)).toBe(1);
    m.remove(5, b);
    expect(m.waitingIn(0)).toBe(0);
    expect(aborts).toEqual([]);
    m.remove(6, a);
    expect(aborts).toEqual([[6, a, 10, 1]]);
    expect(m.inFlight).toBe(0);
    expect(moves.slice(-2)).toEqual([
      [5, b, 11, 0, NO_POOL, MOVE_REMOVE],
      [6, a, 10, 0, NO_POOL, MOVE_REMOVE],
    ]);
    expect(m.has(a)).toBe(false);
    expect(m.has(-1)).toBe(false);
    expect(m.has(99)).toBe(false);
    expect(() => m.remove(7, a)).toThrow(`no entry ${a}`);
    expect(() => m.entryState(a)).toThrow(`no entry ${a}`);
    expect(() => m.remove(7, -1)).toThrow("no entry -1");
    expect(() => m.remove(7, 99)).toThrow("no entry 99");
    m.poll(7);
    expect(m.testsStarted).toBe(1);
  });

  it("restores a saved entry as it was, due when it was due", () => {
    const { m, starts } = make();
    const e = m.restore({ node: 4, pool: 1, passes: 2, failures: 0, dueUs: 500, flapping: true, probation: true, history: 0b1010, historyLength: 4 });
    expect(m.entryState(e)).toEqual({ node: 4, pool: 1, passes: 2, failures: 0, dueUs: 500, flapping: true, probation: true, history: 0b1010, historyLength: 4 });
    expect(m.isFlapping(e)).toBe(true);
    expect(m.isOnProbation(e)).toBe(true);
    m.poll(499);
    expect(starts).toEqual([]);
    m.poll(500);
    expect(starts).toEqual([[500, e, 4, 1, 1]]);
    const f = m.restore({ node: 5, pool: 0, passes: 0, failures: 0, dueUs: 0, flapping: false, probation: false, history: 2 ** 30 - 1, historyLength: 200 });
    // History beyond the configured 21 results is cut to it.
    expect(m.entryState(f)).toMatchObject({ history: 2 ** 21 - 1, historyLength: 21 });
  });

  it("refuses to restore into a pool it does not have, or a node on probation into a pool that needs it proven", () => {
    const { m } = make();
    const s = { node: 4, pool: 2, passes: 0, failures: 0, dueUs: 0, flapping: false, probation: false, history: 0, historyLength: 0 };
    expect(() => m.restore(s)).toThrow("restore: no pool 2");
    expect(() => m.restore({ ...s, pool: 0, probation: true })).toThrow("restore: a node on probation cannot be in a pool that requires it proven");
    expect(m.entries).toBe(0);
    expect(m.restore({ ...s, pool: 1, probation: true })).toBeGreaterThanOrEqual(0);
  });
});

describe("monitor, by hand: flapping", () => {
  function flapper(passesToReturn: number) {
    const h = make({ ...onePool(), flap: { ...NAGIOS_FLAP, passesToReturn } });
    const e = h.m.add(0, 7);
    let t = 0;
    const test = (passed: boolean): void => {
      t = Math.max(t, h.m.dueUsOf(e));
      h.m.poll(t);
      t += SEC;
      h.done(t, e, passed);
    };
    return { ...h, e, test };
  }

  it("starts flapping at the high threshold and stops at the low one, saying the percent each time", () => {
    const { m, e, test, flaps } = flapper(1_000);
    for (const passed of [true, false, true, false]) test(passed);
    // Three transitions of 20, the newest weighing 1.25, 1.22 and 1.20: about 18%, not yet 20%.
    expect(m.isFlapping(e)).toBe(false);
    test(true);
    expect(m.isFlapping(e)).toBe(true);
    expect(flaps).toHaveLength(1);
    expect(flaps[0]![3]).toBe(FLAP_START);
    expect(flaps[0]![4]).toBeGreaterThanOrEqual(NAGIOS_FLAP.highPct);
    // Steady failures push the transitions out of the history: the flag stops at 5% or below.
    let n = 0;
    while (m.isFlapping(e) && n++ < 30) test(false);
    expect(flaps).toHaveLength(2);
    expect(flaps[1]![3]).toBe(FLAP_STOP_LOW);
    expect(flaps[1]![4]).toBeLessThanOrEqual(NAGIOS_FLAP.lowPct);
    expect(m.isOnProbation(e)).toBe(true);
  });

  it("says the flag stopped when a flapping entry leaves monitoring", () => {
    const { m, e, test, flaps } = flapper(1_000);
    for (const passed of [true, false, true, false, true]) test(passed);
    expect(m.isFlapping(e)).toBe(true);
    m.remove(100 * SEC, e);
    expect(flaps.at(-1)).toEqual([100 * SEC, e, 7, FLAP_STOP_GONE, 0]);
    const calm = flapper(1_000);
    calm.test(true);
    calm.m.remove(100 * SEC, calm.e);
    expect(calm.flaps).toEqual([]);
  });

  it("holds back a proven-only move of a node on probation, retesting it with its pool's pass backoff", () => {
    const { m, done, moves } = make({ flap: { ...NAGIOS_FLAP, passesToReturn: 3 } });
    const e = m.add(0, 0);
    let t = 0;
    for (const passed of [false, true, false, true, false]) {
      t = Math.max(t, m.dueUsOf(e));
      m.poll(t);
      t += SEC;
      done(t, e, passed);
    }
    expect(m.isOnProbation(e)).toBe(true);
    expect(m.poolName(m.poolOf(e))).toBe("bad");
    m.poll(m.dueUsOf(e));
    t = m.dueUsOf(e) + SEC;
    const movesBefore = moves.length;
    done(t, e, true);
    expect(m.heldBack).toBe(1);
    expect(moves).toHaveLength(movesBefore);
    // The bad pool's pass backoff: 600 s plus 0..120 s.
    expect(m.dueUsOf(e) - t).toBeGreaterThanOrEqual(600 * SEC);
    expect(m.dueUsOf(e) - t).toBeLessThanOrEqual(720 * SEC);
  });

  it("keeps the last historyStates results, and after K passes in a row keeps only those K", () => {
    const { m, e, test } = flapper(4);
    for (let i = 0; i < 30; i++) test(i % 3 === 0);
    expect(m.entryState(e).historyLength).toBe(21);
    while (m.isOnProbation(e) || m.passStreak(e) < 4) test(true);
    expect(m.entryState(e)).toMatchObject({ flapping: false, probation: false });
    const long = flapper(30);
    for (let i = 0; i < 6; i++) long.test(i % 2 === 0);
    expect(long.m.isOnProbation(long.e)).toBe(true);
    for (let i = 0; i < 30; i++) long.test(true);
    // Proven after 30 passes: the history is 30 passes, cut to the 21 it can hold.
    expect(long.m.entryState(long.e)).toMatchObject({ probation: false, history: 0, historyLength: 21 });
  });

  it("says a flapping node stopped when it is proven, at 0%, and keeps only its K passes", () => {
    const { m, e, test, flaps } = flapper(3);
    for (const passed of [true, false, true, false, true]) test(passed);
    expect(m.isFlapping(e)).toBe(true);
    test(true);
    expect(m.isFlapping(e)).toBe(true);
    test(true);
    expect(m.entryState(e)).toMatchObject({ flapping: false, probation: false, history: 0, historyLength: 3 });
    expect(flaps.map(([, , , change, pct]) => [change, pct === 0])).toEqual([[FLAP_START, false], [FLAP_STOP_PROVEN, true]]);
  });
});

describe("monitor, by hand: ties", () => {
  it("starts the first pool's entry when two pools of one priority have entries due at the same time", () => {
    const pools = [goodPool({ name: "a", onFail: "stay", requiresProven: false }), goodPool({ name: "b", onFail: "stay", requiresProven: false })];
    const { m, starts } = make({ pools, entryPool: "a", window: 1 });
    m.add(3, 0, m.poolIndex("b"));
    m.add(3, 1, m.poolIndex("a"));
    m.poll(5);
    expect(starts.map(([, , node]) => node)).toEqual([1]);
  });

  it("refuses a pool index below 0", () => {
    const { m } = make();
    expect(() => m.add(0, 0, -1)).toThrow("no pool -1");
  });
});
