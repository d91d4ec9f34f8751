// The one module of real/image a receiver needs: its index loads image making, deltas and swaps too.
import { decodeChunk } from "../image/chunk.js";

const SECTOR_BYTES = 512;
const CHUNK_BYTES = 1 << 20;

export interface InflateRequest {
  chunk: number;
  /** The chunk as received, padded to 1 MiB. */
  bytes: Uint8Array;
  zeroFill: boolean;
}

/** Writes as offsets into one transferable buffer; a negative `at` is that many zero bytes' worth of free space. */
export interface WireWrite {
  offsetBytes: number;
  at: number;
  length: number;
}

export type InflateReply =
  | { ok: true; chunk: number; buffer: ArrayBuffer; writes: WireWrite[]; endBytes: number }
  | { ok: false; chunk: number; error: string };

/**
 * Decodes one chunk (header, regions, zlib stream, sizes all checked) into the writes that put it
 * on disk, with free space between its regions as runs of zeros when asked. `endBytes` is where the
 * chunk's range of the disk ends: what a target must hold for it.
 */
export function inflateForDisk(request: InflateRequest): InflateReply {
  const bytes = request.bytes.byteLength >= CHUNK_BYTES ? request.bytes : padded(request.bytes);
  const result = decodeChunk(bytes, request.chunk);
  if (!result.ok) return { ok: false, chunk: request.chunk, error: result.error };
  const d = result.value;
  const first = d.writes[0];
  const buffer = first === undefined ? new ArrayBuffer(0) : ownBuffer(first.data.buffer as ArrayBuffer);
  const writes: WireWrite[] = [];
  let cursor = d.firstSector * SECTOR_BYTES;
  let endBytes = d.lastSector * SECTOR_BYTES;
  for (const w of d.writes) {
    if (request.zeroFill && w.offsetBytes > cursor) writes.push({ offsetBytes: cursor, at: -1, length: w.offsetBytes - cursor });
    writes.push({ offsetBytes: w.offsetBytes, at: w.data.byteOffset, length: w.data.byteLength });
    cursor = Math.max(cursor, w.offsetBytes + w.data.byteLength);
    endBytes = Math.max(endBytes, cursor);
  }
  if (request.zeroFill && endBytes > cursor) writes.push({ offsetBytes: cursor, at: -1, length: endBytes - cursor });
  return { ok: true, chunk: request.chunk, buffer, writes, endBytes };
}

/** Small buffers may sit in Node's shared pool, which must not be transferred away: copy those. */
function ownBuffer(buffer: ArrayBuffer): ArrayBuffer {
  return buffer.byteLength < 8192 ? buffer.slice(0) : buffer;
}

function padded(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(CHUNK_BYTES);
  out.set(bytes);
  return out;
}
