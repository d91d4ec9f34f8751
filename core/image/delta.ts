import { SECTOR_BYTES, type Region } from "./format.js";
import { bytesEqual, type HashPort } from "./hash.js";
import { clip, covers, pushRange, subtract, totalSectors, union } from "./ranges.js";
import { entryHash, pieceHash, type SigEntry } from "./signature.js";

/**
 * What goes into a cumulative delta against a base signature (../shared/reference/images.md):
 * ranges in use now and not in the signature are new and go in; ranges in the signature but no
 * longer in use are freed and stay out; a signature piece still wholly in use is hashed again and
 * goes in only if its hash differs; a piece now only partly in use cannot be compared (its hash
 * covers the whole piece), so its part in use goes in.
 *
 * "In use" depends on how the disk is read. Inside a known file system, the allocation bitmaps
 * say. Elsewhere (raw areas) a block is in use when it is not all zeros, so a range the base had
 * that now reads as zeros is not "free": it must come back as zeros, and counts as changed.
 */
export interface DeltaStats {
  /** Signature pieces hashed again, and of those, the ones whose hash differs. */
  hashedPieces: number;
  changedPieces: number;
  /** Pieces now only partly in use: their part in use goes in unhashed. */
  partialPieces: number;
  /** Sectors in use now that no signature piece covers. */
  newSectors: number;
  /** Sectors of signature pieces no longer in use (file-system areas only). */
  freedSectors: number;
  /** Sectors in use now, all told: what a full image would hold. */
  inUseSectors: number;
  includedSectors: number;
}

export class DeltaPlanner {
  private next = 0;
  private readonly stats: DeltaStats = { hashedPieces: 0, changedPieces: 0, partialPieces: 0, newSectors: 0, freedSectors: 0, inUseSectors: 0, includedSectors: 0 };

  /**
   * `entries` are the base signature's pieces (normal: ascending, apart); `rawAreas` are the
   * ranges of the new disk outside any known file system, where free space reads as zeros.
   */
  constructor(
    private readonly entries: readonly SigEntry[],
    private readonly hashType: number,
    private readonly port: HashPort,
    private readonly rawAreas: readonly Region[],
  ) {}

  /**
   * The end of a window that starts before `endSector`: at least `endSector`, on a multiple of
   * `alignSectors`, and never inside a signature piece (a piece is hashed from one window's data).
   */
  safeWindowEnd(endSector: number, alignSectors: number, limitSector: number): number {
    let end = endSector;
    for (let i = this.next; ; ) {
      while (i < this.entries.length && this.entries[i]!.startSector + this.entries[i]!.sectorCount <= end) i++;
      const e = this.entries[i];
      if (e !== undefined && e.startSector < end) end = e.startSector + e.sectorCount;
      const aligned = Math.min(limitSector, Math.ceil(end / alignSectors) * alignSectors);
      if (aligned === end || aligned === limitSector) return Math.max(aligned, end);
      end = aligned;
    }
  }

  /**
   * Plans one window of the new disk: `data` holds its bytes from `startSector`, `inUse` its ranges
   * in use (normal, inside the window). Windows come in disk order and touch. Returns the ranges of
   * this window that go into the delta. `digests` may hold the full digests of pieces, by their
   * start sector, computed ahead by the caller (on other threads); a piece not in it is hashed here.
   */
  window(startSector: number, data: Uint8Array, inUse: readonly Region[], digests?: ReadonlyMap<number, Uint8Array>): Region[] {
    const endSector = startSector + data.length / SECTOR_BYTES;
    const mine: SigEntry[] = [];
    while (this.next < this.entries.length && this.entries[this.next]!.startSector < endSector) {
      const e = this.entries[this.next++]!;
      if (e.startSector < startSector || e.startSector + e.sectorCount > endSector) throw new Error(`DeltaPlanner: piece [${e.startSector}, +${e.sectorCount}) crosses the window [${startSector}, ${endSector})`);
      mine.push(e);
    }
    const pieces = mine.map((e) => ({ startSector: e.startSector, sectorCount: e.sectorCount }));
    // In raw areas the base's pieces are compared whatever they hold now (zeros included).
    const considered = union(inUse, piecesInRaw(pieces, this.rawAreas));
    const include: Region[] = [];
    for (let k = 0; k < mine.length; k++) this.piece(mine[k]!, pieces[k]!, considered, startSector, data, include, digests?.get(mine[k]!.startSector));
    const merged = union(include, subtract(considered, pieces));
    this.stats.newSectors += totalSectors(subtract(inUse, pieces));
    this.stats.inUseSectors += totalSectors(inUse);
    this.stats.includedSectors += totalSectors(merged);
    return merged;
  }

  private piece(e: SigEntry, r: Region, considered: readonly Region[], startSector: number, data: Uint8Array, include: Region[], digest: Uint8Array | undefined): void {
    const live = clip(considered, r.startSector, r.startSector + r.sectorCount);
    if (live.length === 0) {
      this.stats.freedSectors += r.sectorCount;
      return;
    }
    if (!covers(live, r)) {
      this.stats.partialPieces++;
      this.stats.freedSectors += r.sectorCount - totalSectors(live);
      for (const p of live) pushRange(include, p.startSector, p.sectorCount);
      return;
    }
    this.stats.hashedPieces++;
    const from = (r.startSector - startSector) * SECTOR_BYTES;
    const hash = digest !== undefined ? entryHash(digest) : pieceHash(this.port, this.hashType, data.subarray(from, from + r.sectorCount * SECTOR_BYTES));
    if (bytesEqual(hash, e.hash)) return;
    this.stats.changedPieces++;
    pushRange(include, r.startSector, r.sectorCount);
  }

  /** Every piece was planned: a signature reaching past the disk is an error the caller reports. */
  finish(): DeltaStats & { piecesPastEnd: number } {
    return { ...this.stats, piecesPastEnd: this.entries.length - this.next };
  }
}

/** The parts of the pieces that lie in raw areas. */
function piecesInRaw(pieces: readonly Region[], rawAreas: readonly Region[]): Region[] {
  const out: Region[] = [];
  for (const p of pieces) for (const r of clip(rawAreas, p.startSector, p.startSector + p.sectorCount)) pushRange(out, r.startSector, r.sectorCount);
  return out;
}

/** The delta's size as a share of a full image's (sectors of data, before compression). */
export function deltaShare(stats: Pick<DeltaStats, "includedSectors" | "inUseSectors">): number {
  return stats.inUseSectors === 0 ? 0 : stats.includedSectors / stats.inUseSectors;
}
