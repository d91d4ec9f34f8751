import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseSeedRange, parseShard, SeedsError, shardSeeds, SWEEP_SEEDS_MAX } from "../../../scenarios/sweep/seeds.js";

describe("seed ranges and shards", () => {
  it("reads A..B and a single seed", () => {
    expect(parseSeedRange("1..100000")).toEqual({ first: 1, last: 100_000 });
    expect(parseSeedRange(" 7 ")).toEqual({ first: 7, last: 7 });
  });

  it("refuses backwards, malformed and oversized ranges in one line", () => {
    expect(() => parseSeedRange("5..1")).toThrow("--seeds: the range runs backwards (5 > 1)");
    expect(() => parseSeedRange("1-5")).toThrow(SeedsError);
    expect(() => parseSeedRange(`0..${SWEEP_SEEDS_MAX}`)).toThrow(/more than the limit/);
    expect(() => parseShard("0/4")).toThrow(/JOB_COMPLETION_INDEX needs \+1/);
    expect(() => parseShard("5/4")).toThrow(/K must be from 1 to 4/);
    expect(() => parseShard("1/0")).toThrow(SeedsError);
  });

  it("cuts a range into shards that together hold every seed exactly once", () => {
    fc.assert(
      fc.property(fc.nat(1_000), fc.nat(300), fc.integer({ min: 1, max: 40 }), (first, extra, count) => {
        const range = { first, last: first + extra };
        const all = Array.from({ length: count }, (_, i) => shardSeeds(range, { index: i + 1, count })).flat();
        expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: extra + 1 }, (_, i) => first + i));
      }),
    );
  });
});
