import { randomBytes } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { CHUNK_BYTES, IMAGE_ID_BYTES, SECTOR_BYTES, SECTOR_LIMIT, toHex, type Region } from "../../core/image/index.js";
import { openOutput } from "../output/index.js";
import { diskAllocation, fdReader, type Allocation } from "./allocation.js";
import { ChunkCompressor, READ_BYTES_MAX, writeFirstSectorOnly, type ClosedChunk } from "./compressor.js";
import type { DeflateEngine } from "./deflater.js";
import { nodeHash } from "./hash.js";
import { ImageIoError, readFully, sourceSizeBytes } from "./source.js";
import { ChunkWriter } from "./writer.js";
import { JOBS_MAX } from "./defaults.js";

/**
 * How chunks are cut. `sequential` is imagezip's layout (one pass, chunk after chunk), the only
 * one that can match the original's bytes. `segmented` cuts the disk into fixed segments that
 * compress independently, in parallel: each segment's last chunk closes early.
 */
export type ImageLayout = "sequential" | "segmented";

export interface CreateOptions {
  level: number;
  /** Free-space detection: all-zero blocks of this size (512 or 4096) are skipped. */
  granularityBytes: number;
  /** false: compress everything, zeros included (imagezip -f). */
  skipFree: boolean;
  /** Read ext2/3/4 block bitmaps (bare, MBR or GPT) so free blocks are skipped; elsewhere all-zero blocks are. Default true. */
  fsAware?: boolean;
  /** 3 (the original's default, what --compat writes) or 4 (checksummed chunks, an image id). Default 4. */
  version?: 3 | 4;
  /** Version 4: the image id (16 bytes); a random one by default. */
  imageId?: Uint8Array;
  engine: DeflateEngine;
  layout: ImageLayout;
  /** Segments compressed at once (segmented layout). */
  jobs: number;
  segmentBytes?: number;
  windowBytes?: number;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

export interface CreateResult {
  version: number;
  /** Hex; version 4 only. */
  imageId: string | null;
  /** How the disk was read: file systems found, or why it was read raw. */
  notes: string[];
  inputBytes: number;
  imageBytes: number;
  chunks: number;
  regions: number;
  allocatedBytes: number;
  compressedBytes: number;
}

/** Input compressed per segment in the segmented layout; each segment wastes about half a chunk. */
export const SEGMENT_BYTES_DEFAULT = 64 * 1024 * 1024;
/** Input read at once by each compressing stream: what bounds memory, with the segments in flight. */
export const WINDOW_BYTES_DEFAULT = 4 * 1024 * 1024;
export { JOBS_MAX };

/**
 * Compresses `inputPath` into an image at `imagePath`. The image is written under a temporary name
 * beside it and renamed into place only once whole and synced: a failure or an interrupt leaves the
 * old file or nothing. An output that is the input is refused before anything is opened.
 */
export async function createImage(inputPath: string, imagePath: string, o: CreateOptions): Promise<CreateResult> {
  const inputBytes = sourceSizeBytes(inputPath);
  if (inputBytes === 0) throw new ImageIoError(`${inputPath}: empty, a disk of no sectors has no image`, true);
  if (inputBytes % SECTOR_BYTES !== 0) throw new ImageIoError(`${inputPath}: size ${inputBytes} is not a whole number of 512-byte sectors`, true);
  if (inputBytes / SECTOR_BYTES > SECTOR_LIMIT) throw new ImageIoError(`${inputPath}: ${inputBytes} bytes is over the format's 2 TiB (2^32 sectors)`, true);
  const version = o.version ?? 4;
  const imageId = o.imageId ?? new Uint8Array(randomBytes(IMAGE_ID_BYTES));
  const output = await openOutput(imagePath, { inputs: [inputPath], what: "image" });
  let input: FileHandle | null = null;
  try {
    input = await open(inputPath, "r");
    const allocation = o.skipFree ? diskAllocation(fdReader(input.fd, inputBytes, inputPath), o.granularityBytes, o.fsAware ?? true) : null;
    const writer = new ChunkWriter(output.fh, version === 4 ? { version, imageId, hash: nodeHash } : { version: 3 });
    const progress = new Progress(inputBytes, o.onProgress);
    const spans = { allocation, version };
    if (o.layout === "sequential") {
      const compressor = new ChunkCompressor(o.engine, o.level, 0, (c) => writer.write(c), version);
      await compressSpan(input, 0, inputBytes, compressor, o, progress, spans);
    } else {
      await compressSegments(input, inputBytes, writer, o, progress, spans);
    }
    if (writer.chunks === 0) {
      const first = new Uint8Array(SECTOR_BYTES);
      await input.read(first, 0, SECTOR_BYTES, 0);
      await writeFirstSectorOnly(writer, first, inputBytes / SECTOR_BYTES, o.engine, o.level, version);
    }
    await writer.finish();
    await output.commit();
    return {
      version, imageId: version === 4 ? toHex(imageId) : null, notes: allocation?.layout.notes ?? ["raw: everything, zeros included"],
      inputBytes, imageBytes: writer.chunks * CHUNK_BYTES, chunks: writer.chunks, regions: writer.regions, allocatedBytes: writer.allocatedBytes, compressedBytes: writer.compressedBytes,
    };
  } finally {
    await output.discard();
    await input?.close();
  }
}

/** How spans find their ranges (null: everything) and which header version they write. */
interface SpanSetup {
  allocation: Allocation | null;
  version: number;
}

class Progress {
  private readonly doneBySpan = new Map<number, number>();
  constructor(
    private readonly totalBytes: number,
    private readonly report?: (doneBytes: number, totalBytes: number) => void,
  ) {}
  set(spanStart: number, doneInSpan: number): void {
    if (this.report === undefined) return;
    this.doneBySpan.set(spanStart, doneInSpan);
    let done = 0;
    for (const v of this.doneBySpan.values()) done += v;
    this.report(done, this.totalBytes);
  }
}

/**
 * Reads [startByte, endByte) in windows, finds its allocated ranges and feeds them to the
 * compressor. A window ends on a granularity boundary, so each block is judged whole; a range that
 * runs into the window's end is passed as open, and reading resumes where the compressor stopped.
 */
async function compressSpan(fh: FileHandle, startByte: number, endByte: number, compressor: ChunkCompressor, o: CreateOptions, progress: Progress, spans: SpanSetup): Promise<void> {
  const g = o.granularityBytes;
  // A window always holds more than one full read, so a range it leaves open always advances.
  const windowBytes = Math.max(2 * READ_BYTES_MAX + g, o.windowBytes ?? WINDOW_BYTES_DEFAULT);
  const buf = new Uint8Array(windowBytes + g);
  let pos = startByte;
  let inRange = false;
  while (pos < endByte) {
    let winEnd = Math.min(endByte, Math.floor((pos + windowBytes) / g) * g);
    if (winEnd <= pos) winEnd = Math.min(endByte, pos + g);
    const data = buf.subarray(0, winEnd - pos);
    await readFully(fh, data, data.length, pos, "input");
    const ranges: Region[] = spans.allocation !== null ? spans.allocation.inUse(data, pos, inRange) : [{ startSector: pos / SECTOR_BYTES, sectorCount: data.length / SECTOR_BYTES }];
    let next = winEnd;
    inRange = false;
    for (const r of ranges) {
      const from = r.startSector * SECTOR_BYTES - pos;
      const to = from + r.sectorCount * SECTOR_BYTES;
      const open = pos + to === winEnd && winEnd < endByte;
      const consumed = await compressor.range(r.startSector, data.subarray(from, to), open);
      if (open) inRange = true;
      if (consumed < to - from) {
        next = pos + from + consumed;
        break;
      }
    }
    pos = next;
    progress.set(startByte, pos - startByte);
  }
  await compressor.finish(endByte / SECTOR_BYTES);
}

/**
 * The segmented layout: up to `jobs` segments compress at once (node:zlib deflates on the thread
 * pool, so they run on separate cores). The oldest segment writes its chunks as they close; later
 * ones hold theirs until it is done, which bounds memory to `jobs` segments' output.
 */
async function compressSegments(fh: FileHandle, inputBytes: number, writer: ChunkWriter, o: CreateOptions, progress: Progress, spans: SpanSetup): Promise<void> {
  const segmentBytes = Math.max(o.granularityBytes, Math.floor((o.segmentBytes ?? SEGMENT_BYTES_DEFAULT) / o.granularityBytes) * o.granularityBytes);
  const segments = Math.ceil(inputBytes / segmentBytes);
  const held = new Map<number, ClosedChunk[]>();
  const finished = new Set<number>();
  let head = 0;
  let nextSegment = 0;
  const jobs = Math.max(1, Math.min(o.jobs, segments));
  let writing: Promise<void> = Promise.resolve();
  const headMoved: (() => void)[] = [];
  const drain = (): Promise<void> => {
    writing = writing.then(async () => {
      while (head < segments) {
        for (const c of held.get(head)?.splice(0) ?? []) await writer.write(c);
        if (!finished.has(head)) break;
        held.delete(head);
        head++;
        for (const wake of headMoved.splice(0)) wake();
      }
    });
    return writing;
  };
  const worker = async (): Promise<void> => {
    while (nextSegment < segments) {
      // Never run more than `jobs` segments ahead of the one being written.
      if (nextSegment >= head + jobs) {
        await new Promise<void>((wake) => headMoved.push(wake));
        continue;
      }
      const k = nextSegment++;
      const start = k * segmentBytes;
      const end = Math.min(inputBytes, start + segmentBytes);
      held.set(k, []);
      const compressor = new ChunkCompressor(o.engine, o.level, start / SECTOR_BYTES, async (c) => {
        held.get(k)!.push(c);
        if (k === head) await drain();
      }, spans.version);
      await compressSpan(fh, start, end, compressor, o, progress, spans);
      finished.add(k);
      await drain();
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  await drain();
  if (head !== segments) throw new Error(`segments written ${head} of ${segments}`);
}
