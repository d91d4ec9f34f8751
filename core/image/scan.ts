import { SECTOR_BYTES, type Region } from "./format.js";

/** Free-space granularities `image create` accepts: one sector, or a 4 KiB file-system block. */
export const GRANULARITIES_BYTES: readonly number[] = [512, 4096];

function zeroBlock(data: Uint8Array, words: Uint32Array | null, from: number, to: number): boolean {
  if (words !== null && (from & 3) === 0 && (to & 3) === 0) {
    let i = from >>> 2;
    const end = to >>> 2;
    // Eight words at a time, or-ed: a third of a disk is zeros, and this loop reads all of them.
    for (const end8 = end - 7; i < end8; i += 8) {
      if ((words[i]! | words[i + 1]! | words[i + 2]! | words[i + 3]! | words[i + 4]! | words[i + 5]! | words[i + 6]! | words[i + 7]!) !== 0) return false;
    }
    for (; i < end; i++) if (words[i] !== 0) return false;
    return true;
  }
  for (let i = from; i < to; i++) if (data[i] !== 0) return false;
  return true;
}

/**
 * The allocated ranges of a piece of disk: maximal runs of blocks that are not all zero, in
 * absolute sectors. Blocks are `granularityBytes` long and aligned to absolute disk offsets, so
 * the verdict on a block does not depend on where a read window starts; a block cut by the
 * window's start is judged allocated when `firstBlockAllocated` says it already was. `isZero`
 * tests bytes [from, to) of `data` for zeros when the caller has a faster test (a native compare).
 */
export function allocatedRanges(data: Uint8Array, startByte: number, granularityBytes: number, firstBlockAllocated = false, isZero?: (from: number, to: number) => boolean): Region[] {
  if (startByte % SECTOR_BYTES !== 0 || data.length % SECTOR_BYTES !== 0) throw new Error("allocatedRanges: data must be whole sectors");
  if (granularityBytes % SECTOR_BYTES !== 0 || granularityBytes <= 0) throw new Error(`allocatedRanges: bad granularity ${granularityBytes}`);
  const words = (data.byteOffset & 3) === 0 ? new Uint32Array(data.buffer, data.byteOffset, data.length >>> 2) : null;
  const ranges: Region[] = [];
  let runStart = -1;
  let at = 0;
  while (at < data.length) {
    const blockEnd = Math.min(data.length, granularityBytes - ((startByte + at) % granularityBytes) + at);
    const allocated = (at === 0 && firstBlockAllocated && startByte % granularityBytes !== 0) || !(isZero === undefined ? zeroBlock(data, words, at, blockEnd) : isZero(at, blockEnd));
    if (allocated && runStart < 0) runStart = at;
    if (!allocated && runStart >= 0) {
      ranges.push({ startSector: (startByte + runStart) / SECTOR_BYTES, sectorCount: (at - runStart) / SECTOR_BYTES });
      runStart = -1;
    }
    at = blockEnd;
  }
  if (runStart >= 0) ranges.push({ startSector: (startByte + runStart) / SECTOR_BYTES, sectorCount: (data.length - runStart) / SECTOR_BYTES });
  return ranges;
}
