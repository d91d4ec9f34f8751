import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clip, covers, intersect, normalize, subtract, totalSectors, union, type Region } from "../../../core/image/index.js";

const SPAN = 200;
const ranges = fc.array(fc.tuple(fc.nat(SPAN - 1), fc.integer({ min: 0, max: 30 })), { maxLength: 12 }).map((pairs) => normalize(pairs.map(([s, n]) => ({ startSector: s, sectorCount: Math.min(n, SPAN - s) }))));

const bits = (rs: readonly Region[]): boolean[] => {
  const b = new Array<boolean>(SPAN).fill(false);
  for (const r of rs) for (let i = r.startSector; i < r.startSector + r.sectorCount; i++) b[i] = true;
  return b;
};
const fromBits = (b: readonly boolean[]): Region[] => normalize(b.flatMap((v, i) => (v ? [{ startSector: i, sectorCount: 1 }] : [])));
const isNormal = (rs: readonly Region[]): boolean => rs.every((r, i) => r.sectorCount > 0 && (i === 0 || r.startSector > rs[i - 1]!.startSector + rs[i - 1]!.sectorCount));

describe("range sets agree with a bit-per-sector model", () => {
  it.each([
    ["union", union, (a: boolean, b: boolean) => a || b],
    ["intersect", intersect, (a: boolean, b: boolean) => a && b],
    ["subtract", subtract, (a: boolean, b: boolean) => a && !b],
  ] as const)("%s", (_name, op, model) => {
    fc.assert(fc.property(ranges, ranges, (a, b) => {
      const got = op(a, b);
      expect(isNormal(got)).toBe(true);
      const ba = bits(a);
      const bb = bits(b);
      expect(got).toEqual(fromBits(ba.map((v, i) => model(v, bb[i]!))));
    }), { numRuns: 500 });
  });

  it("clip, covers and totals", () => {
    fc.assert(fc.property(ranges, fc.nat(SPAN), fc.nat(SPAN), (a, x, y) => {
      const [s, e] = x <= y ? [x, y] : [y, x];
      expect(clip(a, s, e)).toEqual(intersect(a, e > s ? [{ startSector: s, sectorCount: e - s }] : []));
      if (e > s) expect(covers(a, { startSector: s, sectorCount: e - s })).toBe(bits(a).slice(s, e).every(Boolean));
      expect(totalSectors(a)).toBe(bits(a).filter(Boolean).length);
    }), { numRuns: 500 });
  });
});
