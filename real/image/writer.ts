import type { FileHandle } from "node:fs/promises";
import {
  CHUNK_BYTES,
  CSUM_SHA1,
  HEADER_AREA_BYTES,
  IMAGE_ID_BYTES,
  SECTOR_BYTES,
  encodeChunkHeader,
  sealChunk,
  type HashPort,
} from "../../core/image/index.js";
import type { ClosedChunk } from "./compressor.js";
import { writeFully } from "./source.js";

/**
 * How chunks are written. Version 4 carries an image id in every chunk and a SHA-1 checksum of
 * each chunk; `iv` fills the header's IV field, unused when a chunk is not encrypted, which our
 * deltas use for their marker (delta-format.ts). Version 3 is the original's default layout.
 */
export type ChunkFormat = { version: 3 } | { version: 4; imageId: Uint8Array; hash: HashPort; iv?: Uint8Array };

/**
 * Numbers chunks in file order and writes each as one 1 MiB block: header, stream, zero padding.
 * The padding is not written: the file is extended over it at the end (`finish`), so it reads as
 * zeros and takes no room where the file system keeps holes.
 */
export class ChunkWriter {
  chunks = 0;
  regions = 0;
  allocatedBytes = 0;
  compressedBytes = 0;
  private readonly buffer = Buffer.alloc(CHUNK_BYTES);

  constructor(
    private readonly fh: FileHandle,
    private readonly format: ChunkFormat,
  ) {
    if (format.version === 4 && format.imageId.length !== IMAGE_ID_BYTES) throw new Error(`image id of ${format.imageId.length} bytes`);
  }

  async write(c: ClosedChunk): Promise<void> {
    const block = this.buffer;
    const v4 = this.format.version === 4 ? { csumType: CSUM_SHA1, imageId: this.format.imageId, ...(this.format.iv === undefined ? {} : { iv: this.format.iv }) } : undefined;
    block.set(encodeChunkHeader({ compressedBytes: c.compressedBytes, chunkIndex: this.chunks, firstSector: c.firstSector, lastSector: c.lastSector, regions: c.regions, ...(v4 === undefined ? {} : { v4 }) }));
    let at = HEADER_AREA_BYTES;
    for (const part of c.parts) {
      block.set(part, at);
      at += part.length;
    }
    if (at !== HEADER_AREA_BYTES + c.compressedBytes) throw new Error(`chunk ${this.chunks}: parts add up to ${at - HEADER_AREA_BYTES}, header says ${c.compressedBytes}`);
    if (this.format.version === 4) sealChunk(block, c.compressedBytes, this.format.hash);
    await writeFully(this.fh, block.subarray(0, at), this.chunks * CHUNK_BYTES);
    block.fill(0, 0, at);
    this.chunks++;
    this.regions += c.regions.length;
    for (const r of c.regions) this.allocatedBytes += r.sectorCount * SECTOR_BYTES;
    this.compressedBytes += c.compressedBytes;
  }

  /** Extends the file over the last chunk's padding. */
  async finish(): Promise<void> {
    await this.fh.truncate(this.chunks * CHUNK_BYTES);
  }
}
