import { randomBytes } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import {
  CHUNK_BYTES,
  EMPTY_DELTA_BYTES,
  HEADER_AREA_BYTES,
  SECTOR_BYTES,
  SECTOR_LIMIT,
  DeltaPlanner,
  deltaShare,
  encodeDeltaMarker,
  encodeEmptyDelta,
  toHex,
  type DeltaKind,
  type DeltaStats,
  type RsaPublicKey,
  type Signature,
} from "../../core/image/index.js";
import { OutputError, checkOutput, openOutput } from "../output/index.js";
import { diskAllocation, fdReader, type Allocation } from "./allocation.js";
import { ChunkCompressor } from "./compressor.js";
import type { DeflateEngine } from "./deflater.js";
import { nodeHash } from "./hash.js";
import { imageIdentity } from "./identity.js";
import { looksLikeSignature, makeSignature, readSignature } from "./signature.js";
import { ImageIoError, readFully, sourceSizeBytes, writeFully } from "./source.js";
import { ImageCorruptError } from "./headers.js";
import { ChunkWriter } from "./writer.js";
import { DELTA_THRESHOLD_PERCENT_DEFAULT } from "./defaults.js";

export { DELTA_THRESHOLD_PERCENT_DEFAULT };
/** Disk read per planning window. */
export const DELTA_WINDOW_BYTES = 4 * 1024 * 1024;

export interface DeltaOptions {
  level: number;
  engine: DeflateEngine;
  /** Percent of a full image above which a full image is written instead. */
  thresholdPercent: number;
  granularityBytes: number;
  /** Read ext2/3/4 allocation bitmaps (else every all-zero block is free). */
  fsAware: boolean;
  key?: RsaPublicKey;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** Stop early (swap-out timeouts): checked between windows. */
  signal?: AbortSignal;
}

export interface DeltaResult {
  kind: DeltaKind;
  baseId: string;
  deltaId: string;
  /** The delta's size as a share of a full image of the disk (sectors of data). */
  share: number;
  stats: DeltaStats;
  imageBytes: number;
  chunks: number;
  regions: number;
  dataBytes: number;
  compressedBytes: number;
  /** What the file holds without its chunks' zero padding (header areas and zlib streams): what a sparse copy stores. */
  writtenBytes: number;
  notes: string[];
}

/** What the base is: its signature, named by content. */
export interface DeltaBase {
  signature: Signature;
  imageId: Uint8Array;
}

/** Reads `--base`: a signature made by testbed, or an image (whose signature is made on the way). */
export async function loadDeltaBase(basePath: string, key?: RsaPublicKey): Promise<DeltaBase> {
  if (await looksLikeSignature(basePath)) {
    const signature = await readSignature(basePath);
    if (signature.identity === null) {
      throw new ImageCorruptError(`${basePath}: a signature made by the original imagehash does not name its image; give the image itself, or a signature made by testbed image sig`);
    }
    return { signature, imageId: signature.identity.imageId };
  }
  const id = await imageIdentity(basePath);
  if (id.delta !== null) throw new ImageCorruptError(`${basePath}: is a ${id.delta.kind === "delta" ? "delta" : "full image saved as a delta"} of image ${toHex(id.imageId)}, not a base image; deltas are always made against the base`);
  const made = await makeSignature(basePath, key === undefined ? {} : { key });
  return { signature: made.signature, imageId: made.signature.identity!.imageId };
}

/**
 * Makes one cumulative delta of `diskPath` against `base`: new and changed ranges in, freed ones
 * out (see core/image/delta.ts). When the delta would exceed `thresholdPercent` of a full image,
 * a full image is written instead (kind "full"). Either way the output is an ordinary version-4
 * image naming the base's id, written whole or not at all.
 */
