import { open, stat, type FileHandle } from "node:fs/promises";
import { promisify } from "node:util";
import { inflate } from "node:zlib";
import {
  CHUNK_BYTES,
  HEADER_AREA_BYTES,
  SECTOR_BYTES,
  chunkError,
  freeRanges,
  imageChunkCount,
  parseChunkHeader,
  regionDataBytes,
  type ChunkHeader,
} from "../../core/image/index.js";
import { checkOutput, openDiskTarget, reasonOf, TargetIncompleteError } from "../output/index.js";
import { inflateChunkData } from "./chunk.js";
import { ImageIoError, readFully, writeFully } from "./source.js";

/** Bad bytes in an image: the message names the chunk and the image byte offset. */
export class ImageCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageCorruptError";
  }
}

export interface ImageHeaders {
  imageBytes: number;
  headers: ChunkHeader[];
}

/** Reads and validates every chunk header (4 KiB per chunk); a short last chunk is an error. */
export async function readImageHeaders(imagePath: string): Promise<ImageHeaders> {
  let imageBytes: number;
  let fh: FileHandle;
  try {
    const st = await stat(imagePath);
    if (st.isDirectory()) throw new ImageCorruptError(`${imagePath}: is a directory, not an image`);
    imageBytes = st.size;
    fh = await open(imagePath, "r");
  } catch (error) {
    if (error instanceof ImageCorruptError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new ImageIoError(`${imagePath}: ${code === "ENOENT" ? "no such image file" : `cannot read the image (${reasonOf(error)})`}`, true);
  }
  try {
    if (imageBytes === 0) throw new ImageCorruptError(`${imagePath}: empty file, not an image`);
    const chunks = imageChunkCount(imageBytes);
    const headers: ChunkHeader[] = [];
    const area = new Uint8Array(HEADER_AREA_BYTES);
    for (let i = 0; i < chunks; i++) {
      const available = Math.min(HEADER_AREA_BYTES, imageBytes - i * CHUNK_BYTES);
      await readFully(fh, area, available, i * CHUNK_BYTES, imagePath);
      const h = parseChunkHeader(area.subarray(0, available), i);
      if (!h.ok) throw new ImageCorruptError(`${imagePath}: ${h.error}`);
      headers.push(h.value);
    }
    const tail = imageBytes % CHUNK_BYTES;
    if (tail !== 0) throw new ImageCorruptError(`${imagePath}: ${chunkError(chunks - 1, tail, `truncated: ${tail} of ${CHUNK_BYTES} bytes`)}`);
    return { imageBytes, headers };
  } finally {
    await fh.close();
  }
}

export interface UnzipOptions {
  /** Write zeros over the free space each chunk describes. */
  zeroFill: boolean;
  /** Write into an existing regular file in place, as a disk of its present size (as a block device is). */
  fixedSize?: boolean;
  /** Chunks being inflated at once (on the zlib thread pool). */
  inFlight?: number;
  onProgress?: (chunksDone: number, chunks: number) => void;
}

export interface UnzipResult {
  chunks: number;
  dataBytes: number;
  zeroBytes: number;
  diskBytes: number;
}

const inflateAsync = promisify(inflate) as unknown as (buf: Uint8Array, o: object) => Promise<{ buffer: Buffer; engine: { bytesWritten: number } }>;
export const UNZIP_IN_FLIGHT_DEFAULT = 3;
const ZERO_PIECE_BYTES = 1024 * 1024;

/**
 * Restores an image onto a file or block device. Every header and the file's length are checked
 * before anything is written; then chunks are inflated (several at once) and written strictly in
 * order, each only once its whole stream verified. A file target is written under a temporary name
 * and renamed into place when whole, so a failure leaves the old file or nothing. A block device
 * (or a file with `fixedSize`) is written in place: a corrupt chunk stops the run with every chunk
 * before it written and nothing from it or after, and the error says the target is incomplete.
 */
export async function unzipImage(imagePath: string, targetPath: string, o: UnzipOptions): Promise<UnzipResult> {
  checkOutput(targetPath, { inputs: [imagePath], what: "target" });
  const { headers } = await readImageHeaders(imagePath);
  const diskBytes = Math.max(0, ...headers.map((h) => h.lastSector * SECTOR_BYTES));
  const target = await openDiskTarget(targetPath, { inputs: [imagePath], what: "target", fixedSize: o.fixedSize === true });
  if (target.capacityBytes < diskBytes) {
    await target.abandon();
    throw new ImageIoError(`${targetPath}: ${target.isBlockDevice ? "device" : "file"} holds ${target.capacityBytes} bytes, the image needs ${diskBytes}; nothing written`, true);
  }
  let result: UnzipResult;
  try {
    target.markWritten();
    result = await writeChunks(imagePath, headers, target.fh, o, diskBytes);
    if (!target.inPlace && (await target.fh.stat()).size < diskBytes) await target.fh.truncate(diskBytes);
    await target.finish();
  } catch (error) {
    if (await target.abandon()) throw new TargetIncompleteError(targetPath, error);
    throw error;
  }
  return result;
}

/** Inflates chunks (several at once) and writes them strictly in order, each only once its stream verified. */
async function writeChunks(imagePath: string, headers: readonly ChunkHeader[], fh: FileHandle, o: UnzipOptions, diskBytes: number): Promise<UnzipResult> {
  const image = await open(imagePath, "r");
  const result: UnzipResult = { chunks: headers.length, dataBytes: 0, zeroBytes: 0, diskBytes };
  try {
    const inFlight = Math.max(1, o.inFlight ?? UNZIP_IN_FLIGHT_DEFAULT);
    const decoded: Promise<Uint8Array>[] = [];
    const start = (i: number): void => {
      if (i >= headers.length) return;
      const p = decodeAt(image, imagePath, headers[i]!, i);
      p.catch(() => undefined); // awaited in order below; a failure ahead of its turn must not be unhandled
      decoded[i] = p;
    };
    for (let i = 0; i < inFlight; i++) start(i);
    for (let i = 0; i < headers.length; i++) {
      const data = await decoded[i]!;
      delete decoded[i];
      start(i + inFlight);
      await writeChunk(fh, headers[i]!, data, o.zeroFill, result);
      o.onProgress?.(i + 1, headers.length);
    }
    return result;
  } finally {
    // Chunks still inflating are dropped; wait for none of them, but never leave the image open.
    await image.close();
  }
}

async function decodeAt(image: FileHandle, imagePath: string, h: ChunkHeader, i: number): Promise<Uint8Array> {
  const chunk = new Uint8Array(CHUNK_BYTES);
  await readFully(image, chunk, CHUNK_BYTES, i * CHUNK_BYTES, imagePath);
  const stream = chunk.subarray(HEADER_AREA_BYTES, HEADER_AREA_BYTES + h.compressedBytes);
  const expected = regionDataBytes(h.regions);
  try {
    const r = await inflateAsync(stream, { maxOutputLength: Math.max(1, expected), info: true });
    if (r.buffer.length === expected && r.engine.bytesWritten === stream.length) return r.buffer;
  } catch {
    // described below, by the synchronous decoder that locates the bad byte
  }
  const named = inflateChunkData(chunk, h, i);
  throw new ImageCorruptError(`${imagePath}: ${named.ok ? chunkError(i, HEADER_AREA_BYTES, "zlib stream did not verify") : named.error}`);
}

async function writeChunk(fh: FileHandle, h: ChunkHeader, data: Uint8Array, zeroFill: boolean, result: UnzipResult): Promise<void> {
  let at = 0;
  for (const r of h.regions) {
    const bytes = r.sectorCount * SECTOR_BYTES;
    await writeFully(fh, data.subarray(at, at + bytes), r.startSector * SECTOR_BYTES);
    at += bytes;
  }
  result.dataBytes += at;
  if (!zeroFill) return;
  const zeros = new Uint8Array(Math.min(ZERO_PIECE_BYTES, Math.max(...freeRanges(h).map((g) => g.sectorCount * SECTOR_BYTES), 0)));
  for (const gap of freeRanges(h)) {
    for (let off = 0; off < gap.sectorCount * SECTOR_BYTES; off += zeros.length) {
      const n = Math.min(zeros.length, gap.sectorCount * SECTOR_BYTES - off);
      await writeFully(fh, zeros.subarray(0, n), gap.startSector * SECTOR_BYTES + off);
    }
    result.zeroBytes += gap.sectorCount * SECTOR_BYTES;
  }
}
