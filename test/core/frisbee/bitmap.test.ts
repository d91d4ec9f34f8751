import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BlockBitmap } from "../../../core/frisbee/bitmap.js";
import { BITMAP_BYTES, CHUNK_BLOCKS } from "../../../core/frisbee/constants.js";

function bitmapOf(blocks: Iterable<number>): BlockBitmap {
  const map = new BlockBitmap();
  for (const b of blocks) map.set(b);
  return map;
}

function blocksOf(map: BlockBitmap): number[] {
  const out: number[] = [];
  for (let b = 0; b < CHUNK_BLOCKS; b++) if (map.has(b)) out.push(b);
  return out;
}

const block = fc.integer({ min: 0, max: CHUNK_BLOCKS - 1 });
const blockSet = fc.uniqueArray(block, { maxLength: 200 });

describe("BlockBitmap", () => {
  it("starts empty, with 128 bytes for 1024 blocks", () => {
    const map = new BlockBitmap();
    expect(map.bytes).toHaveLength(BITMAP_BYTES);
    expect(BITMAP_BYTES).toBe(128);
    expect(map.count).toBe(0);
    expect(blocksOf(map)).toEqual([]);
  });

  it("refuses bytes that are not exactly 128", () => {
    expect(() => new BlockBitmap(new Uint8Array(127))).toThrow(/128 bytes/);
    expect(() => new BlockBitmap(new Uint8Array(129))).toThrow(/128 bytes/);
  });

  it("sets a block once, counting it once and reporting whether it was new", () => {
    const map = new BlockBitmap();
    expect(map.set(7)).toBe(true);
    expect(map.set(7)).toBe(false);
    expect(map.count).toBe(1);
    expect(map.has(7)).toBe(true);
    expect(map.has(6)).toBe(false);
    expect(map.has(8)).toBe(false);
  });

  it("clears a block, and clearing a clear block changes nothing", () => {
    const map = bitmapOf([3, 4, 1023]);
    map.clear(4);
    map.clear(4);
    map.clear(5);
    expect(map.count).toBe(2);
    expect(blocksOf(map)).toEqual([3, 1023]);
  });

  it("sets and clears ranges, and clears everything", () => {
    const map = new BlockBitmap();
    map.setRange(10, 20);
    expect(map.count).toBe(20);
    map.clearRange(15, 10);
    expect(blocksOf(map)).toEqual([10, 11, 12, 13, 14, 25, 26, 27, 28, 29]);
    map.clearAll();
    expect(map.count).toBe(0);
    expect(map.bytes.every((b) => b === 0)).toBe(true);
  });

  describe("wire layout", () => {
    it("keeps block n in bit n % 8 of byte n / 8, least significant bit first", () => {
      const map = bitmapOf([0, 9, 18, 1023]);
      expect(map.bytes[0]).toBe(0b0000_0001);
      expect(map.bytes[1]).toBe(0b0000_0010);
      expect(map.bytes[2]).toBe(0b0000_0100);
      expect(map.bytes[127]).toBe(0b1000_0000);
      expect(map.bytes.reduce((n, b) => n + [...b.toString(2)].filter((c) => c === "1").length, 0)).toBe(4);
    });

    it("reads bytes in the same layout and counts their bits", () => {
      const bytes = new Uint8Array(BITMAP_BYTES);
      bytes[0] = 0b1000_0001;
      bytes[100] = 0xff;
      const map = new BlockBitmap(bytes);
      expect(map.count).toBe(10);
      expect(blocksOf(map)).toEqual([0, 7, 800, 801, 802, 803, 804, 805, 806, 807]);
    });

    it("matches the layout for any set of blocks", () => {
      fc.assert(
        fc.property(blockSet, (blocks) => {
          const map = bitmapOf(blocks);
          for (let n = 0; n < CHUNK_BLOCKS; n++) {
            const bit = ((map.bytes[Math.floor(n / 8)] as number) >> n % 8) & 1;
            expect(bit).toBe(blocks.includes(n) ? 1 : 0);
          }
        }),
        { numRuns: 50 },
      );
    });
  });

  it("makes a full bitmap of a whole chunk or of a short last chunk", () => {
    expect(BlockBitmap.full().count).toBe(CHUNK_BLOCKS);
    const short = BlockBitmap.full(1000);
    expect(short.count).toBe(1000);
    expect(short.has(999)).toBe(true);
    expect(short.has(1000)).toBe(false);
  });

  describe("covers", () => {
    it("holds when every block of the other is set here", () => {
      expect(bitmapOf([1, 2, 3, 500]).covers(bitmapOf([2, 500]))).toBe(true);
      expect(bitmapOf([1, 2]).covers(new BlockBitmap())).toBe(true);
      expect(bitmapOf([1, 2]).covers(bitmapOf([1, 2]))).toBe(true);
    });

    it("fails when the other has a block this one lacks", () => {
      expect(bitmapOf([2, 500]).covers(bitmapOf([1, 2, 3, 500]))).toBe(false);
      expect(bitmapOf([0]).covers(bitmapOf([1023]))).toBe(false);
      expect(new BlockBitmap().covers(bitmapOf([7]))).toBe(false);
    });

    it("agrees with set inclusion", () => {
      fc.assert(
        fc.property(blockSet, blockSet, (a, b) => {
          const included = b.every((x) => a.includes(x));
          expect(bitmapOf(a).covers(bitmapOf(b))).toBe(included);
        }),
        { numRuns: 200 },
      );
    });
  });

  describe("or", () => {
    it("sets the union and counts it", () => {
      const map = bitmapOf([1, 2, 1023]);
      map.or(bitmapOf([2, 3, 64]));
      expect(blocksOf(map)).toEqual([1, 2, 3, 64, 1023]);
      expect(map.count).toBe(5);
    });

    it("agrees with set union for any two sets", () => {
      fc.assert(
        fc.property(blockSet, blockSet, (a, b) => {
          const map = bitmapOf(a);
          map.or(bitmapOf(b));
          const union = [...new Set([...a, ...b])].sort((x, y) => x - y);
          expect(blocksOf(map)).toEqual(union);
          expect(map.count).toBe(union.length);
        }),
        { numRuns: 200 },
      );
    });
  });

  describe("firstRun", () => {
    it("finds the first run of set blocks, across byte boundaries", () => {
      expect(bitmapOf([5, 6, 7, 8, 9, 20]).firstRun(32)).toEqual([5, 5]);
    });

    it("limits the run to the maximum length", () => {
      const map = BlockBitmap.full();
      expect(map.firstRun(32)).toEqual([0, 32]);
      expect(map.firstRun(32, 1000)).toEqual([1000, 24]);
    });

    it("starts looking at `from`, skipping empty bytes", () => {
      expect(bitmapOf([1, 300, 301]).firstRun(32, 2)).toEqual([300, 2]);
      expect(bitmapOf([1, 300, 301]).firstRun(32, 301)).toEqual([301, 1]);
    });

    it("returns length 0 when no block is set", () => {
      expect(new BlockBitmap().firstRun(32)).toEqual([0, 0]);
      expect(bitmapOf([10]).firstRun(32, 11)).toEqual([0, 0]);
    });

    it("ends a run at the last block of the chunk", () => {
      expect(bitmapOf([1021, 1022, 1023]).firstRun(32)).toEqual([1021, 3]);
    });

    it("agrees with a scan of the blocks", () => {
      fc.assert(
        fc.property(blockSet, fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0, max: CHUNK_BLOCKS - 1 }), (blocks, maxLength, from) => {
          const set = new Set(blocks);
          let first = from;
          while (first < CHUNK_BLOCKS && !set.has(first)) first++;
          let expected: [number, number] = [0, 0];
          if (first < CHUNK_BLOCKS) {
            let length = 0;
            while (length < maxLength && set.has(first + length)) length++;
            expected = [first, length];
          }
          expect(bitmapOf(blocks).firstRun(maxLength, from)).toEqual(expected);
        }),
        { numRuns: 300 },
      );
    });
  });

  describe("missing", () => {
    it("is every block of a whole chunk not yet set", () => {
      const missing = bitmapOf([0, 2, 1023]).missing();
      expect(missing.count).toBe(CHUNK_BLOCKS - 3);
      expect(missing.has(0)).toBe(false);
      expect(missing.has(1)).toBe(true);
      expect(missing.has(1023)).toBe(false);
    });

    it("stops at the end of a short last chunk, whatever the bits beyond it", () => {
      const have = bitmapOf([0, 500, 998]);
      const missing = have.missing(999);
      expect(missing.count).toBe(999 - 3);
      expect(missing.has(997)).toBe(true);
      expect(missing.has(998)).toBe(false);
      for (let b = 999; b < CHUNK_BLOCKS; b++) expect(missing.has(b)).toBe(false);
    });

    it("is empty for a short chunk that is complete", () => {
      expect(BlockBitmap.full(1000).missing(1000).count).toBe(0);
      expect(BlockBitmap.full(5).missing(5).count).toBe(0);
    });

    it("is the complement within the chunk's blocks for any set and any chunk length", () => {
      fc.assert(
        fc.property(blockSet, fc.integer({ min: 1, max: CHUNK_BLOCKS }), (blocks, length) => {
          const missing = bitmapOf(blocks).missing(length);
          const expected: number[] = [];
          for (let b = 0; b < length; b++) if (!blocks.includes(b)) expected.push(b);
          expect(blocksOf(missing)).toEqual(expected);
          expect(missing.count).toBe(expected.length);
        }),
        { numRuns: 200 },
      );
    });
  });

  it("uses bytes at a 4-byte boundary as its storage and copies others, counting, OR-ing and covering alike", () => {
    const buffer = new Uint8Array(BITMAP_BYTES + 4);
    for (const offset of [0, 1, 2, 3, 4]) {
      const bytes = buffer.subarray(offset, offset + BITMAP_BYTES);
      bytes.fill(0);
      bytes[0] = 0b101;
      bytes[127] = 0x80;
      const map = new BlockBitmap(bytes);
      expect(map.count).toBe(3);
      expect(map.bytes === bytes).toBe(offset % 4 === 0);
      const other = bitmapOf([1, 500]);
      expect(map.covers(other)).toBe(false);
      map.or(other);
      expect(map.count).toBe(5);
      expect([0, 1, 2, 500, 1023].every((b) => map.has(b))).toBe(true);
      expect(map.covers(other) && other.covers(bitmapOf([500]))).toBe(true);
      expect(new BlockBitmap(bytes.slice()).covers(map)).toBe(offset % 4 === 0);
    }
  });

  it("copies without sharing bytes", () => {
    const map = bitmapOf([4]);
    const copy = map.copy();
    copy.set(5);
    expect(map.has(5)).toBe(false);
    expect(copy.count).toBe(2);
  });
});
