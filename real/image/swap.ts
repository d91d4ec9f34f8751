import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, statSync, unlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { toHex, type RsaPublicKey } from "../../core/image/index.js";
import { writeOutputFileSync } from "../output/index.js";
import { epochNowUs } from "../runtime/index.js";
import { openDiskImageStore, openStore, type DiskImageRow, type DiskImageStore } from "../store/index.js";
import { DELTA_THRESHOLD_PERCENT_DEFAULT, makeDelta, type DeltaResult } from "./delta.js";
import { nodeEngine } from "./deflater.js";
import { fileDigest, imageIdentity } from "./identity.js";
import { reloadImage, type ReloadResult } from "./reload.js";
import { makeSignature, readSignature, signatureBytes } from "./signature.js";
import { readImageHeaders } from "./headers.js";
import { ImageIoError } from "./source.js";

/**
 * One node's part of saving and restoring disk state, for the experiment lifecycle (and the
 * `testbed swapout-node` / `swapin-node` commands):
 *
 * - `swapInNode` loads a node's partition from an image, or from the image it holds plus the
 *   delta it carries, and records in the store which image it now holds;
 * - `swapOutNode` makes the delta of the node's disk against that image (one cumulative delta,
 *   never a chain), with a timeout, reporting progress into the store's events, and records it;
 * - `collectGarbage` removes the signatures and deltas nothing references any more.
 *
 * Each image gets one signature, made once and shared by every node that loaded it.
 */
export interface NodeRef {
  /** The store file. */
  db: string;
  node: string;
  /** Partition number (1 for a whole disk). */
  partition: number;
}

export interface SwapInOptions extends NodeRef {
  /** The file or block device to write. */
  target: string;
  /** Load this image (the node's delta, if any, is dropped: a fresh load). Without it: the image the store names, plus the node's delta. */
  image?: string;
  /**
   * The target holds this image already (the node loaded it by Frisbee). It must be the image the
   * store names for the node; only the node's delta is laid, in place: the base is written once.
   */
  loaded?: string;
  /** Folder for signatures (made at the first load of an image). */
  dir: string;
  zeroFill?: boolean;
  fixedSize?: boolean;
  key?: RsaPublicKey;
  onProgress?: (chunksDone: number, chunks: number) => void;
}

export interface SwapInResult {
  node: string;
  partition: number;
  image: string;
  delta: string | null;
  reload: ReloadResult;
  seconds: number;
}

