import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRng } from "../../core/engine/rng.js";
import { Host, PAUSED_INPUTS_MAX, ProcTimers, TIMER_IDS_DIRECT } from "../../sim/host.js";

function hostWithClock(offsetUs: number, driftPpm: number): Host {
  const host = new Host(0, "h", createRng(1));
  host.clock.offsetUs = offsetUs;
  host.clock.driftPpm = driftPpm;
  return host;
}

describe("Host clock", () => {
  it("reads 1,000,100 us at global 1 s when it runs 100 ppm fast", () => {
    expect(hostWithClock(0, 100).localTime(1_000_000)).toBe(1_000_100);
  });

  it("reads 999,900 us at global 1 s when it runs 100 ppm slow, plus its offset", () => {
    expect(hostWithClock(0, -100).localTime(1_000_000)).toBe(999_900);
    expect(hostWithClock(5_000, -100).localTime(1_000_000)).toBe(1_004_900);
  });

  it("reads global time exactly without drift or offset", () => {
    const host = hostWithClock(0, 0);
    expect([host.localTime(0), host.localTime(123_456_789)]).toEqual([0, 123_456_789]);
    expect(host.globalTime(123_456_789)).toBe(123_456_789);
  });

  it("maps a fractional local time on a true clock to the next whole microsecond, as the general steps do", () => {
    const host = hostWithClock(0, 0);
    fc.assert(
      fc.property(fc.double({ min: -1e12, max: 1e12, noNaN: true }), (localUs) => {
        const globalUs = host.globalTime(localUs);
        expect(host.localTime(globalUs)).toBeGreaterThanOrEqual(localUs);
        expect(host.localTime(globalUs - 1)).toBeLessThan(localUs);
      }),
      { numRuns: 2_000 },
    );
  });

  it("maps local 1,000,100 us back to global 1 s at +100 ppm", () => {
    expect(hostWithClock(0, 100).globalTime(1_000_100)).toBe(1_000_000);
  });

  it("maps a local time to the earliest global time whose local reading is at least that", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1_000_000, max: 1_000_000 }),
        fc.integer({ min: -1_000, max: 1_000 }),
        fc.integer({ min: 0, max: 1_000_000_000_000 }),
        (offsetUs, driftPpm, localUs) => {
          const host = hostWithClock(offsetUs, driftPpm);
          const globalUs = host.globalTime(localUs);
          expect(host.localTime(globalUs)).toBeGreaterThanOrEqual(localUs);
          expect(host.localTime(globalUs - 1)).toBeLessThan(localUs);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it("never runs backwards", () => {
    fc.assert(
      fc.property(fc.integer({ min: -1_000, max: 1_000 }), fc.nat({ max: 1e12 }), (driftPpm, globalUs) => {
        const host = hostWithClock(0, driftPpm);
        expect(host.localTime(globalUs + 1)).toBeGreaterThanOrEqual(host.localTime(globalUs));
      }),
    );
  });
});

describe("Host inputs", () => {
  it("runs an input at once while up", () => {
    const host = hostWithClock(0, 0);
    const seen: number[] = [];
    expect(host.input(() => seen.push(1), true)).toBe(true);
    expect(seen).toEqual([1]);
  });

  it("holds inputs in order while paused", () => {
    const host = hostWithClock(0, 0);
    host.state = "paused";
    const seen: number[] = [];
    host.input(() => seen.push(1), false);
    host.input(() => seen.push(2), true);
    expect(seen).toEqual([]);
    for (const run of host.deferred) run();
    expect(seen).toEqual([1, 2]);
  });

  it("drops every input while crashed", () => {
    const host = hostWithClock(0, 0);
    host.state = "crashed";
    let ran = false;
    expect(host.input(() => (ran = true), false)).toBe(false);
    expect(ran).toBe(false);
  });

  it("drops droppable inputs beyond PAUSED_INPUTS_MAX held, but still holds the others", () => {
    const host = hostWithClock(0, 0);
    host.state = "paused";
    for (let i = 0; i < PAUSED_INPUTS_MAX; i++) host.input(() => undefined, true);
    expect(host.input(() => undefined, true)).toBe(false);
    expect(host.pausedDrops).toBe(1);
    expect(host.input(() => undefined, false)).toBe(true);
    expect(host.deferred).toHaveLength(PAUSED_INPUTS_MAX + 1);
  });

  it("forks its random stream from the world's by its name", () => {
    expect(new Host(3, "client3", createRng(42)).rng.seed).toBe("42/host:client3");
  });
});

describe("ProcTimers", () => {
  it("keeps the handle of each id, small or not, until it is deleted", () => {
    const timers = new ProcTimers();
    const ids = [0, 1, TIMER_IDS_DIRECT - 1, TIMER_IDS_DIRECT, -1, 2.5, 1e9];
    ids.forEach((id, i) => timers.set(id, 2 ** 40 + i));
    ids.forEach((id, i) => expect(timers.get(id)).toBe(2 ** 40 + i));
    expect(timers.handles().sort((x, y) => x - y)).toEqual(ids.map((_, i) => 2 ** 40 + i));
    timers.delete(1);
    timers.delete(1e9);
    expect(timers.get(1)).toBeUndefined();
    expect(timers.get(1e9)).toBeUndefined();
    expect(timers.get(7)).toBeUndefined();
    expect(timers.handles()).toHaveLength(ids.length - 2);
  });
});