export async function makeDelta(base: DeltaBase, basePath: string, diskPath: string, outPath: string, o: DeltaOptions): Promise<DeltaResult> {
  // The output is refused (an input, a folder, write-protected, the base image) before the disk is read.
  checkOutput(outPath, { inputs: [diskPath, basePath], what: "delta" });
  await refuseOverBase(outPath, base);
  const diskBytes = sourceSizeBytes(diskPath);
  if (diskBytes % SECTOR_BYTES !== 0) throw new ImageIoError(`${diskPath}: size ${diskBytes} is not a whole number of 512-byte sectors`, true);
  if (diskBytes / SECTOR_BYTES > SECTOR_LIMIT) throw new ImageIoError(`${diskPath}: ${diskBytes} bytes is over the format's 2 TiB (2^32 sectors)`, true);
  const last = base.signature.entries[base.signature.entries.length - 1];
  if (last !== undefined && (last.startSector + last.sectorCount) * SECTOR_BYTES > diskBytes) {
    throw new ImageCorruptError(`${basePath}: its image reaches sector ${last.startSector + last.sectorCount}, past the end of ${diskPath} (${diskBytes / SECTOR_BYTES} sectors): not this disk's base`);
  }
  const disk = await open(diskPath, "r");
  try {
    const allocation = diskAllocation(fdReader(disk.fd, diskBytes, diskPath), o.granularityBytes, o.fsAware);
    const deltaId = new Uint8Array(randomBytes(16));
    const attempt = await writeImage(disk, diskBytes, allocation, base, "delta", deltaId, outPath, [diskPath, basePath], o);
    const result = attempt ?? (await writeImage(disk, diskBytes, allocation, base, "full", deltaId, outPath, [diskPath, basePath], o))!;
    return result;
  } finally {
    await disk.close();
  }
}

/**
 * A delta may not replace the base it is made against: given only the base's signature, the base
 * image is no input the output checks could compare with, so an existing image under the output's
 * name is read, and refused when it is that base (same image id). Its loss would also make the
 * delta useless.
 */
async function refuseOverBase(outPath: string, base: DeltaBase): Promise<void> {
  let id: Awaited<ReturnType<typeof imageIdentity>>;
  try {
    id = await imageIdentity(outPath);
  } catch {
    return; // missing or not an image: the usual output checks decide
  }
  if (id.delta === null && Buffer.from(id.imageId).equals(Buffer.from(base.imageId))) {
    throw new OutputError(`${outPath}: is the base image this delta is made against (image ${toHex(base.imageId)}); nothing was written`, true);
  }
}

/**
 * One pass over the disk: plan each window, compress what goes in. Returns null when a delta is
 * found to exceed the threshold (its output is discarded), so the caller writes a full image.
 */
async function writeImage(disk: FileHandle, diskBytes: number, allocation: Allocation, base: DeltaBase, kind: DeltaKind, deltaId: Uint8Array, outPath: string, inputs: string[], o: DeltaOptions): Promise<DeltaResult | null> {
  const [diskPath] = inputs as [string, string];
  const out = await openOutput(outPath, { inputs, what: kind === "delta" ? "delta" : "image" });
  try {
    const writer = new ChunkWriter(out.fh, { version: 4, imageId: base.imageId, hash: nodeHash, iv: encodeDeltaMarker({ kind, deltaId }) });
    const compressor = new ChunkCompressor(o.engine, o.level, 0, (c) => writer.write(c), 4);
    const sectors = diskBytes / SECTOR_BYTES;
    const planner = new DeltaPlanner(kind === "delta" ? base.signature.entries : [], base.signature.hashType, nodeHash, allocation.layout.rawAreas);
    const reader = new WindowReader(disk, diskBytes, diskPath);
    const threshold = o.thresholdPercent / 100;
    let at = 0;
    let inRange = false;
    while (at < sectors) {
      if (o.signal?.aborted === true) throw new ImageIoError(`${diskPath}: stopped after ${at} of ${sectors} sectors (${String(o.signal.reason ?? "aborted")})`);
      const end = planner.safeWindowEnd(Math.min(sectors, at + DELTA_WINDOW_BYTES / SECTOR_BYTES), o.granularityBytes / SECTOR_BYTES, sectors);
      const data = await reader.read(at, end);
      const inUse = allocation.inUse(data, at * SECTOR_BYTES, inRange);
      const lastUse = inUse[inUse.length - 1];
      inRange = lastUse !== undefined && lastUse.startSector + lastUse.sectorCount === end;
      // A full image holds what is in use; the planner then only counts (it has no pieces).
      const plan = planner.window(at, data, inUse);
      for (const r of plan) {
        const from = (r.startSector - at) * SECTOR_BYTES;
        await compressor.range(r.startSector, data.subarray(from, from + r.sectorCount * SECTOR_BYTES), false);
      }
      at = end;
      o.onProgress?.(at * SECTOR_BYTES, diskBytes);
      // However the rest of the disk turns out, the share can only fall to this:
      const sofar = planner.finish();
      if (kind === "delta" && sofar.includedSectors > threshold * (sofar.inUseSectors + (sectors - at))) return null;
    }
    if (kind === "delta" && planner.finish().includedSectors === 0) return await writeEmptyDelta(out, base, deltaId, sectors, planner.finish(), allocation.layout.notes);
    await compressor.finish(sectors);
    await writer.finish();
    const stats = planner.finish();
    const share = kind === "delta" ? deltaShare(stats) : 1;
    if (kind === "delta" && share > threshold) return null;
    await out.commit();
    return {
      kind, baseId: toHex(base.imageId), deltaId: toHex(deltaId), share, stats, imageBytes: writer.chunks * CHUNK_BYTES, chunks: writer.chunks,
      regions: writer.regions, dataBytes: writer.allocatedBytes, compressedBytes: writer.compressedBytes,
      writtenBytes: writer.chunks * HEADER_AREA_BYTES + writer.compressedBytes, notes: allocation.layout.notes,
    };
  } finally {
    await out.discard();
  }
}

