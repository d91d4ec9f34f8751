import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EXT_GROUPS_MAX, extAllocation, hasExtMagic, type DiskReader, type ExtAllocation, type Region } from "../../../core/image/index.js";
import { makeFs, put32, type Fs, type Group } from "./ext-image.js";

/*
 * The free-block map of ext2/3/4 on file systems built here byte by byte: the superblock fields
 * imagezip -l reads, 32- and 64-byte group descriptors, block bitmaps and uninitialised groups.
 * (test/core/image/layout.test.ts checks a real ext2 made by mke2fs against the original's image.)
 */

const S = 512;

/** The area at `offsetBytes` of a larger disk (the reads must add the area's start). */
function readerAt(area: Uint8Array, offsetBytes: number): DiskReader {
  const disk = new Uint8Array(offsetBytes + area.length);
  disk.set(area, offsetBytes);
  return { sizeBytes: disk.length, read: (o, l) => disk.subarray(o, o + l) };
}

const alloc = (f: Fs, offsetBytes = 0): ExtAllocation | string => {
  const area = makeFs(f);
  return extAllocation(readerAt(area, offsetBytes), offsetBytes, f.areaBytes ?? area.length);
};

/** The expected in-use sectors: bit by bit, then merged. */
function expectedInUse(firstDataBlock: number, blocksPerGroup: number, groups: boolean[][], sectorsPerBlock: number, baseSector: number): Region[] {
  const used: number[] = [];
  for (let b = 0; b < firstDataBlock; b++) used.push(b);
  groups.forEach((bits, g) => bits.forEach((on, k) => on && used.push(firstDataBlock + g * blocksPerGroup + k)));
  const out: Region[] = [];
  for (const b of used) {
    const start = baseSector + b * sectorsPerBlock;
    const last = out[out.length - 1];
    if (last !== undefined && last.startSector + last.sectorCount === start) last.sectorCount += sectorsPerBlock;
    else out.push({ startSector: start, sectorCount: sectorsPerBlock });
  }
  return out;
}

/** 1 KiB blocks (the boot block first), 16 per group; the bitmaps in the last blocks. */
const small = (groups: Group[], more: Partial<Fs> = {}): Fs => ({ blocks: 1 + 16 * groups.length, blocksPerGroup: 16, groups, ...more });

