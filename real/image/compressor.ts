import { CHUNK_DATA_BYTES_MAX, HEADER_AREA_BYTES, IMAGE_VERSION_COMPAT, SECTOR_BYTES, headerAreaUsed, type Region } from "../../core/image/index.js";
import type { DeflateEngine, Deflater } from "./deflater.js";
import type { ChunkWriter } from "./writer.js";

/** imagezip's input read size: every read is deflated and sync-flushed on its own. */
export const READ_BYTES_MAX = 128 * 1024;
/** imagezip closes a chunk once less than this is left for compressed data. */
export const CHUNK_CLOSE_LEFT_BYTES = 0x2000;
/** Near the end of a chunk, reads shrink to what is left minus this margin (deflate can expand). */
const READ_MARGIN_BYTES = 1024;

/** A finished chunk, before it is numbered: its header fields and its zlib stream in pieces. */
export interface ClosedChunk {
  regions: Region[];
  firstSector: number;
  lastSector: number;
  compressedBytes: number;
  parts: Uint8Array[];
}

/**
 * imagezip's `compress_image`/`compress_chunk` loop, fed ranges of allocated data in disk order:
 * reads of at most 128 KiB per range, shrunk to sector multiples near a chunk's end, each deflated
 * with a sync flush; a chunk closes when less than 8 KiB is left or its region table is full. A
 * chunk closed at the end of a range extends to the start of the next one, so its free space
 * travels with it. Ranges may arrive in pieces (`open`): the loop then stops short rather than
 * guess a read size it could not know, and the caller hands it the rest.
 */
export class ChunkCompressor {
  private deflater: Deflater | null = null;
  private leftBytes = CHUNK_DATA_BYTES_MAX;
  private regions: Region[] = [];
  private parts: Uint8Array[] = [];
  private firstSector: number;
  /** Closed at the end of a range: its last sector is the next range's start, not known yet. */
  private pending: ClosedChunk | null = null;

  constructor(
    private readonly engine: DeflateEngine,
    private readonly level: number,
    firstSector: number,
    private readonly emit: (chunk: ClosedChunk) => Promise<void>,
    /** The header version: version 4's larger header leaves room for fewer regions. */
    private readonly version: number = IMAGE_VERSION_COMPAT,
  ) {
    this.firstSector = firstSector;
  }

  /**
   * Compresses `data`, allocated sectors from `startSector`. Returns the bytes consumed: all of
   * them unless `open` (the range may continue past `data`), when it may stop short.
   */
  async range(startSector: number, data: Uint8Array, open: boolean): Promise<number> {
    if (this.pending !== null) await this.flushPending(startSector);
    let pos = 0;
    while (pos < data.length) {
      const fill = await this.fill(data, pos, open);
      if (fill.bytes > 0) this.addRegion(startSector + pos / SECTOR_BYTES, fill.bytes / SECTOR_BYTES);
      pos += fill.bytes;
      if (fill.starved) return pos;
      let full = fill.full;
      const rangeDone = pos === data.length;
      if (!full && rangeDone && !open && headerAreaUsed(this.version, this.regions.length + 1, 0) > HEADER_AREA_BYTES) {
        await this.finishStream();
        full = true;
      }
      if (full) {
        const chunk = this.take(0);
        if (rangeDone) this.pending = chunk;
        else await this.close(chunk, chunk.regions[chunk.regions.length - 1]!);
      }
    }
    return pos;
  }

  /** Ends the stream: the chunk in progress (or waiting) extends to `lastSector`. */
  async finish(lastSector: number): Promise<void> {
    if (this.pending !== null) await this.flushPending(lastSector);
    if (this.regions.length === 0) return;
    await this.finishStream();
    const chunk = this.take(lastSector);
    await this.emit(chunk);
  }

  private async flushPending(nextStartSector: number): Promise<void> {
    const chunk = this.pending!;
    this.pending = null;
    chunk.lastSector = nextStartSector;
    this.firstSector = nextStartSector;
    await this.emit(chunk);
  }

  private async close(chunk: ClosedChunk, lastRegion: Region): Promise<void> {
    chunk.lastSector = lastRegion.startSector + lastRegion.sectorCount;
    this.firstSector = chunk.lastSector;
    await this.emit(chunk);
  }

  private take(lastSector: number): ClosedChunk {
    const chunk: ClosedChunk = { regions: this.regions, firstSector: this.firstSector, lastSector, compressedBytes: CHUNK_DATA_BYTES_MAX - this.leftBytes, parts: this.parts };
    this.regions = [];
    this.parts = [];
    this.leftBytes = CHUNK_DATA_BYTES_MAX;
    this.deflater = null;
    return chunk;
  }

  private addRegion(startSector: number, sectorCount: number): void {
    const last = this.regions[this.regions.length - 1];
    if (last !== undefined && last.startSector + last.sectorCount === startSector) last.sectorCount += sectorCount;
    else this.regions.push({ startSector, sectorCount });
  }

  /** One `compress_chunk` call: reads from `pos` until the range's data ends or the chunk fills. */
  private async fill(data: Uint8Array, from: number, open: boolean): Promise<{ bytes: number; full: boolean; starved: boolean }> {
    let pos = from;
    this.deflater ??= this.engine.create(this.level);
    while (pos < data.length) {
      const known = data.length - pos;
      const capBytes = this.leftBytes - READ_MARGIN_BYTES;
      let count = Math.min(READ_BYTES_MAX, known);
      // An open range might be longer than what we hold: its read size is only certain when a
      // full read fits, or when the chunk's end caps it.
      if (open && known < READ_BYTES_MAX && known <= capBytes) return { bytes: pos - from, full: false, starved: true };
      if (count > capBytes) count = capBytes & ~(SECTOR_BYTES - 1);
      await this.deflate(data.subarray(pos, pos + count));
      pos += count;
      if (this.leftBytes < CHUNK_CLOSE_LEFT_BYTES) {
        await this.finishStream();
        return { bytes: pos - from, full: true, starved: false };
      }
    }
    return { bytes: pos - from, full: false, starved: false };
  }

  private async deflate(piece: Uint8Array): Promise<void> {
    this.account(await this.deflater!.write(piece));
  }

  private async finishStream(): Promise<void> {
    if (this.deflater === null) return;
    this.account(await this.deflater.end());
  }

  private account(out: Uint8Array[]): void {
    for (const part of out) {
      this.parts.push(part);
      this.leftBytes -= part.length;
    }
    if (this.leftBytes < 0) throw new Error(`chunk overflow: ${-this.leftBytes} bytes past the chunk's end`);
  }
}

/**
 * Nothing allocated (an all-zero disk): still one chunk, since chunks carry the disk's size and a
 * file of none is no image. Its one region is the disk's first sector, as read (`first`).
 */
export async function writeFirstSectorOnly(writer: ChunkWriter, first: Uint8Array, sectors: number, engine: DeflateEngine, level: number, version: 3 | 4): Promise<void> {
  const compressor = new ChunkCompressor(engine, level, 0, (c) => writer.write(c), version);
  await compressor.range(0, first, false);
  await compressor.finish(sectors);
}
