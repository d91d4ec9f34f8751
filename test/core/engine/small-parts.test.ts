import { describe, expect, it } from "vitest";
import { Engine } from "../../../core/engine/engine.js";
import { GROUP_BASE, GROUPS_MAX, groupAddress, isGroup, payloadBytes } from "../../../core/engine/ports.js";
import { createRng } from "../../../core/engine/rng.js";
import { Fingerprint } from "../../../core/engine/trace.js";
import { US_PER_DAY, assertMicros, microsToSeconds, secondsToMicros, serialisationUs } from "../../../core/engine/time.js";

// Mutation testing (npm run mutate core/engine) found these parts without a test of their own.
describe("time units", () => {
  it("converts seconds and microseconds, rounding to whole microseconds", () => {
    expect(US_PER_DAY).toBe(86_400_000_000);
    expect(secondsToMicros(1.5)).toBe(1_500_000);
    expect(secondsToMicros(0.0000014)).toBe(1);
    expect(microsToSeconds(2_500_000)).toBe(2.5);
  });

  it("takes a datagram's time on the wire rounded up: 1,500 bytes at 1 Gbit/s is 12 us, 1 byte at 3 bit/s 2,666,667 us", () => {
    expect(serialisationUs(1_500, 1e9)).toBe(12);
    expect(serialisationUs(1, 3)).toBe(2_666_667);
    expect(serialisationUs(1_000, 100e6)).toBe(80);
  });

  it("accepts whole non-negative microseconds and refuses anything else, naming what", () => {
    expect(() => assertMicros(0, "t")).not.toThrow();
    expect(() => assertMicros(Number.MAX_SAFE_INTEGER, "t")).not.toThrow();
    expect(() => assertMicros(-1, "at")).toThrow("at: expected a non-negative integer number of microseconds, got -1");
    expect(() => assertMicros(1.5, "at")).toThrow(/got 1\.5$/);
    expect(() => assertMicros(2 ** 53, "at")).toThrow(/got 9007199254740992$/);
  });
});

describe("addresses", () => {
  it("puts group g at GROUP_BASE + g, for g from 0 to GROUPS_MAX, and refuses any other", () => {
    expect(groupAddress(0)).toBe(GROUP_BASE);
    expect(groupAddress(7)).toBe(GROUP_BASE + 7);
    expect(groupAddress(GROUPS_MAX)).toBe(GROUP_BASE + GROUPS_MAX);
    for (const bad of [-1, GROUPS_MAX + 1, 1.5, Number.NaN]) expect(() => groupAddress(bad)).toThrow(`bad multicast group ${bad}`);
  });

  it("tells a group from a host at GROUP_BASE exactly", () => {
    expect(isGroup(GROUP_BASE)).toBe(true);
    expect(isGroup(GROUP_BASE - 1)).toBe(false);
    expect(isGroup(0)).toBe(false);
  });

  it("counts an encoded payload's bytes, and an unencoded one's wire bytes", () => {
    expect(payloadBytes(new Uint8Array(37))).toBe(37);
    expect(payloadBytes({ type: "x", wireBytes: 1_024 })).toBe(1_024);
  });
});

describe("Rng.chance", () => {
  it("draws nothing from the stream when p is 0 or less (a zero-loss link does not shift every later draw)", () => {
    const a = createRng(9);
    const b = createRng(9);
    expect(a.chance(0)).toBe(false);
    expect(a.chance(-1)).toBe(false);
    expect(a.next()).toBe(b.next());
  });
});

describe("Engine.run until a time", () => {
  it("never moves time backwards when asked to run until a time already past", () => {
    const engine = new Engine();
    const tick = engine.register<undefined>("tick", () => {});
    engine.at(500, tick);
    engine.at(900, tick);
    engine.run({ untilUs: 600 });
    expect(engine.now).toBe(600);
    engine.run({ untilUs: 100 });
    expect(engine.now).toBe(600);
  });
});

describe("Fingerprint.hex", () => {
  it("is always 16 hex digits: a lane with leading zero digits keeps them", () => {
    let leadingZero = 0;
    for (let i = 0; i < 400; i++) {
      const f = new Fingerprint();
      f.mixEvent(i, 1, i);
      const hex = f.hex();
      expect(hex).toMatch(/^[0-9a-f]{16}$/);
      if (hex[0] === "0" || hex[8] === "0") leadingZero++;
    }
    expect(leadingZero).toBeGreaterThan(0);
  });
});
