import { randomBytes } from "node:crypto";
import { open } from "node:fs/promises";
import {
  CHUNK_BYTES,
  EMPTY_DELTA_BYTES,
  HEADER_AREA_BYTES,
  SECTOR_BYTES,
  SECTOR_LIMIT,
  DeltaPlanner,
  deltaShare,
  encodeDeltaMarker,
  hashKindOf,
  union,
  encodeEmptyDelta,
  toHex,
  type DeltaKind,
  type DeltaStats,
  type RsaPublicKey,
  type Signature,
} from "../../core/image/index.js";
import { OutputError, checkOutput, openOutput } from "../output/index.js";
import { diskAllocation, fdReader, type Allocation } from "./allocation.js";
import { ChunkCompressor, writeFirstSectorOnly } from "./compressor.js";
import type { DeflateEngine } from "./deflater.js";
import { nodeHash } from "./hash.js";
import { imageIdentity } from "./identity.js";
import { looksLikeSignature, makeSignature, readSignature } from "./signature.js";
import { ImageIoError, sourceSizeBytes, writeFully } from "./source.js";
import { DeltaWindows } from "./delta-windows.js";
import { PieceHasher } from "./piece-hasher.js";
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
  /** Threads that read the disk and hash its pieces (default: one per core; 0: this thread). */
  threads?: number;
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
  // A fresh hasher per attempt: a delta given up at the threshold leaves windows in flight.
  const hashers: PieceHasher[] = [];
  const hasher = (): PieceHasher => {
    hashers.push(new PieceHasher(disk.fd, diskPath, hashKindOf(base.signature.hashType) ?? "sha1", o.granularityBytes, o.threads));
    return hashers[hashers.length - 1]!;
  };
  try {
    const first = hasher(); // its threads start while the layout is read
    const allocation = diskAllocation(fdReader(disk.fd, diskBytes, diskPath), o.granularityBytes, o.fsAware);
    const deltaId = new Uint8Array(randomBytes(16));
    const attempt = await writeImage(first, diskBytes, allocation, base, "delta", deltaId, outPath, [diskPath, basePath], o);
    if (attempt !== null) return attempt;
    await first.close(); // its windows still in flight are not wanted
    return (await writeImage(hasher(), diskBytes, allocation, base, "full", deltaId, outPath, [diskPath, basePath], o))!;
  } finally {
    await Promise.all(hashers.map((h) => h.close()));
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
async function writeImage(hasher: PieceHasher, diskBytes: number, allocation: Allocation, base: DeltaBase, kind: DeltaKind, deltaId: Uint8Array, outPath: string, inputs: string[], o: DeltaOptions): Promise<DeltaResult | null> {
  const [diskPath] = inputs as [string, string];
  const out = await openOutput(outPath, { inputs, what: kind === "delta" ? "delta" : "image" });
  try {
    const writer = new ChunkWriter(out.fh, { version: 4, imageId: base.imageId, hash: nodeHash, iv: encodeDeltaMarker({ kind, deltaId }) });
    const compressor = new ChunkCompressor(o.engine, o.level, 0, (c) => writer.write(c), 4);
    const sectors = diskBytes / SECTOR_BYTES;
    const entries = kind === "delta" ? base.signature.entries : [];
    const planner = new DeltaPlanner(entries, base.signature.hashType, nodeHash, allocation.layout.rawAreas);
    // Pieces of a hash type we cannot compute are left to the planner, which says so.
    const hashed = hashKindOf(base.signature.hashType) === null ? [] : entries;
    const windows = new DeltaWindows(hasher, planner, hashed, union(allocation.layout.fsInUse, allocation.layout.rawAreas), sectors, DELTA_WINDOW_BYTES / SECTOR_BYTES, o.granularityBytes / SECTOR_BYTES);
    const threshold = o.thresholdPercent / 100;
    let at = 0;
    let inRange = false;
    while (at < sectors) {
      if (o.signal?.aborted === true) throw new ImageIoError(`${diskPath}: stopped after ${at} of ${sectors} sectors (${String(o.signal.reason ?? "aborted")})`);
      const w = await windows.next();
      const inUse = allocation.inUse(w.data, at * SECTOR_BYTES, inRange, w.nonzero);
      const lastUse = inUse[inUse.length - 1];
      inRange = lastUse !== undefined && lastUse.startSector + lastUse.sectorCount === w.endSector;
      // A full image holds what is in use; the planner then only counts (it has no pieces).
      const plan = planner.window(at, w.data, inUse, w.digests);
      for (const r of plan) {
        const from = (r.startSector - at) * SECTOR_BYTES;
        // A copy: the window's buffer is filled again once the next window is taken, and the compressor may hold what it is given.
        await compressor.range(r.startSector, w.data.slice(from, from + r.sectorCount * SECTOR_BYTES), false);
      }
      at = w.endSector;
      o.onProgress?.(at * SECTOR_BYTES, diskBytes);
      // However the rest of the disk turns out, the share can only fall to this:
      const sofar = planner.finish();
      if (kind === "delta" && sofar.includedSectors > threshold * (sofar.inUseSectors + (sectors - at))) return null;
    }
    if (kind === "delta" && planner.finish().includedSectors === 0) return await writeEmptyDelta(out, base, deltaId, sectors, planner.finish(), allocation.layout.notes);
    await compressor.finish(sectors);
    // A full image of a disk with nothing in use (it became all zeros) is still an image: its first
    // sector, zeros, as image create writes it (an empty file was written before, which no reader takes).
    if (writer.chunks === 0) await writeFirstSectorOnly(writer, new Uint8Array(SECTOR_BYTES), sectors, o.engine, o.level, 4);
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
