import type { FileHandle } from "node:fs/promises";
import { promisify } from "node:util";
import { inflate } from "node:zlib";
import {
  CHUNK_BYTES,
  HEADER_AREA_BYTES,
  checkChunk,
  chunkError,
  regionDataBytes,
  type ChunkCheck,
  type ChunkHeader,
  type HashPort,
  type RsaPublicKey,
} from "../../core/image/index.js";
import { inflateChunkData } from "./chunk.js";
import { readFully } from "./source.js";
import { ImageCorruptError } from "./headers.js";

const inflateAsync = promisify(inflate) as unknown as (buf: Uint8Array, o: object) => Promise<{ buffer: Buffer; engine: { bytesWritten: number } }>;

export interface ChunkReadOptions {
  hash: HashPort;
  /** Verifies signed checksums; without it they are "signed, not verified". */
  key?: RsaPublicKey;
  /** Chunks read and inflated at once (node:zlib inflates on the thread pool). */
  inFlight?: number;
  /** Only check the chunk's bytes (checksum), do not inflate them. */
  checkOnly?: boolean;
}

export interface ReadChunk {
  index: number;
  header: ChunkHeader;
  /** The whole 1 MiB chunk as stored (a header-only chunk: its header, then stale bytes); valid only until `each` returns (its buffer is reused). */
  bytes: Uint8Array;
  /** Its regions' data, in region order (empty with `checkOnly`). */
  data: Uint8Array;
  check: ChunkCheck;
}

export const CHUNKS_IN_FLIGHT_DEFAULT = 3;
/** node:zlib refuses output pieces smaller than 64 bytes. */
const INFLATE_CHUNK_BYTES_MIN = 64;
/** Room past the expected size, so the one output buffer is not full and zlib asks for no second one. */
const INFLATE_SLACK_BYTES = 1024;

/**
 * Reads an image's chunks in order, several at a time: each chunk's checksum is checked (version
 * 4) and its stream inflated and verified before `each` sees it, so nothing of a bad chunk is ever
 * used. The first bad chunk stops the run with an ImageCorruptError naming it.
 */
export async function forEachChunk(fh: FileHandle, imagePath: string, headers: readonly ChunkHeader[], o: ChunkReadOptions, each: (c: ReadChunk) => Promise<void> | void): Promise<void> {
  const inFlight = Math.max(1, o.inFlight ?? CHUNKS_IN_FLIGHT_DEFAULT);
  const pending: Promise<ReadChunk>[] = [];
  // The 1 MiB read buffers are reused: a fresh one per chunk made most of the garbage (each counts
  // as external memory, and every 64 MiB of it forced a full collection).
  const spare: Uint8Array[] = [];
  const start = (i: number): void => {
    if (i >= headers.length) return;
    const p = readChunk(fh, imagePath, headers[i]!, i, o, spare.pop() ?? new Uint8Array(CHUNK_BYTES));
    p.catch(() => undefined); // awaited in order below; a failure ahead of its turn must not be unhandled
    pending[i] = p;
  };
  for (let i = 0; i < inFlight; i++) start(i);
  for (let i = 0; i < headers.length; i++) {
    const c = await pending[i]!;
    delete pending[i];
    start(i + inFlight);
    await each(c);
    spare.push(c.bytes);
  }
}

async function readChunk(fh: FileHandle, imagePath: string, h: ChunkHeader, i: number, o: ChunkReadOptions, bytes: Uint8Array): Promise<ReadChunk> {
  // A header-only chunk (an empty delta) is the whole file: its header, no regions, no data.
  const headerOnly = h.regionAreaBytes !== HEADER_AREA_BYTES;
  await readFully(fh, bytes, headerOnly ? h.regionAreaBytes : CHUNK_BYTES, i * CHUNK_BYTES, imagePath);
  const checked = checkChunk(bytes, h, i, o.hash, o.key);
  if (!checked.ok) throw new ImageCorruptError(`${imagePath}: ${checked.error}`);
  if (o.checkOnly === true || headerOnly) return { index: i, header: h, bytes, data: new Uint8Array(0), check: checked.check };
  const stream = bytes.subarray(HEADER_AREA_BYTES, HEADER_AREA_BYTES + h.compressedBytes);
  const expected = regionDataBytes(h.regions);
  try {
    // One output buffer of the expected size: node:zlib otherwise hands the data back in 16 KiB
    // pieces and copies them together (most of the reading time, and garbage).
    const r = await inflateAsync(stream, { maxOutputLength: Math.max(1, expected), chunkSize: Math.max(INFLATE_CHUNK_BYTES_MIN, expected + INFLATE_SLACK_BYTES), info: true });
    if (r.buffer.length === expected && r.engine.bytesWritten === stream.length) return { index: i, header: h, bytes, data: r.buffer, check: checked.check };
  } catch {
    // described below, by the synchronous decoder that locates the bad byte
  }
  const named = inflateChunkData(bytes, h, i);
  throw new ImageCorruptError(`${imagePath}: ${named.ok ? chunkError(i, HEADER_AREA_BYTES, "zlib stream did not verify") : named.error}`);
}
