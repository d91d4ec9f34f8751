import { constants, inflateSync } from "node:zlib";
import {
  CHUNK_BYTES,
  CHUNK_INFLATED_BYTES_MAX,
  HEADER_AREA_BYTES,
  SECTOR_BYTES,
  chunkError,
  cutChunkError,
  parseChunkHeader,
  regionDataBytes,
  type ChunkHeader,
} from "../../core/image/index.js";

export { imageChunkCount } from "../../core/image/index.js";

/** Decompressed region data to write at a disk byte offset. */
export interface ChunkWrite {
  offsetBytes: number;
  data: Uint8Array;
}

export interface DecodedChunk {
  chunkIndex: number;
  writes: ChunkWrite[];
  /** First sector the chunk describes (inclusive). */
  firstSector: number;
  /** Sector after the last one the chunk describes (exclusive). */
  lastSector: number;
}

/** An error names the chunk number and the image byte offset of the problem. */
export type ChunkResult = { ok: true; value: DecodedChunk } | { ok: false; error: string };

export type InflateResult = { ok: true; data: Uint8Array } | { ok: false; error: string };

/**
 * Decodes one 1 MiB chunk of an image: validates the header and region list, inflates the zlib
 * stream (whose adler32 zlib checks) and checks it fills the regions exactly. Synchronous and
 * never throws on bad bytes; nothing is returned to write unless the whole chunk verified.
 */
export function decodeChunk(chunkBytes: Uint8Array, expectedIndex?: number): ChunkResult {
  const head = parseChunkHeader(chunkBytes, expectedIndex);
  if (!head.ok) return head;
  const h = head.value;
  const n = expectedIndex ?? h.chunkIndex;
  if (chunkBytes.length !== CHUNK_BYTES) {
    if (chunkBytes.length < CHUNK_BYTES) return { ok: false, error: cutChunkError(n, chunkBytes.length) };
    return { ok: false, error: chunkError(n, CHUNK_BYTES, `too long: ${chunkBytes.length} of ${CHUNK_BYTES} bytes`) };
  }
  const inflated = inflateChunkData(chunkBytes, h, n);
  if (!inflated.ok) return inflated;
  return { ok: true, value: { chunkIndex: n, writes: regionWrites(h, inflated.data), firstSector: h.firstSector, lastSector: h.lastSector } };
}

/** Inflates a chunk's zlib stream and checks it is exactly as long as its regions, no more, no less. */
export function inflateChunkData(chunkBytes: Uint8Array, h: ChunkHeader, n: number): InflateResult {
  const stream = chunkBytes.subarray(HEADER_AREA_BYTES, HEADER_AREA_BYTES + h.compressedBytes);
  const expectedBytes = regionDataBytes(h.regions);
  let out: Buffer;
  let consumed: number;
  try {
    const r = inflateSync(stream, { maxOutputLength: Math.max(1, expectedBytes), info: true }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    out = r.buffer;
    consumed = r.engine.bytesWritten;
  } catch (error) {
    return { ok: false, error: describeInflateError(stream, n, expectedBytes, error) };
  }
  if (out.length !== expectedBytes) {
    return { ok: false, error: chunkError(n, HEADER_AREA_BYTES + consumed, `data inflates to ${out.length} bytes, but the regions need ${expectedBytes}`) };
  }
  if (consumed !== stream.length) {
    return { ok: false, error: chunkError(n, HEADER_AREA_BYTES + consumed, `zlib stream ends after ${consumed} bytes, but the header says ${stream.length}`) };
  }
  return { ok: true, data: out };
}

function regionWrites(h: ChunkHeader, data: Uint8Array): ChunkWrite[] {
  const writes: ChunkWrite[] = [];
  let at = 0;
  for (const r of h.regions) {
    const bytes = r.sectorCount * SECTOR_BYTES;
    writes.push({ offsetBytes: r.startSector * SECTOR_BYTES, data: data.subarray(at, at + bytes) });
    at += bytes;
  }
  return writes;
}

function describeInflateError(stream: Uint8Array, n: number, expectedBytes: number, error: unknown): string {
  const code = (error as { code?: string }).code;
  if (code === "ERR_BUFFER_TOO_LARGE") return chunkError(n, HEADER_AREA_BYTES, `data inflates to more than the ${expectedBytes} bytes its regions need`);
  const message = error instanceof Error ? error.message : String(error);
  if (message === "unexpected end of file") return chunkError(n, HEADER_AREA_BYTES + stream.length, "zlib stream is cut short (unexpected end of data)");
  return chunkError(n, HEADER_AREA_BYTES + firstBadByte(stream), `zlib: ${message}`);
}

/**
 * Where zlib first objects: the shortest prefix that fails to inflate (with a sync flush, so a
 * merely short prefix is not an error) ends at the bad byte. Only run on the error path:
 * about 20 inflates of at most 1 MiB each.
 */
function firstBadByte(stream: Uint8Array): number {
  const fails = (length: number): boolean => {
    try {
      inflateSync(stream.subarray(0, length), { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: CHUNK_INFLATED_BYTES_MAX });
      return false;
    } catch {
      return true;
    }
  };
  let lo = 1;
  let hi = stream.length;
  if (!fails(hi)) return Math.max(0, stream.length - 1);
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (fails(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo - 1;
}