export interface SwapOutOptions extends NodeRef {
  /** The node's disk (file or block device) to save. */
  disk: string;
  /** Folder for deltas and signatures. */
  dir: string;
  /** Stop and record nothing after this long. */
  timeoutMs?: number;
  thresholdPercent?: number;
  level?: number;
  fsAware?: boolean;
  key?: RsaPublicKey;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

export interface SwapOutResult extends DeltaResult {
  node: string;
  partition: number;
  image: string;
  delta: string;
  seconds: number;
}

/** Progress events go into the store at most this often. */
export const SWAP_PROGRESS_EVENT_US = 1_000_000;

export class SwapError extends ImageIoError {
  override readonly name = "SwapError";
}

export async function swapInNode(o: SwapInOptions): Promise<SwapInResult> {
  const started = performance.now();
  // A bad --image is refused before the store is opened (or created); without --image the node's
  // disk must already be recorded: a --db that names no store is refused, never created.
  if (o.image !== undefined) await readImageHeaders(o.image);
  if (o.image !== undefined && o.loaded !== undefined) throw new SwapError("--image loads a fresh image and --loaded says one is on the target already: give one", true);
  const store = openDiskImageStore(o.db, { mustExist: o.image === undefined });
  try {
    let image: DiskImageRow;
    let delta: string | null = null;
    if (o.image !== undefined) image = await registerImage(store, o.image, o.dir, o.key);
    else {
      const held = store.nodeDisk(o.node, o.partition);
      if (held === undefined) throw new SwapError(`${o.node} partition ${o.partition}: the store holds no image for it; give --image`, true);
      image = store.image(held.image)!;
      delta = held.delta;
      if (o.loaded !== undefined) await checkLoaded(o.loaded, image, `${o.node} partition ${o.partition}`);
    }
    const reload = await reloadImage(image.path, delta, o.target, {
      zeroFill: o.zeroFill === true, fixedSize: o.fixedSize === true, baseInPlace: o.loaded !== undefined, ...(o.key === undefined ? {} : { key: o.key }), ...(o.onProgress === undefined ? {} : { onProgress: o.onProgress }),
    });
    if (o.image !== undefined) store.recordLoad(o.node, o.partition, image.digest);
    event(o.db, o.node, "image.swapin.done", { partition: o.partition, image: image.path, delta, layers: reload.layers, bytes: reload.dataBytes });
    return { node: o.node, partition: o.partition, image: image.path, delta, reload, seconds: (performance.now() - started) / 1000 };
  } finally {
    store.close();
  }
}

/** The image on the target must be the one the node's delta was made against: else nothing is written. */
async function checkLoaded(loaded: string, image: DiskImageRow, what: string): Promise<void> {
  const id = await imageIdentity(loaded);
  if (toHex(id.digest) !== image.digest) throw new SwapError(`${loaded}: is not the image the store holds for ${what} (${image.path}); nothing written`, true);
}

export async function swapOutNode(o: SwapOutOptions): Promise<SwapOutResult> {
  const started = performance.now();
  const store = openDiskImageStore(o.db, { mustExist: true });
  try {
    const held = store.nodeDisk(o.node, o.partition);
    if (held === undefined) throw new SwapError(`${o.node} partition ${o.partition}: the store holds no image for it (swapin-node records one)`, true);
    const image = store.image(held.image)!;
    const sigPath = await ensureSignature(store, image, o.dir, o.key);
    const signature = await readSignature(sigPath);
    mkdirSync(o.dir, { recursive: true });
    const deltaPath = resolve(join(o.dir, `${safeName(o.node)}.p${o.partition}.${randomBytes(6).toString("hex")}.ndz`));
    const signal = o.timeoutMs === undefined ? undefined : AbortSignal.timeout(o.timeoutMs);
    let lastEventUs = 0;
    const made = await makeDelta({ signature, imageId: signature.identity!.imageId }, sigPath, o.disk, deltaPath, {
      level: o.level ?? 4, engine: nodeEngine, thresholdPercent: o.thresholdPercent ?? DELTA_THRESHOLD_PERCENT_DEFAULT, granularityBytes: 4096, fsAware: o.fsAware ?? true,
      ...(o.key === undefined ? {} : { key: o.key }), ...(signal === undefined ? {} : { signal }),
      onProgress: (done, total) => {
        o.onProgress?.(done, total);
        const now = epochNowUs();
        if (now - lastEventUs < SWAP_PROGRESS_EVENT_US && done < total) return;
        lastEventUs = now;
        event(o.db, o.node, "image.swapout.progress", { partition: o.partition, doneBytes: done, totalBytes: total });
      },
    });
    const digest = toHex(await fileDigest(deltaPath, made.imageBytes));
    store.recordSave(o.node, o.partition, { path: deltaPath, digest, base: image.digest, kind: made.kind, deltaId: made.deltaId, bytes: made.imageBytes, dataBytes: made.dataBytes });
    event(o.db, o.node, "image.swapout.done", { partition: o.partition, delta: deltaPath, kind: made.kind, bytes: made.imageBytes, share: made.share });
    return { ...made, node: o.node, partition: o.partition, image: image.path, delta: deltaPath, seconds: (performance.now() - started) / 1000 };
  } finally {
    store.close();
  }
}

/**
 * Records that a node's partition now holds an image loaded some other way (Frisbee, for the
 * experiment's swap-in): its delta, if any, is dropped, and the image's signature is made once.
 */
export async function recordNodeLoad(o: NodeRef & { image: string; dir: string; key?: RsaPublicKey }): Promise<DiskImageRow> {
  const store = openDiskImageStore(o.db);
  try {
    const image = await registerImage(store, o.image, o.dir, o.key);
    store.recordLoad(o.node, o.partition, image.digest);
    event(o.db, o.node, "image.load.recorded", { partition: o.partition, image: image.path });
    return image;
  } finally {
    store.close();
  }
}

/** Records an image by content (the same bytes under another name are the same image). */
export async function registerImage(store: DiskImageStore, imagePath: string, dir: string, key?: RsaPublicKey): Promise<DiskImageRow> {
  const id = await imageIdentity(imagePath);
  if (id.delta !== null) throw new SwapError(`${imagePath}: is a delta, not an image to load a node from`, true);
  const digest = toHex(id.digest);
  store.addImage({ digest, imageId: toHex(id.imageId), path: resolve(imagePath), bytes: id.imageBytes });
  const row = store.image(digest)!;
  await ensureSignature(store, row, dir, key);
  return store.image(digest)!;
}

/** The image's one signature, made the first time it is needed and kept for every node. */
export async function ensureSignature(store: DiskImageStore, image: DiskImageRow, dir: string, key?: RsaPublicKey): Promise<string> {
  if (image.signature !== null && existsSync(image.signature)) return image.signature;
  mkdirSync(dir, { recursive: true });
  const path = resolve(join(dir, `${image.digest.slice(0, 32)}.ndzsig`));
  const made = await makeSignature(image.path, key === undefined ? {} : { key });
  if (toHex(made.signature.identity!.imageDigest) !== image.digest) throw new SwapError(`${image.path}: changed since it was recorded (its digest is no longer ${image.digest.slice(0, 16)}...)`);
  writeOutputFileSync(path, signatureBytes(made.signature), { what: "signature", inputs: [image.path] });
  store.setSignature(image.digest, path);
  return path;
}

export interface GcResult {
  dryRun: boolean;
  signatures: { image: string; path: string }[];
  deltas: { path: string; bytes: number }[];
  bytes: number;
}

/** Removes (or, dry, lists) signatures of images no node holds and deltas no node carries. */
export function collectGarbage(db: string, dryRun: boolean): GcResult {
  // Works on what the store records: a --db that names no store is refused, never created.
  const store = openDiskImageStore(db, { mustExist: true });
  try {
    const found = store.unreferenced();
    const result: GcResult = { dryRun, signatures: [], deltas: [], bytes: 0 };
    for (const s of found.signatures) {
      if (!dryRun && !store.forgetSignature(s.image, s.path)) continue;
      if (!dryRun) removeQuietly(s.path);
      result.signatures.push(s);
      result.bytes += sizeOf(s.path);
    }
    for (const d of found.deltas) {
      if (!dryRun && !store.forgetDelta(d.path)) continue;
      if (!dryRun) removeQuietly(d.path);
      result.deltas.push(d);
      result.bytes += d.bytes;
    }
    return result;
  } finally {
    store.close();
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone: the store no longer names it either
  }
}

function safeName(node: string): string {
  return node.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 64);
}

function event(db: string, node: string, kind: string, data: Record<string, unknown>): void {
  const store = openStore(db);
  try {
    store.insertEvents(null, [{ timeUs: epochNowUs(), host: node, kind, data }]);
  } finally {
    store.close();
  }
}