describe("ext2/3/4 free-block maps", () => {
  it("finds every set bit of every group's bitmap, in disk sectors, at any area start (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }), { minLength: 1, maxLength: 4 }),
        fc.constantFrom(0, 4096, 1 << 20),
        fc.integer({ min: 0, max: 2 }),
        (groups, offsetBytes, log) => {
          const blockBytes = 1024 << log;
          const firstDataBlock = log === 0 ? 1 : 0;
          // The bitmaps sit in the last blocks; what their own bits say does not matter to the reader.
          const f: Fs = { logBlockSize: log, blocks: firstDataBlock + 16 * groups.length, blocksPerGroup: 16, groups: groups.map((bits) => ({ bits })) };
          const r = alloc(f, offsetBytes);
          if (typeof r === "string") throw new Error(r);
          expect(r.blockBytes).toBe(blockBytes);
          expect(r.blocks).toBe(f.blocks);
          expect(r.inUse).toEqual(expectedInUse(firstDataBlock, 16, groups, blockBytes / S, offsetBytes / S));
          expect(r.usedBlocks).toBe(firstDataBlock + groups.flat().filter((b) => b).length);
          expect(r.warnings).toEqual([]);
        },
      ),
    );
  });

  it("reads whole bytes of 0x00 and 0xff and partial bytes alike, and no bit past the group's last block", () => {
    // Group 0: 16 bits = 0xff, 0x00; group 1 (the last, 9 blocks): 0xf0 then bit 8 set, bits past it set too.
    const bits0 = [...Array<boolean>(8).fill(true), ...Array<boolean>(8).fill(false)];
    const f: Fs = { blocks: 1 + 16 + 9, blocksPerGroup: 16, groups: [{ bits: bits0, bitmapBlock: 20 }, { bitmapBlock: 21, free: 4 }] };
    const area = makeFs(f);
    area.set([0xf0, 0xff, 0xff], 21 * 1024);
    const r = extAllocation(readerAt(area, 0), 0, area.length) as ExtAllocation;
    // Boot block 0; group 0's blocks 1-8; group 1's blocks 17+4..17+8 (bit 8 is its last block).
    expect(r.inUse).toEqual([
      { startSector: 0, sectorCount: 2 * 9 },
      { startSector: 2 * 21, sectorCount: 2 * 5 },
    ]);
    expect(r.usedBlocks).toBe(1 + 8 + 5);
    expect(r.warnings).toEqual([]);
  });

  it("names a group whose bitmap and free count disagree (as the original warns), and keeps the bitmap", () => {
    const r = alloc(small([{ bits: [true, true, ...Array<boolean>(14).fill(false)], free: 3 }])) as ExtAllocation;
    expect(r.warnings).toEqual(["group 0: 14 blocks free by the bitmap, 3 by the descriptor"]);
    expect(r.usedBlocks).toBe(3);
  });

  it("tells ext2, ext3 (a journal) and ext4 (extents, 64-bit, flex_bg or a newer read-only feature) apart", () => {
    const kind = (more: Partial<Fs>): string => (alloc(small([{ bits: [] }], more)) as ExtAllocation).kind;
    expect(kind({})).toBe("ext2");
    expect(kind({ compat: 0x4 })).toBe("ext3");
    expect(kind({ compat: 0x3 })).toBe("ext2");
    expect(kind({ incompat: 0x40 })).toBe("ext4");
    expect(kind({ incompat: 0x200, compat: 0x4 })).toBe("ext4");
    expect(kind({ incompat: 0x80, descSize: 64 })).toBe("ext4");
    expect(kind({ roCompat: 0x8 })).toBe("ext4");
    expect(kind({ roCompat: 0x7, compat: 0x4 })).toBe("ext3");
  });

  it("reads an uninitialised group's leading metadata from its free count, only when group checksums make the flag valid", () => {
    // Bitmap block 2000 is outside the file system: an uninitialised group's bitmap is not read.
    const uninit = (roCompat: number, free: number): ExtAllocation | string => alloc(small([{ flags: 0x2, free, bitmapBlock: 2000 }], { roCompat }));
    expect((uninit(0x10, 12) as ExtAllocation).inUse).toEqual([{ startSector: 0, sectorCount: 2 * (1 + 4) }]);
    expect((uninit(0x400, 12) as ExtAllocation).usedBlocks).toBe(1 + 4);
    expect((uninit(0x10, 16) as ExtAllocation).inUse).toEqual([{ startSector: 0, sectorCount: 2 }]);
    expect((uninit(0x10, 40) as ExtAllocation).usedBlocks).toBe(1);
    // Without group checksums the flag means nothing: the bitmap is read (and here it is outside).
    expect(uninit(0x1, 12)).toBe("group 0: block bitmap at block 2000, outside the file system");
    // Flag 0x1 (inode bitmap uninitialised) is not the block bitmap's.
    expect(alloc(small([{ flags: 0x1, free: 12, bitmapBlock: 2000 }], { roCompat: 0x10 }))).toBe("group 0: block bitmap at block 2000, outside the file system");
  });

  it("reads the 64-bit descriptor's high halves (bitmap block, free count) only from 64-byte descriptors", () => {
    const bits = [true, ...Array<boolean>(15).fill(false)];
    const fs64 = (descSize: number, descBytes: [number, number, number][]): ExtAllocation | string => alloc(small([{ bits }], { incompat: 0x80, descSize, descBytes }));
    expect((fs64(64, []) as ExtAllocation).usedBlocks).toBe(2);
    expect(fs64(64, [[0, 32, 1]])).toBe(`group 0: block bitmap at block ${2 ** 32 + 16}, outside the file system`);
    expect((fs64(64, [[0, 44, 1]]) as ExtAllocation).warnings).toEqual([`group 0: 15 blocks free by the bitmap, ${65536 + 15} by the descriptor`]);
    // A 32-byte 64-bit descriptor has no high halves.
    expect((fs64(32, [[0, 32, 1]]) as ExtAllocation).usedBlocks).toBe(2);
    // The block count's high half, 64-bit only.
    expect(alloc(small([{ bits }], { incompat: 0x80, descSize: 64, blocksHi: 1 }))).toMatch(new RegExp(`^the file system's ${2 ** 32 + 17} blocks of 1024 bytes overrun`));
    expect((alloc(small([{ bits }], { blocksHi: 1 })) as ExtAllocation).blocks).toBe(17);
  });

  it("refuses, in one line, what it cannot read block by block", () => {
    const g = [{ bits: [] }];
    expect(extAllocation(readerAt(makeFs(small(g)), 0), 0, 2047)).toBe("too small for a file system");
    expect(alloc(small(g, { magic: 0xef52 }))).toBe("no ext2/3/4 superblock");
    expect(alloc(small(g, { logBlockSize: 7, areaBytes: 64 * 1024 }))).toBe("block size 2^17 is outside 1 KiB to 64 KiB");
    expect(alloc(small(g, { incompat: 0x10 }))).toBe("meta_bg group descriptors are not read");
    expect(alloc(small(g, { roCompat: 0x200 }))).toBe("bigalloc clusters are not read");
    for (const size of [16, 48, 2048]) expect(alloc(small(g, { incompat: 0x80, descSize: size }))).toBe(`group descriptor size ${size} is not a power of two from 32 to 1024`);
    expect(typeof alloc(small(g, { incompat: 0x80, descSize: 1024 }))).toBe("object");
    expect(alloc({ blocks: 40, blocksPerGroup: 7, groups: g })).toBe("7 blocks per group do not fit one 1024-byte bitmap");
    expect(alloc({ blocks: 40, blocksPerGroup: 8193, groups: g })).toBe("8193 blocks per group do not fit one 1024-byte bitmap");
    expect(typeof alloc({ blocks: 40, blocksPerGroup: 8192, groups: g })).toBe("object");
    expect(typeof alloc({ blocks: 40, blocksPerGroup: 8, groups: [{}, {}, {}, {}, {}] })).toBe("object");
    expect(alloc({ ...small(g), areaBytes: 17 * 1024 - 1 })).toBe("the file system's 17 blocks of 1024 bytes overrun its 17407-byte area");
    expect(typeof alloc({ ...small(g), areaBytes: 17 * 1024 })).toBe("object");
    expect(alloc(small(g, { firstDataBlock: 2 }))).toBe("first data block 2 of 17 blocks");
    expect(alloc({ logBlockSize: 2, blocks: 1, blocksPerGroup: 8, firstDataBlock: 1, groups: [] })).toBe("first data block 1 of 1 blocks");
    expect(alloc({ logBlockSize: 2, blocks: 1, blocksPerGroup: 8, groups: [] })).toBe("group descriptors (32 bytes) run past the file system");
    expect(alloc(small([{ bitmapBlock: 17 }]))).toBe("group 0: block bitmap at block 17, outside the file system");
    expect(typeof alloc(small([{ bitmapBlock: 16 }]))).toBe("object");
    expect(typeof alloc(small([{ bitmapBlock: 1 }]))).toBe("object");
    expect(alloc(small([{ bitmapBlock: 0 }]))).toBe("group 0: block bitmap at block 0, outside the file system");
  });

  it("keeps a run open across whole bytes of ones and closes it at a whole byte of zeros", () => {
    const bit = (...on: number[]): boolean[] => Array.from({ length: 16 }, (_, k) => on.includes(k));
    const run = (bits: boolean[]): ExtAllocation => alloc(small([{ bits }])) as ExtAllocation;
    // Bit 7 then a byte of 0xff: one run of 9 blocks from block 1 + 7.
    expect(run(bit(7, 8, 9, 10, 11, 12, 13, 14, 15)).inUse).toEqual([{ startSector: 0, sectorCount: 2 }, { startSector: 2 * 8, sectorCount: 2 * 9 }]);
    // Bit 7 then a byte of zeros: a run of one block.
    expect(run(bit(7)).inUse).toEqual([{ startSector: 0, sectorCount: 2 }, { startSector: 2 * 8, sectorCount: 2 }]);
  });

  it("takes the smallest file system (2 KiB, 2 blocks) and 64 KiB blocks, and reads all four bytes of a field", () => {
    const tiny = makeFs({ blocks: 2, blocksPerGroup: 8, firstDataBlock: 0, groups: [{}] });
    expect(typeof extAllocation(readerAt(tiny, 0), 0, 2048)).toBe("object");
    expect(alloc({ logBlockSize: 6, blocks: 1, blocksPerGroup: 8, groups: [] })).toBe("group descriptors (32 bytes) run past the file system");
    expect(alloc(small([{ bitmapBlock: 0x0100_0000 }]))).toBe("group 0: block bitmap at block 16777216, outside the file system");
  });

  it(`refuses more than ${EXT_GROUPS_MAX} groups before reading their descriptors`, () => {
    const blocks = 8 * EXT_GROUPS_MAX + 1;
    const sb = makeFs({ blocks: 24, blocksPerGroup: 8, firstDataBlock: 0, groups: [] });
    put32(sb.subarray(1024), 4, blocks);
    const reader: DiskReader = { sizeBytes: blocks * 1024, read: (o, l) => (o + l <= sb.length ? sb.subarray(o, o + l) : new Uint8Array(l)) };
    expect(extAllocation(reader, 0, blocks * 1024)).toBe(`${EXT_GROUPS_MAX + 1} groups, more than ${EXT_GROUPS_MAX}`);
  });

  it("sees the magic at the area's byte 1080 only in an area of at least 2 KiB", () => {
    const area = makeFs(small([{ bits: [] }]));
    expect(hasExtMagic(readerAt(area, 4096), 4096, area.length)).toBe(true);
    expect(hasExtMagic(readerAt(area, 4096), 4096, 2048)).toBe(true);
    expect(hasExtMagic(readerAt(area, 4096), 4096, 2047)).toBe(false);
    expect(hasExtMagic(readerAt(area, 4096), 0, area.length)).toBe(false);
    area[1080] = 0x52;
    expect(hasExtMagic(readerAt(area, 0), 0, area.length)).toBe(false);
  });
});
