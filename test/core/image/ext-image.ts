/**
 * ext2/3/4 file systems built byte by byte for the core/image tests (extfs.test.ts reads their
 * free-block maps, layout-tables.test.ts puts them in partitions): the superblock fields imagezip -l
 * reads, 32- and 64-byte group descriptors, block bitmaps and uninitialised groups.
 */

export interface Group {
  /** In-use bits of the group's blocks, LSB first; also what is written to its bitmap. */
  bits?: boolean[];
  /** The descriptor's free count (default: what the bits say). */
  free?: number;
  flags?: number;
  /** Where the bitmap is (default: a block near the end). */
  bitmapBlock?: number;
}

export interface Fs {
  logBlockSize?: number;
  blocks: number;
  blocksPerGroup: number;
  firstDataBlock?: number;
  compat?: number;
  incompat?: number;
  roCompat?: number;
  descSize?: number;
  blocksHi?: number;
  groups: Group[];
  /** Bytes of the area (default: the file system's). */
  areaBytes?: number;
  /** Extra descriptor bytes to set: [group, offset, value]. */
  descBytes?: [number, number, number][];
  magic?: number;
}

export const put16 = (b: Uint8Array, at: number, v: number): void => {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
};
export const put32 = (b: Uint8Array, at: number, v: number): void => {
  put16(b, at, v & 0xffff);
  put16(b, at + 2, Math.floor(v / 0x10000) & 0xffff);
};

/** An area holding the file system, and where each group's bitmap went. */
export function makeFs(f: Fs): Uint8Array {
  const blockBytes = 1024 << (f.logBlockSize ?? 0);
  const firstDataBlock = f.firstDataBlock ?? (blockBytes === 1024 ? 1 : 0);
  const area = new Uint8Array(f.areaBytes ?? f.blocks * blockBytes);
  const sb = area.subarray(1024, 2048);
  put32(sb, 4, f.blocks);
  put32(sb, 20, firstDataBlock);
  put32(sb, 24, f.logBlockSize ?? 0);
  put32(sb, 32, f.blocksPerGroup);
  put16(sb, 56, f.magic ?? 0xef53);
  put32(sb, 92, f.compat ?? 0);
  put32(sb, 96, f.incompat ?? 0);
  put32(sb, 100, f.roCompat ?? 0);
  put16(sb, 254, f.descSize ?? 0);
  put32(sb, 336, f.blocksHi ?? 0);
  const is64 = ((f.incompat ?? 0) & 0x80) !== 0;
  const desc = is64 ? (f.descSize ?? 32) : 32;
  const gdtAt = (firstDataBlock + 1) * blockBytes;
  f.groups.forEach((g, i) => {
    const d = area.subarray(gdtAt + i * desc, gdtAt + (i + 1) * desc);
    const bitmapBlock = g.bitmapBlock ?? f.blocks - 1 - i;
    put32(d, 0, bitmapBlock);
    const bits = g.bits ?? [];
    put16(d, 12, g.free ?? bits.filter((b) => !b).length);
    put16(d, 18, g.flags ?? 0);
    if (bitmapBlock < f.blocks && g.bits !== undefined) {
      const bitmap = area.subarray(bitmapBlock * blockBytes, (bitmapBlock + 1) * blockBytes);
      bits.forEach((b, k) => {
        if (b) bitmap[k >>> 3]! |= 1 << (k & 7);
      });
    }
  });
  for (const [g, at, v] of f.descBytes ?? []) area[gdtAt + g * desc + at] = v;
  return area;
}
