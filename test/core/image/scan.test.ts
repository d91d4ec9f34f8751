import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allocatedRanges } from "../../../core/image/scan.js";
import type { Region } from "../../../core/image/format.js";

const S = 512;

/** The plain definition, byte by byte: blocks aligned to absolute offsets, allocated unless all zero. */
function reference(data: Uint8Array, startByte: number, granularityBytes: number, firstBlockAllocated: boolean): Region[] {
  const ranges: Region[] = [];
  for (let at = 0; at < data.length; ) {
    const end = Math.min(data.length, at + granularityBytes - ((startByte + at) % granularityBytes));
    const cut = at === 0 && startByte % granularityBytes !== 0;
    const allocated = (cut && firstBlockAllocated) || data.subarray(at, end).some((b) => b !== 0);
    const last = ranges.at(-1);
    if (allocated && last !== undefined && (last.startSector + last.sectorCount) * S === startByte + at) last.sectorCount += (end - at) / S;
    else if (allocated) ranges.push({ startSector: (startByte + at) / S, sectorCount: (end - at) / S });
    at = end;
  }
  return ranges;
}

/** The same bytes at a byte offset that is not a multiple of 4, so the word-at-a-time path cannot be used. */
function unaligned(data: Uint8Array, shift: number): Uint8Array {
  const backing = new Uint8Array(data.length + shift);
  backing.set(data, shift);
  return backing.subarray(shift);
}

describe("allocatedRanges", () => {
  it("finds the runs of non-zero blocks, in absolute sectors", () => {
    const data = new Uint8Array(16 * S);
    data[0] = 1; // block 0 (sectors 0-7 at 4096)
    data[9 * S + 511] = 1; // last byte of sector 9
    expect(allocatedRanges(data, 0, 4096)).toEqual([{ startSector: 0, sectorCount: 16 }]);
    expect(allocatedRanges(data, 0, 512)).toEqual([{ startSector: 0, sectorCount: 1 }, { startSector: 9, sectorCount: 1 }]);
    expect(allocatedRanges(data, 1024 * S, 512)).toEqual([{ startSector: 1024, sectorCount: 1 }, { startSector: 1033, sectorCount: 1 }]);
  });

  it("judges a block cut by the window's start by firstBlockAllocated, and a whole first block by its bytes", () => {
    const data = new Uint8Array(8 * S); // all zero
    expect(allocatedRanges(data, 2 * S, 4096, true)).toEqual([{ startSector: 2, sectorCount: 6 }]);
    expect(allocatedRanges(data, 2 * S, 4096, false)).toEqual([]);
    expect(allocatedRanges(data, 8 * S, 4096, true)).toEqual([]);
  });

  it("gives the same answer when the bytes do not start at a multiple of 4 (the byte-at-a-time path)", () => {
    const data = new Uint8Array(24 * S);
    data[3 * S + 2] = 9;
    data[20 * S] = 1;
    for (const shift of [1, 2, 3]) {
      const view = unaligned(data, shift);
      expect(view.byteOffset % 4).not.toBe(0);
      expect(allocatedRanges(view, 0, 512)).toEqual([{ startSector: 3, sectorCount: 1 }, { startSector: 20, sectorCount: 1 }]);
      expect(allocatedRanges(view, 0, 4096)).toEqual([{ startSector: 0, sectorCount: 8 }, { startSector: 16, sectorCount: 8 }]);
    }
  });

  it("agrees with the byte-by-byte definition on any bytes, window start and alignment", () => {
    const arb = fc.record({
      sectors: fc.integer({ min: 1, max: 40 }),
      startSector: fc.integer({ min: 0, max: 20 }),
      granularityBytes: fc.constantFrom(512, 4096),
      firstBlockAllocated: fc.boolean(),
      shift: fc.integer({ min: 0, max: 3 }),
      nonZero: fc.array(fc.nat(), { maxLength: 6 }),
    });
    fc.assert(
      fc.property(arb, (c) => {
        const data = new Uint8Array(c.sectors * S);
        for (const n of c.nonZero) data[n % data.length] = 1 + (n % 255);
        const want = reference(data, c.startSector * S, c.granularityBytes, c.firstBlockAllocated);
        expect(allocatedRanges(unaligned(data, c.shift), c.startSector * S, c.granularityBytes, c.firstBlockAllocated)).toEqual(want);
      }),
      { numRuns: 300, seed: 20 },
    );
  });

  it("refuses data or a start that is not whole sectors, and a granularity that is not", () => {
    expect(() => allocatedRanges(new Uint8Array(100), 0, 512)).toThrow(/whole sectors/);
    expect(() => allocatedRanges(new Uint8Array(S), 1, 512)).toThrow(/whole sectors/);
    expect(() => allocatedRanges(new Uint8Array(S), 0, 1000)).toThrow(/bad granularity 1000/);
    expect(() => allocatedRanges(new Uint8Array(S), 0, 0)).toThrow(/bad granularity 0/);
  });
});
