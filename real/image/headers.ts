import { open, stat, type FileHandle } from "node:fs/promises";
import { CHUNK_BYTES, EMPTY_DELTA_BYTES, HEADER_AREA_BYTES, cutChunkError, imageChunkCount, parseChunkHeader, parseEmptyDelta, type ChunkHeader } from "../../core/image/index.js";
import { reasonOf } from "../output/index.js";
import { ImageIoError, readFully } from "./source.js";
import { ImageCorruptError } from "./errors.js";

export { ImageCorruptError };

export interface ImageHeaders {
  imageBytes: number;
  headers: ChunkHeader[];
}

/**
 * Reads and validates every chunk header (4 KiB per chunk); a short last chunk is an error, but for
 * an empty delta: a file that is one chunk header alone (core/image/delta-format.ts).
 */
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
    if (imageBytes === EMPTY_DELTA_BYTES) return { imageBytes, headers: [await readEmptyDelta(fh, imagePath)] };
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
    if (tail !== 0) throw new ImageCorruptError(`${imagePath}: ${cutChunkError(chunks - 1, tail)}`);
    return { imageBytes, headers };
  } finally {
    await fh.close();
  }
}

async function readEmptyDelta(fh: FileHandle, imagePath: string): Promise<ChunkHeader> {
  const bytes = new Uint8Array(EMPTY_DELTA_BYTES);
  await readFully(fh, bytes, EMPTY_DELTA_BYTES, 0, imagePath);
  const h = parseEmptyDelta(bytes);
  if (!h.ok) throw new ImageCorruptError(`${imagePath}: ${h.error}`);
  return h.value;
}
