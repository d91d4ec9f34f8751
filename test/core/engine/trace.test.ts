import { describe, expect, it } from "vitest";
import { Fingerprint } from "../../../core/engine/trace.js";

/** A fingerprint over events given as [time, kind, arg], mixed the way the engine mixes them. */
function hexOf(events: readonly (readonly [number, number, number])[]): string {
  const trace = new Fingerprint();
  for (const [timeUs, kind, arg] of events) {
    trace.mixNumber(timeUs);
    trace.mix(kind);
    trace.mix(arg);
  }
  return trace.hex();
}

const base = [
  [0, 1, 5],
  [10, 2, 6],
  [2 ** 40, 1, 7],
] as const;

describe("Fingerprint", () => {
  it("gives the same 16 hex digits for the same events", () => {
    expect(hexOf(base)).toBe(hexOf(base));
    expect(hexOf(base)).toMatch(/^[0-9a-f]{16}$/);
  });

  it("changes when an event's time changes, even above 2^32 microseconds", () => {
    expect(hexOf([base[0], [11, 2, 6], base[2]])).not.toBe(hexOf(base));
    expect(hexOf([base[0], base[1], [2 ** 40 + 2 ** 32, 1, 7]])).not.toBe(hexOf(base));
  });

  it("changes when an event's argument or kind changes", () => {
    expect(hexOf([base[0], [10, 2, 9], base[2]])).not.toBe(hexOf(base));
    expect(hexOf([base[0], [10, 3, 6], base[2]])).not.toBe(hexOf(base));
  });

  it("changes when two events swap places", () => {
    expect(hexOf([base[1], base[0], base[2]])).not.toBe(hexOf(base));
  });

  it("changes when an event is added or dropped", () => {
    expect(hexOf(base.slice(0, 2))).not.toBe(hexOf(base));
    expect(hexOf([...base, [2 ** 40, 0, 0]])).not.toBe(hexOf(base));
  });

  it("tells apart strings that differ, including by a trailing character", () => {
    const of = (text: string): string => {
      const trace = new Fingerprint();
      trace.mixString(text);
      return trace.hex();
    };
    expect(of("net.switch")).toBe(of("net.switch"));
    expect(of("net.switch")).not.toBe(of("net.deliver"));
    expect(of("ab")).not.toBe(of("ab\u0000"));
  });

  it("does not disturb the running state when read midway", () => {
    const read = new Fingerprint();
    const unread = new Fingerprint();
    read.mix(1);
    read.hex();
    read.mix(2);
    unread.mix(1);
    unread.mix(2);
    expect(read.hex()).toBe(unread.hex());
  });
});
