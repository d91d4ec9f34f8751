import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clip, firstEndingAfter, normalize, pushRange, subtract, type Region } from "../../../core/image/index.js";

/*
 * What ranges.test.ts leaves to normalize itself (it builds its inputs with normalize): any list,
 * unsorted, overlapping and with empty ranges; pushRange's merging and its refusal; the binary
 * search; and the cost clip and subtract promise (reads counted through a proxy).
 */

const SPAN = 120;
const anyRanges = fc.array(fc.tuple(fc.nat(SPAN - 1), fc.integer({ min: 0, max: 25 })), { maxLength: 14 }).map((pairs) => pairs.map(([s, n]) => ({ startSector: s, sectorCount: Math.min(n, SPAN - s) })));

/** The normal list of a bit-per-sector set, built run by run (no code under test involved). */
function runsOf(ranges: readonly Region[]): Region[] {
  const on = new Array<boolean>(SPAN + 1).fill(false);
  for (const r of ranges) for (let i = r.startSector; i < r.startSector + r.sectorCount; i++) on[i] = true;
  const out: Region[] = [];
  for (let i = 0; i < SPAN; i++) {
    if (!on[i]) continue;
    let j = i;
    while (on[j]) j++;
    out.push({ startSector: i, sectorCount: j - i });
    i = j;
  }
  return out;
}

describe("normalize", () => {
  it("sorts, merges and drops empty ranges of any list (property)", () => {
    fc.assert(fc.property(anyRanges, (rs) => {
      const before = JSON.stringify(rs);
      expect(normalize(rs)).toEqual(runsOf(rs));
      expect(JSON.stringify(rs)).toBe(before);
    }), { numRuns: 500 });
  });

  it("drops empty ranges, merges touching ones and takes them in any order", () => {
    expect(normalize([{ startSector: 7, sectorCount: 0 }])).toEqual([]);
    expect(normalize([{ startSector: 30, sectorCount: 5 }, { startSector: 9, sectorCount: 0 }, { startSector: 10, sectorCount: 3 }, { startSector: 2, sectorCount: 8 }])).toEqual([{ startSector: 2, sectorCount: 11 }, { startSector: 30, sectorCount: 5 }]);
    expect(normalize([{ startSector: 50, sectorCount: 1 }, { startSector: 40, sectorCount: 1 }, { startSector: 45, sectorCount: 1 }, { startSector: 41, sectorCount: 2 }])).toEqual([{ startSector: 40, sectorCount: 3 }, { startSector: 45, sectorCount: 1 }, { startSector: 50, sectorCount: 1 }]);
  });
});

describe("pushRange", () => {
  it("appends apart, merges touching and overlapping, ignores empty, and refuses a start before the last one's", () => {
    const out: Region[] = [];
    pushRange(out, 10, 5);
    pushRange(out, 15, 2);
    pushRange(out, 12, 2);
    pushRange(out, 16, 4);
    pushRange(out, 30, 0);
    pushRange(out, 30, -3);
    pushRange(out, 25, 1);
    expect(out).toEqual([{ startSector: 10, sectorCount: 10 }, { startSector: 25, sectorCount: 1 }]);
    expect(() => pushRange(out, 24, 3)).toThrow("pushRange: 24 is before 25");
    expect(out).toEqual([{ startSector: 10, sectorCount: 10 }, { startSector: 25, sectorCount: 1 }]);
  });
});

describe("firstEndingAfter", () => {
  it("finds the first range that ends after a sector, as a scan would (property)", () => {
    fc.assert(fc.property(anyRanges.map(normalize), fc.integer({ min: -1, max: SPAN + 1 }), (rs, sector) => {
      const scan = rs.findIndex((r) => r.startSector + r.sectorCount > sector);
      expect(firstEndingAfter(rs, sector)).toBe(scan === -1 ? rs.length : scan);
    }), { numRuns: 500 });
  });

  it("passes a range that ends at the sector, and stops at one that holds it", () => {
    const rs = [{ startSector: 0, sectorCount: 4 }, { startSector: 6, sectorCount: 2 }, { startSector: 10, sectorCount: 5 }];
    expect([3, 4, 5, 7, 8, 9, 10, 14, 15].map((s) => firstEndingAfter(rs, s))).toEqual([0, 1, 1, 1, 2, 2, 2, 2, 3]);
  });
});

/** A normal list of `n` one-sector ranges two sectors apart, and a count of the entries read. */
function counted(n: number, offset = 0): { list: Region[]; reads: () => number } {
  const base = Array.from({ length: n }, (_, i) => ({ startSector: offset + 2 * i, sectorCount: 1 }));
  let reads = 0;
  const list = new Proxy(base, {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  return { list, reads: () => reads };
}

describe("the cost of clip and subtract", () => {
  it("clip reads about log n ranges plus the ones it returns", () => {
    const { list, reads } = counted(4096);
    expect(clip(list, 4000, 4010)).toEqual([4000, 4002, 4004, 4006, 4008].map((s) => ({ startSector: s, sectorCount: 1 })));
    expect(reads()).toBeLessThanOrEqual(2 * 13 + 2 * 5 + 4);
  });

  it("subtract reads each list about once, however many ranges the second has", () => {
    const a = counted(1000);
    const b = counted(1000, 1);
    expect(subtract(a.list, b.list)).toHaveLength(1000);
    expect(b.reads()).toBeLessThanOrEqual(6 * 1000);
  });
});