/**
 * Nothing changed: the delta is one chunk header and nothing else (it must still name its base),
 * which the original imageunzip lays as nothing (core/image/delta-format.ts says why it cannot be a
 * whole chunk this small).
 */
async function writeEmptyDelta(out: Awaited<ReturnType<typeof openOutput>>, base: DeltaBase, deltaId: Uint8Array, diskSectors: number, stats: DeltaStats, notes: string[]): Promise<DeltaResult> {
  await writeFully(out.fh, encodeEmptyDelta({ baseId: base.imageId, deltaId, diskSectors }, nodeHash), 0);
  await out.commit();
  return {
    kind: "delta", baseId: toHex(base.imageId), deltaId: toHex(deltaId), share: deltaShare(stats), stats, imageBytes: EMPTY_DELTA_BYTES, chunks: 1,
    regions: 0, dataBytes: 0, compressedBytes: 0, writtenBytes: EMPTY_DELTA_BYTES, notes,
  };
}

/** Reads windows of the disk, the next stretch ahead while the current window is planned and compressed. */
class WindowReader {
  private ahead: { start: number; end: number; data: Promise<Uint8Array> } | null = null;

  constructor(
    private readonly fh: FileHandle,
    private readonly diskBytes: number,
    private readonly path: string,
  ) {}

  async read(startSector: number, endSector: number): Promise<Uint8Array> {
    const ahead = this.ahead;
    this.ahead = null;
    let data: Uint8Array;
    if (ahead !== null && ahead.start === startSector) {
      const got = await ahead.data;
      if (ahead.end >= endSector) data = got.subarray(0, (endSector - startSector) * SECTOR_BYTES);
      else {
        data = new Uint8Array((endSector - startSector) * SECTOR_BYTES);
        data.set(got);
        await readFully(this.fh, data.subarray(got.length), data.length - got.length, ahead.end * SECTOR_BYTES, this.path);
      }
    } else data = await this.load(startSector, endSector);
    const nextEnd = Math.min(this.diskBytes / SECTOR_BYTES, endSector + DELTA_WINDOW_BYTES / SECTOR_BYTES);
    if (nextEnd > endSector) {
      const p = this.load(endSector, nextEnd);
      p.catch(() => undefined); // awaited by the next read, if any
      this.ahead = { start: endSector, end: nextEnd, data: p };
    }
    return data;
  }

  private async load(startSector: number, endSector: number): Promise<Uint8Array> {
    const buf = new Uint8Array((endSector - startSector) * SECTOR_BYTES);
    await readFully(this.fh, buf, buf.length, startSector * SECTOR_BYTES, this.path);
    return buf;
  }
}
