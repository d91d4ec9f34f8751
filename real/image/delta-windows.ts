import { SECTOR_BYTES, covers, clip, type DeltaPlanner, type Region, type SigEntry } from "../../core/image/index.js";
import type { PieceHasher } from "./piece-hasher.js";

/** One window of the disk, read, with the digests of its signature pieces (by start sector). */
export interface DeltaWindow {
  startSector: number;
  endSector: number;
  /** Valid until the next window is taken: copy what must outlive it. */
  data: Uint8Array;
  digests: Map<number, Uint8Array>;
  /** Runs of blocks not all zeros (a block cut by the window's start judged on its part alone). */
  nonzero: Region[];
}

/**
 * The windows of a delta's one pass over the disk, read and hashed ahead on the hasher's threads
 * and handed out in disk order. A window never cuts a signature piece (the planner's
 * `safeWindowEnd`, which may be asked ahead: it only looks at the signature). A piece is hashed
 * ahead when the planner will compare it whatever the bytes say: when it lies wholly in use by the
 * file-system bitmaps or in raw areas (where it is compared even if it now reads as zeros); any
 * other piece it finds wholly in use it hashes itself.
 */
export class DeltaWindows {
  private askedEnd = 0;
  private nextEntry = 0;
  private readonly pending: { startSector: number; endSector: number; pieces: SigEntry[] }[] = [];

  constructor(
    private readonly hasher: PieceHasher,
    private readonly planner: DeltaPlanner,
    private readonly entries: readonly SigEntry[],
    /** Where a piece is compared whatever it holds: file-system ranges in use, and raw areas. */
    private readonly comparable: readonly Region[],
    private readonly sectors: number,
    private readonly windowSectors: number,
    private readonly alignSectors: number,
  ) {}

  /** The window starting where the last one ended. */
  async next(): Promise<DeltaWindow> {
    while (this.pending.length < this.hasher.ahead && this.askedEnd < this.sectors) this.ask();
    const w = this.pending.shift();
    if (w === undefined) throw new Error("DeltaWindows.next: past the end of the disk");
    const got = await this.hasher.next();
    const digests = new Map<number, Uint8Array>();
    w.pieces.forEach((p, k) => digests.set(p.startSector, got.digests[k]!));
    return { startSector: w.startSector, endSector: w.endSector, data: got.data, digests, nonzero: got.nonzero };
  }

  private ask(): void {
    const start = this.askedEnd;
    const end = this.planner.safeWindowEnd(Math.min(this.sectors, start + this.windowSectors), this.alignSectors, this.sectors);
    const pieces: SigEntry[] = [];
    const comparable = clip(this.comparable, start, end);
    while (this.nextEntry < this.entries.length && this.entries[this.nextEntry]!.startSector < end) {
      const e = this.entries[this.nextEntry++]!;
      if (e.startSector >= start && e.startSector + e.sectorCount <= end && covers(comparable, e)) pieces.push(e);
    }
    this.hasher.ask(start * SECTOR_BYTES, (end - start) * SECTOR_BYTES, pieces.map((p) => [(p.startSector - start) * SECTOR_BYTES, p.sectorCount * SECTOR_BYTES] as const));
    this.pending.push({ startSector: start, endSector: end, pieces });
    this.askedEnd = end;
  }
}
