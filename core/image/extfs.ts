import { SECTOR_BYTES, type Region } from "./format.js";
import { pushRange } from "./ranges.js";

/**
 * Which blocks an ext2/3/4 file system uses, from its superblock, group descriptors and block
 * bitmaps, as the original's `imagezip -l` reads them (extfs.c): a block is in use when its bit is
 * set; the blocks before `s_first_data_block` (the boot block) are in use. Reads go through a
 * synchronous port; core does no I/O itself.
 */
export interface DiskReader {
  readonly sizeBytes: number;
  /** Exactly `length` bytes at `offsetBytes` (the caller stays inside `sizeBytes`). */
  read(offsetBytes: number, length: number): Uint8Array;
}

export const EXT_SUPERBLOCK_OFFSET = 1024;
export const EXT_SUPER_MAGIC = 0xef53;
/** Groups read at most; 2^20 groups of 32768 4 KiB blocks is 128 TiB, past any image. */
export const EXT_GROUPS_MAX = 1 << 20;
const SB = { blocksLo: 4, freeBlocksLo: 12, firstDataBlock: 20, logBlockSize: 24, blocksPerGroup: 32, magic: 56, featureCompat: 92, featureIncompat: 96, featureRoCompat: 100, descSize: 254, blocksHi: 336 } as const;
const COMPAT_HAS_JOURNAL = 0x4;
const INCOMPAT_META_BG = 0x10;
const INCOMPAT_EXTENTS = 0x40;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_FLEX_BG = 0x200;
const RO_COMPAT_GDT_CSUM = 0x10;
const RO_COMPAT_BIGALLOC = 0x200;
const RO_COMPAT_METADATA_CSUM = 0x400;
const BG_BLOCK_UNINIT = 0x2;

export type ExtKind = "ext2" | "ext3" | "ext4";

export interface ExtAllocation {
  kind: ExtKind;
  blockBytes: number;
  blocks: number;
  usedBlocks: number;
  /** In-use ranges in absolute disk sectors (normal), inside [fsStart, fsStart + blocks). */
  inUse: Region[];
  /** Groups whose bitmap disagrees with their free count (the original warns too). */
  warnings: string[];
}

function u16(b: Uint8Array, at: number): number {
  return (b[at] as number) | ((b[at + 1] as number) << 8);
}
function u32(b: Uint8Array, at: number): number {
  return ((b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16)) + (b[at + 3] as number) * 0x100_0000;
}

/** Whether an ext superblock's magic is at the area's byte 1024+56. */
export function hasExtMagic(reader: DiskReader, areaStartBytes: number, areaBytes: number): boolean {
  if (areaBytes < EXT_SUPERBLOCK_OFFSET * 2) return false;
  return u16(reader.read(areaStartBytes + EXT_SUPERBLOCK_OFFSET + SB.magic, 2), 0) === EXT_SUPER_MAGIC;
}

interface Geometry {
  kind: ExtKind;
  blockBytes: number;
  blocks: number;
  firstDataBlock: number;
  blocksPerGroup: number;
  groups: number;
  descBytes: number;
  is64: boolean;
  uninitValid: boolean;
}

/** Reads the superblock; a reason string when the file system cannot be read block by block. */
function geometry(sb: Uint8Array, areaBytes: number): Geometry | string {
  if (u16(sb, SB.magic) !== EXT_SUPER_MAGIC) return "no ext2/3/4 superblock";
  const log = u32(sb, SB.logBlockSize);
  if (log > 6) return `block size 2^${10 + log} is outside 1 KiB to 64 KiB`;
  const blockBytes = 1024 << log;
  const incompat = u32(sb, SB.featureIncompat);
  const roCompat = u32(sb, SB.featureRoCompat);
  if ((incompat & INCOMPAT_META_BG) !== 0) return "meta_bg group descriptors are not read";
  if ((roCompat & RO_COMPAT_BIGALLOC) !== 0) return "bigalloc clusters are not read";
  const is64 = (incompat & INCOMPAT_64BIT) !== 0;
  const descBytes = is64 ? u16(sb, SB.descSize) : 32;
  if (descBytes < 32 || descBytes > 1024 || (descBytes & (descBytes - 1)) !== 0) return `group descriptor size ${descBytes} is not a power of two from 32 to 1024`;
  const blocks = u32(sb, SB.blocksLo) + (is64 ? u32(sb, SB.blocksHi) * 0x1_0000_0000 : 0);
  const firstDataBlock = u32(sb, SB.firstDataBlock);
  const blocksPerGroup = u32(sb, SB.blocksPerGroup);
  if (blocksPerGroup < 8 || blocksPerGroup > blockBytes * 8) return `${blocksPerGroup} blocks per group do not fit one ${blockBytes}-byte bitmap`;
  if (blocks * blockBytes > areaBytes) return `the file system's ${blocks} blocks of ${blockBytes} bytes overrun its ${areaBytes}-byte area`;
  if (firstDataBlock >= blocks || firstDataBlock > 1) return `first data block ${firstDataBlock} of ${blocks} blocks`;
  const groups = Math.ceil((blocks - firstDataBlock) / blocksPerGroup);
  if (groups > EXT_GROUPS_MAX) return `${groups} groups, more than ${EXT_GROUPS_MAX}`;
  const ext4 = (incompat & (INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG)) !== 0 || roCompat > 0x7;
  const kind: ExtKind = ext4 ? "ext4" : (u32(sb, SB.featureCompat) & COMPAT_HAS_JOURNAL) !== 0 ? "ext3" : "ext2";
  const uninitValid = (roCompat & (RO_COMPAT_GDT_CSUM | RO_COMPAT_METADATA_CSUM)) !== 0;
  return { kind, blockBytes, blocks, firstDataBlock, blocksPerGroup, groups, descBytes, is64, uninitValid };
}

