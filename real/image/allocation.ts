import { readSync } from "node:fs";
import {
  SECTOR_BYTES,
  allocatedRanges,
  clip,
  diskLayout,
  intersect,
  union,
  type DiskLayout,
  type DiskReader,
  type Region,
} from "../../core/image/index.js";
import { ImageIoError } from "./source.js";

/**
 * What of a disk is in use: inside ext2/3/4 file systems (bare, or in MBR or GPT partitions) the
 * block bitmaps say; elsewhere a block is in use unless it is all zeros ("raw"). `fs: false`
 * treats the whole disk as raw (the old behaviour, and the original's `-f` minus the zeros).
 */
export interface Allocation {
  layout: DiskLayout;
  /**
   * The in-use ranges of one window of the disk, from its bytes (raw areas) and the bitmaps.
   * `nonzero`: the window's non-zero blocks found already (allocatedRanges with a block cut by the
   * window's start judged on its part), so the bytes need not be scanned again here.
   */
  inUse(data: Uint8Array, startByte: number, firstBlockInUse: boolean, nonzero?: Region[]): Region[];
}

/** A synchronous reader for core's layout parser (it reads a superblock, descriptors and bitmaps). */
export function fdReader(fd: number, sizeBytes: number, path: string): DiskReader {
  return {
    sizeBytes,
    read(offsetBytes, length) {
      if (offsetBytes < 0 || offsetBytes + length > sizeBytes) throw new Error(`DiskReader: read [${offsetBytes}, +${length}) outside ${sizeBytes} bytes`);
      const buf = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, buf, done, length - done, offsetBytes + done);
        if (n === 0) throw new ImageIoError(`${path}: unexpected end of input at byte ${offsetBytes + done}`);
        done += n;
      }
      return buf;
    },
  };
}

export function diskAllocation(reader: DiskReader, granularityBytes: number, fsAware: boolean): Allocation {
  const sectors = Math.floor(reader.sizeBytes / SECTOR_BYTES);
  const layout: DiskLayout = fsAware
    ? diskLayout(reader)
    : { table: "none", partitions: [], fsAreas: [], fsInUse: [], rawAreas: [{ startSector: 0, sectorCount: sectors }], notes: ["file systems ignored: raw, all-zero blocks skipped"] };
  const wholeRaw = layout.fsAreas.length === 0;
  return {
    layout,
    inUse(data, startByte, firstBlockInUse, found) {
      const cut = firstBlockInUse && startByte % granularityBytes !== 0;
      const nonzero = found !== undefined && !cut ? found : allocatedRanges(data, startByte, granularityBytes, firstBlockInUse);
      if (wholeRaw) return nonzero;
      const s = startByte / SECTOR_BYTES;
      const e = s + data.length / SECTOR_BYTES;
      return union(clip(layout.fsInUse, s, e), intersect(nonzero, clip(layout.rawAreas, s, e)));
    },
  };
}
