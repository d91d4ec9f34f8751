import { closeSync, fstatSync, openSync, read, readSync } from "node:fs";
import type { Disk } from "../../core/engine/index.js";
import type { ServerImage } from "../../core/frisbee/server.js";
import { HEADER_AREA_BYTES, SECTOR_BYTES, parseChunkHeader } from "../../core/image/index.js";
import type { DiskDone } from "../runtime/index.js";
import { ImageFileError } from "./errors.js";

const CHUNK_BYTES = 1 << 20;
const BLOCK_BYTES = 1024;
/** Whole chunks the server keeps read; a chunk is read once and then served for all its blocks. */
export const SERVED_CHUNKS_CACHED_MAX = 16;

export { ImageFileError };

export interface OpenedImage {
  fd: number;
  image: ServerImage;
  chunks: number;
}

/**
 * Opens an image for serving. The server needs no parsing (chunk i is bytes [i MiB, (i+1) MiB));
 * only the last chunk's header is read, for the disk size clients' time left is estimated from.
 */
export function openImage(path: string): OpenedImage {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    throw new ImageFileError(`cannot open image ${path}: ${(error as { code?: string }).code ?? String(error)}`);
  }
  const st = fstatSync(fd);
  if (!st.isFile() || st.size === 0) {
    closeSync(fd);
    throw new ImageFileError(`image ${path} is ${st.isFile() ? "empty" : "not a regular file"}`);
  }
  const chunks = Math.ceil(st.size / CHUNK_BYTES);
  const head = new Uint8Array(HEADER_AREA_BYTES);
  readSync(fd, head, 0, HEADER_AREA_BYTES, (chunks - 1) * CHUNK_BYTES);
  const parsed = parseChunkHeader(head, chunks - 1);
  const uncompressedBytes = parsed.ok ? parsed.value.lastSector * SECTOR_BYTES : st.size;
  return { fd, chunks, image: { blockCount: Math.ceil(st.size / BLOCK_BYTES), byteCount: st.size, uncompressedBytes } };
}

/**
 * The server's Disk port on an image file: reads are served from whole chunks read once and kept
 * (at most SERVED_CHUNKS_CACHED_MAX, least recently used out), answered on the next microtask.
 */
export class ImageReader implements Disk {
  readonly stats = { chunkReads: 0, reads: 0 };
  private readonly cache = new Map<number, Uint8Array>();
  private readonly waiting = new Map<number, (() => void)[]>();

  constructor(
    private readonly fd: number,
    readonly sizeBytes: number,
    private readonly done: DiskDone,
  ) {}

  write(op: number): void {
    queueMicrotask(() => this.done(op, "the image is read-only"));
  }

  read(op: number, offset: number, length: number): void {
    this.stats.reads++;
    const chunk = Math.floor(offset / CHUNK_BYTES);
    const within = offset - chunk * CHUNK_BYTES;
    const serve = (data: Uint8Array | string): void => {
      if (typeof data === "string") return this.done(op, data);
      // A view, not a copy: a cached chunk is never written after it is read.
      this.done(op, null, data.subarray(within, within + length));
    };
    const cached = this.cache.get(chunk);
    if (cached !== undefined) {
      this.cache.delete(chunk);
      this.cache.set(chunk, cached);
      queueMicrotask(() => serve(cached));
      return;
    }
    this.load(chunk, serve);
  }

  private load(chunk: number, serve: (data: Uint8Array | string) => void): void {
    const waiters = this.waiting.get(chunk);
    const retry = (): void => this.readCached(chunk, serve);
    if (waiters !== undefined) {
      waiters.push(retry);
      return;
    }
    this.waiting.set(chunk, []);
    this.stats.chunkReads++;
    const data = new Uint8Array(CHUNK_BYTES);
    read(this.fd, data, 0, CHUNK_BYTES, chunk * CHUNK_BYTES, (error) => {
      const others = this.waiting.get(chunk) ?? [];
      this.waiting.delete(chunk);
      if (error !== null) {
        serve(`read of chunk ${chunk} failed: ${error.message}`);
        for (const w of others) w();
        return;
      }
      this.cache.set(chunk, data);
      if (this.cache.size > SERVED_CHUNKS_CACHED_MAX) this.cache.delete(this.cache.keys().next().value as number);
      serve(data);
      for (const w of others) w();
    });
  }

  private readCached(chunk: number, serve: (data: Uint8Array | string) => void): void {
    const cached = this.cache.get(chunk);
    if (cached === undefined) this.load(chunk, serve);
    else serve(cached);
  }
}
