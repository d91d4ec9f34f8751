import { open, type FileHandle } from "node:fs/promises";
import {
  SECTOR_BYTES,
  V4_FIELDS,
  applyRelocs,
  bytesEqual,
  chunkError,
  freeRanges,
  toHex,
  type ChunkCheck,
  type ChunkHeader,
  type DeltaMarker,
  type RsaPublicKey,
} from "../../core/image/index.js";
import { checkOutput, openDiskTarget, TargetIncompleteError } from "../output/index.js";
import { forEachChunk, type ReadChunk } from "./chunks.js";
import { nodeHash } from "./hash.js";
import { chunkIdentity, fileDigest } from "./identity.js";
import { ImageIoError, writeFully } from "./source.js";
import { ImageCorruptError, readImageHeaders } from "./headers.js";

/** A delta that does not belong on the base it was given: bad input, refused before any write. */
export class WrongBaseError extends ImageCorruptError {
  override readonly name = "WrongBaseError";
}

export interface ReloadOptions {
  /** Write zeros over the free space the base describes (a full image in a delta's place always is). */
  zeroFill: boolean;
  /** Write into an existing regular file in place, as a disk of its present size (as a block device is). */
  fixedSize?: boolean;
  /**
   * The target holds the base already (a node that loaded it by Frisbee): the delta alone is laid,
   * in place, so the base is not written twice. The delta is still checked to belong on the base.
   */
  baseInPlace?: boolean;
  /** Verifies signed checksums; without it they are "signed, not verified". */
  key?: RsaPublicKey;
  /** Where sector 0 of the images goes in the target (a slice), for relocations. */
  offsetSectors?: number;
  inFlight?: number;
  onProgress?: (chunksDone: number, chunks: number) => void;
}

export interface ReloadResult {
  chunks: number;
  dataBytes: number;
  zeroBytes: number;
  diskBytes: number;
  /** How the chunks' checksums were checked, all images together. */
  checks: Record<ChunkCheck, number>;
  relocations: number;
  /**
   * "base", "base+delta", "full" (a full image saved in a delta's place: the base is not needed),
   * "delta" (laid alone over the base in place), or "none" (base in place and no delta: nothing to lay).
   */
  layers: "base" | "base+delta" | "full" | "delta" | "none";
}

interface Layer {
  path: string;
  headers: ChunkHeader[];
  zeroFill: boolean;
  /** A delta: read whole (checksums and zlib streams) before the first write. */
  delta: boolean;
}

/**
 * Lays an image onto a file or block device, then a delta over it. Everything that can be known
 * bad is found before the first byte is written: every header; that the delta names this base
 * (its chunks carry the base's image id) and is a delta; every chunk of the delta checked and
 * inflated; the base's checksums. A file target is written under a temporary name and renamed
 * when whole; a block device (or `fixedSize` file) is written in place, and a failure after the
 * first write says it is incomplete.
 */
export async function reloadImage(basePath: string, deltaPath: string | null, targetPath: string, o: ReloadOptions): Promise<ReloadResult> {
  const inputs = deltaPath === null ? [basePath] : [basePath, deltaPath];
  checkOutput(targetPath, { inputs, what: "target" });
  const { layers, kind } = await planLayers(basePath, deltaPath, o);
  const diskBytes = Math.max(0, ...layers.flatMap((l) => l.headers.map((h) => h.lastSector * SECTOR_BYTES))) + (o.offsetSectors ?? 0) * SECTOR_BYTES;
  await precheck(layers, o);
  // Over a base in place the target is written where it is, never replaced by a new file.
  const target = await openDiskTarget(targetPath, { inputs, what: "target", fixedSize: o.fixedSize === true || o.baseInPlace === true });
  // A disk file holding a base (whose data may end before the disk does) grows to take the delta; a device cannot.
  const grows = o.baseInPlace === true && !target.isBlockDevice;
  if (target.capacityBytes < diskBytes && !grows) {
    await target.abandon();
    throw new ImageIoError(`${targetPath}: ${target.isBlockDevice ? "device" : "file"} holds ${target.capacityBytes} bytes, the image needs ${diskBytes}; nothing written`, true);
  }
  let result: ReloadResult;
  try {
    target.markWritten();
    const capacity = Number.isFinite(target.capacityBytes) ? (grows ? Math.max(target.capacityBytes, diskBytes) : target.capacityBytes) : diskBytes;
    result = await writeLayers(layers, target.fh, diskBytes, capacity, kind, o);
    if ((!target.inPlace || grows) && (await target.fh.stat()).size < diskBytes) await target.fh.truncate(diskBytes);
    await target.finish();
  } catch (error) {
    if (await target.abandon()) throw new TargetIncompleteError(targetPath, error);
    throw error;
  }
  return result;
}