/**
 * The in-use sectors of the ext file system at `areaStartBytes` (an area of `areaBytes`: a whole
 * disk or a partition), or a one-line reason it cannot be read that way (the caller falls back to
 * the raw mode and says so).
 */
export function extAllocation(reader: DiskReader, areaStartBytes: number, areaBytes: number): ExtAllocation | string {
  if (areaBytes < EXT_SUPERBLOCK_OFFSET * 2) return "too small for a file system";
  const g = geometry(reader.read(areaStartBytes + EXT_SUPERBLOCK_OFFSET, 1024), areaBytes);
  if (typeof g === "string") return g;
  const gdtAt = (g.firstDataBlock + 1) * g.blockBytes;
  const gdtBytes = g.groups * g.descBytes;
  if (gdtAt + gdtBytes > g.blocks * g.blockBytes) return `group descriptors (${gdtBytes} bytes) run past the file system`;
  const gdt = reader.read(areaStartBytes + gdtAt, gdtBytes);
  const sectorsPerBlock = g.blockBytes / SECTOR_BYTES;
  const base = areaStartBytes / SECTOR_BYTES;
  const inUse: Region[] = [];
  const warnings: string[] = [];
  let usedBlocks = g.firstDataBlock;
  pushRange(inUse, base, g.firstDataBlock * sectorsPerBlock);
  for (let i = 0; i < g.groups; i++) {
    const r = readGroup(reader, g, gdt.subarray(i * g.descBytes, (i + 1) * g.descBytes), i, areaStartBytes);
    if (typeof r === "string") return r;
    for (const [first, count] of r.runs) pushRange(inUse, base + first * sectorsPerBlock, count * sectorsPerBlock);
    usedBlocks += r.used;
    if (r.warning !== null) warnings.push(r.warning);
  }
  return { kind: g.kind, blockBytes: g.blockBytes, blocks: g.blocks, usedBlocks, inUse, warnings };
}

/** Runs of in-use blocks of one group, as [first block, count] in file-system block numbers. */
function readGroup(reader: DiskReader, g: Geometry, desc: Uint8Array, index: number, areaStartBytes: number): { runs: [number, number][]; used: number; warning: string | null } | string {
  const first = g.firstDataBlock + index * g.blocksPerGroup;
  const count = Math.min(g.blocksPerGroup, g.blocks - first);
  const freeCount = u16(desc, 12) + (g.is64 && g.descBytes >= 64 ? u16(desc, 44) * 0x1_0000 : 0);
  const flags = u16(desc, 18);
  if (g.uninitValid && (flags & BG_BLOCK_UNINIT) !== 0) {
    // An uninitialised bitmap: only the group's leading metadata (backup superblock and
    // descriptors) is in use; the free count says how much. The original skipped from the
    // group's start instead, which drops that metadata.
    const used = Math.max(0, count - Math.min(count, freeCount));
    return { runs: used > 0 ? [[first, used]] : [], used, warning: null };
  }
  const bitmapBlock = u32(desc, 0) + (g.is64 && g.descBytes >= 64 ? u32(desc, 32) * 0x1_0000_0000 : 0);
  if (bitmapBlock < g.firstDataBlock || bitmapBlock >= g.blocks) return `group ${index}: block bitmap at block ${bitmapBlock}, outside the file system`;
  const bitmap = reader.read(areaStartBytes + bitmapBlock * g.blockBytes, Math.ceil(count / 8));
  const runs = bitRuns(bitmap, count, first);
  let used = 0;
  for (const [, n] of runs) used += n;
  const warning = count - used !== freeCount ? `group ${index}: ${count - used} blocks free by the bitmap, ${freeCount} by the descriptor` : null;
  return { runs, used, warning };
}

/** Runs of set bits among the first `count` bits (LSB first), whole bytes of 0x00 or 0xff at once. */
function bitRuns(bitmap: Uint8Array, count: number, firstBlock: number): [number, number][] {
  const runs: [number, number][] = [];
  let runStart = -1;
  const close = (b: number): void => {
    if (runStart >= 0) runs.push([firstBlock + runStart, b - runStart]);
    runStart = -1;
  };
  let b = 0;
  while (b < count) {
    const byte = bitmap[b >>> 3] as number;
    if ((b & 7) === 0 && b + 8 <= count && (byte === 0 || byte === 0xff)) {
      if (byte === 0xff && runStart < 0) runStart = b;
      if (byte === 0) close(b);
      b += 8;
      continue;
    }
    if ((byte >>> (b & 7)) & 1) {
      if (runStart < 0) runStart = b;
    } else close(b);
    b++;
  }
  close(count);
  return runs;
}
