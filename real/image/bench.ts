import { closeSync, openSync, readSync, writeSync, fsyncSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { inflateSync } from "node:zlib";
import { CHUNK_BYTES, HEADER_AREA_BYTES, SECTOR_BYTES, parseChunkHeader } from "../../core/image/index.js";
import { makeScratchDir, removeScratchDir } from "../output/index.js";
import { sameFiles } from "./compare.js";
import { createImage, type CreateResult } from "./create.js";
import { nodeEngine } from "./deflater.js";
import { writeDiskLikeFile } from "./disklike.js";
import { unzipImage } from "./unzip.js";

const MIB = 2 ** 20;

export interface ImageBenchOptions {
  sizeBytes: number;
  seed: number;
  level: number;
  jobs: number;
  /** Folder to make the scratch folder in (the system's temporary folder by default). */
  dir?: string;
}

export interface ImageBenchResult {
  sizeMiB: number;
  seed: number;
  level: number;
  jobs: number;
  allocatedBytes: number;
  imageBytes: number;
  chunks: number;
  /** Disk MiB (the whole input) per second. */
  createMiBs: number;
  createOneJobMiBs: number;
  unzipMiBs: number;
  /** Whether the unzipped disk is the disk-like file byte for byte (the figure means nothing if not). */
  restoredIdentical: boolean;
  /** The same chunks inflated with inflateSync and written, one after another: no checks, no overlap. */
  plainInflateWriteMiBs: number;
  unzipVsPlain: number;
  granularity: { bytes: number; imageBytes: number; regions: number; allocatedBytes: number; createMiBs: number }[];
}

async function timed<T>(body: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = performance.now();
  const value = await body();
  return { value, seconds: (performance.now() - started) / 1000 };
}

/**
 * The figures of the README's "Images" section: create (at both free-space granularities, and
 * with one job) and unzip of a seeded disk-like file, against a plain inflate-and-write loop.
 */
export async function runImageBench(o: ImageBenchOptions): Promise<ImageBenchResult> {
  // A folder of our own, even inside --dir: nothing already there is overwritten or removed.
  const dir = makeScratchDir("testbed-image-bench-", o.dir);
  const disk = join(dir, "disk-like.raw");
  const image = join(dir, "disk-like.ndz");
  const restored = join(dir, "restored.raw");
  const sizeMiB = o.sizeBytes / MIB;
  try {
    await writeDiskLikeFile(disk, o.sizeBytes, o.seed);
    const create = (granularityBytes: number, jobs: number): Promise<{ value: CreateResult; seconds: number }> =>
      timed(() => createImage(disk, image, { level: o.level, granularityBytes, skipFree: true, engine: nodeEngine, layout: "segmented", jobs }));
    const granularity = [];
    for (const bytes of [512, 4096]) {
      const r = await create(bytes, o.jobs);
      granularity.push({ bytes, imageBytes: r.value.imageBytes, regions: r.value.regions, allocatedBytes: r.value.allocatedBytes, createMiBs: sizeMiB / r.seconds });
    }
    const one = await create(4096, 1);
    const main = await create(4096, o.jobs);
    await rm(restored, { force: true });
    const unzip = await timed(() => unzipImage(image, restored, { zeroFill: false }));
    const restoredIdentical = sameFiles(disk, restored);
    await rm(restored, { force: true });
    const plainSeconds = plainInflateWrite(image, restored, main.value.chunks);
    return {
      sizeMiB,
      seed: o.seed,
      level: o.level,
      jobs: o.jobs,
      allocatedBytes: main.value.allocatedBytes,
      imageBytes: main.value.imageBytes,
      chunks: main.value.chunks,
      createMiBs: sizeMiB / main.seconds,
      createOneJobMiBs: sizeMiB / one.seconds,
      unzipMiBs: sizeMiB / unzip.seconds,
      restoredIdentical,
      plainInflateWriteMiBs: sizeMiB / plainSeconds,
      unzipVsPlain: plainSeconds / unzip.seconds,
      granularity,
    };
  } finally {
    removeScratchDir(dir);
  }
}

/** The machine's limit for this file: read each chunk, inflateSync it, write it, fsync. Seconds. */
function plainInflateWrite(imagePath: string, outPath: string, chunks: number): number {
  const chunk = Buffer.alloc(CHUNK_BYTES);
  const input = openSync(imagePath, "r");
  const output = openSync(outPath, "w");
  const started = performance.now();
  try {
    for (let i = 0; i < chunks; i++) {
      readSync(input, chunk, 0, CHUNK_BYTES, i * CHUNK_BYTES);
      const h = parseChunkHeader(chunk, i);
      if (!h.ok) throw new Error(h.error);
      const data = inflateSync(chunk.subarray(HEADER_AREA_BYTES, HEADER_AREA_BYTES + h.value.compressedBytes));
      let at = 0;
      for (const r of h.value.regions) {
        const bytes = r.sectorCount * SECTOR_BYTES;
        writeSync(output, data, at, bytes, r.startSector * SECTOR_BYTES);
        at += bytes;
      }
    }
    fsyncSync(output);
    return (performance.now() - started) / 1000;
  } finally {
    closeSync(input);
    closeSync(output);
  }
}