/** The images to lay, in order, once the delta is known to belong on the base. */
async function planLayers(basePath: string, deltaPath: string | null, o: ReloadOptions): Promise<{ layers: Layer[]; kind: ReloadResult["layers"] }> {
  const base = await readImageHeaders(basePath);
  const baseOwn = chunkIdentity(basePath, base.headers);
  if (deltaPath === null) return o.baseInPlace === true ? { layers: [], kind: "none" } : { layers: [{ path: basePath, headers: base.headers, zeroFill: o.zeroFill, delta: false }], kind: "base" };
  if (baseOwn.delta !== null) throw new WrongBaseError(`${basePath}: ${chunkError(0, V4_FIELDS.iv, `is itself a ${kindWord(baseOwn.delta)}, not a base image`)}`);
  const delta = await readImageHeaders(deltaPath);
  const deltaOwn = chunkIdentity(deltaPath, delta.headers);
  if (deltaOwn.delta === null) throw new WrongBaseError(`${deltaPath}: ${chunkError(0, V4_FIELDS.iv, "is not a delta (no delta marker): give the base alone, or a delta made by testbed image delta")}`);
  const deltaBase = delta.headers[0]!.v4!.imageId;
  const baseId = baseOwn.v4Id ?? (await fileDigest(basePath, base.imageBytes)).slice(0, 16);
  if (!bytesEqual(deltaBase, baseId)) {
    throw new WrongBaseError(`${deltaPath}: ${chunkError(0, V4_FIELDS.imageId, `was made against image ${toHex(deltaBase)}, but ${basePath} is image ${toHex(baseId)}: wrong base; nothing written`)}`);
  }
  if (deltaOwn.delta.kind === "full") return { layers: [{ path: deltaPath, headers: delta.headers, zeroFill: true, delta: false }], kind: "full" };
  const over = { path: deltaPath, headers: delta.headers, zeroFill: false, delta: true };
  if (o.baseInPlace === true) return { layers: [over], kind: "delta" };
  return { layers: [{ path: basePath, headers: base.headers, zeroFill: o.zeroFill, delta: false }, over], kind: "base+delta" };
}

function kindWord(m: DeltaMarker): string {
  return m.kind === "delta" ? "delta" : "full image saved as a delta";
}

/**
 * Before any write: a delta is read whole, checksums and
 * zlib streams; every version-4 image's checksums are checked (cheap: SHA-1 without inflating).
 */
async function precheck(layers: readonly Layer[], o: ReloadOptions): Promise<void> {
  for (const layer of layers) {
    const full = layer.delta;
    if (!full && layer.headers[0]?.v4 === undefined) continue;
    const fh = await open(layer.path, "r");
    try {
      await forEachChunk(fh, layer.path, layer.headers, { hash: nodeHash, ...(o.key === undefined ? {} : { key: o.key }), checkOnly: !full }, () => undefined);
    } finally {
      await fh.close();
    }
  }
}

async function writeLayers(layers: readonly Layer[], fh: FileHandle, diskBytes: number, targetBytes: number, kind: ReloadResult["layers"], o: ReloadOptions): Promise<ReloadResult> {
  const result: ReloadResult = { chunks: 0, dataBytes: 0, zeroBytes: 0, diskBytes, checks: { none: 0, sha1: 0, "signed-not-verified": 0, signature: 0 }, relocations: 0, layers: kind };
  const total = layers.reduce((s, l) => s + l.headers.length, 0);
  const offsetSectors = o.offsetSectors ?? 0;
  const target = { outputMinSector: offsetSectors, outputSectors: Math.floor(targetBytes / SECTOR_BYTES) - offsetSectors };
  for (const layer of layers) {
    const image = await open(layer.path, "r");
    try {
      await forEachChunk(image, layer.path, layer.headers, { hash: nodeHash, ...(o.key === undefined ? {} : { key: o.key }), ...(o.inFlight === undefined ? {} : { inFlight: o.inFlight }) }, async (c) => {
        await writeChunk(fh, layer, c, target, result);
        result.checks[c.check]++;
        result.chunks++;
        o.onProgress?.(result.chunks, total);
      });
    } finally {
      await image.close();
    }
  }
  return result;
}

const ZERO_PIECE_BYTES = 1024 * 1024;

async function writeChunk(fh: FileHandle, layer: Layer, c: ReadChunk, target: { outputMinSector: number; outputSectors: number }, result: ReloadResult): Promise<void> {
  const h = c.header;
  const base = target.outputMinSector * SECTOR_BYTES;
  let at = 0;
  for (const r of h.regions) {
    const bytes = r.sectorCount * SECTOR_BYTES;
    const data = c.data.subarray(at, at + bytes);
    let length = bytes;
    if (h.relocs.length > 0) {
      const applied = applyRelocs(data, r.startSector * SECTOR_BYTES, h.relocs, target);
      if (!applied.ok) throw new ImageCorruptError(`${layer.path}: ${chunkError(c.index, 0, applied.error)}`);
      length = applied.length;
      result.relocations += applied.applied;
    }
    await writeFully(fh, data.subarray(0, length), base + r.startSector * SECTOR_BYTES);
    at += bytes;
  }
  result.dataBytes += at;
  if (!layer.zeroFill) return;
  const gaps = freeRanges(h);
  const zeros = new Uint8Array(Math.min(ZERO_PIECE_BYTES, Math.max(0, ...gaps.map((g) => g.sectorCount * SECTOR_BYTES))));
  for (const gap of gaps) {
    for (let off = 0; off < gap.sectorCount * SECTOR_BYTES; off += zeros.length) {
      const n = Math.min(zeros.length, gap.sectorCount * SECTOR_BYTES - off);
      await writeFully(fh, zeros.subarray(0, n), base + gap.startSector * SECTOR_BYTES + off);
    }
    result.zeroBytes += gap.sectorCount * SECTOR_BYTES;
  }
}
