import { describe, expect, it } from "vitest";
import { Fingerprint } from "../../../core/engine/trace.js";

/** A fingerprint over events given as [time, kind, arg], mixed by `mixEvent` as the engine mixes them (engine.test.ts checks that it does). */
function hexOf(events: readonly (readonly [number, number, number])[]): string {
  const trace = new Fingerprint();
  for (const [timeUs, kind, arg] of events) trace.mixEvent(timeUs, kind, arg);
  return trace.hex();
}

const base = [
  [0, 1, 5],
  [10, 2, 6],
  [2 ** 40, 1, 7],
] as const;

/** Fingerprints as this code gives them: a change here is a change of every golden fingerprint (test/golden). */
const PINNED = {
  base: "b35d214be01eb30b",
  empty: "ebb6c228811c9dc5",
  words: "273c8ed4a680891c",
  numbers: "e359ec12cbc8438d",
};

describe("Fingerprint", () => {
  it("gives the same 16 hex digits for the same events", () => {
    expect(hexOf(base)).toBe(hexOf(base));
    expect(hexOf(base)).toMatch(/^[0-9a-f]{16}$/);
  });

  it("gives these 16 hex digits on any machine: both lanes pinned, times above 2^32 microseconds included", () => {
    expect(hexOf(base)).toBe(PINNED.base);
    expect(new Fingerprint().hex()).toBe(PINNED.empty);
    const words = new Fingerprint();
    for (const w of [0, 1, 0xffffffff, 0x80000000, 12345]) words.mix(w);
    expect(words.hex()).toBe(PINNED.words);
    const numbers = new Fingerprint();
    for (const n of [0, 2 ** 32, 2 ** 52 + 7]) numbers.mixNumber(n);
    expect(numbers.hex()).toBe(PINNED.numbers);
  });

  it("changes in each of its lanes when an event's time changes, even only above 2^32 microseconds", () => {
    const changed = (a: string, b: string): [boolean, boolean] => [a.slice(0, 8) !== b.slice(0, 8), a.slice(8) !== b.slice(8)];
    expect(changed(hexOf([base[0], [11, 2, 6], base[2]]), hexOf(base))).toEqual([true, true]);
    expect(changed(hexOf([base[0], base[1], [2 ** 40 + 2 ** 32, 1, 7]]), hexOf(base))).toEqual([true, true]);
    expect(changed(hexOf([[2 ** 33, 1, 5]]), hexOf([[2 ** 34, 1, 5]]))).toEqual([true, true]);
  });

  it("mixes a number above 2^32 by both its words", () => {
    const of = (n: number): string => {
      const trace = new Fingerprint();
      trace.mixNumber(n);
      return trace.hex();
    };
    expect(of(2 ** 32 + 5)).not.toBe(of(5));
    expect(of(2 ** 33 + 5)).not.toBe(of(2 ** 32 + 5));
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
