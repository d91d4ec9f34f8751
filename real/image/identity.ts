import { open } from "node:fs/promises";
import {
  CHUNK_BYTES,
  V4_FIELDS,
  bytesEqual,
  chunkError,
  deltaMarkerOf,
  toHex,
  type ChunkHeader,
  type DeltaMarker,
} from "../../core/image/index.js";
import { nodeHash } from "./hash.js";
import { readFully } from "./source.js";
import { ImageCorruptError, readImageHeaders } from "./headers.js";

/** An image's identity: what a signature and a delta name it by. */
export interface ImageIdentity {
  path: string;
  imageBytes: number;
  version: number;
  /** Version 4: the id in every chunk; older images: the first 16 bytes of `digest`. */
  imageId: Uint8Array;
  /** SHA-256 of the whole file. */
  digest: Uint8Array;
  /** Set when the image is a delta (or a full image written in place of one): the base's id is `imageId`. */
  delta: DeltaMarker | null;
  headers: ChunkHeader[];
}

const DIGEST_READ_BYTES = 8 * CHUNK_BYTES;

/**
 * Reads every header and hashes the whole file. A version-4 image whose chunks disagree on their
 * image id (or on being a delta) is refused, naming the first chunk that differs.
 */
export async function imageIdentity(path: string): Promise<ImageIdentity> {
  const { imageBytes, headers } = await readImageHeaders(path);
  const own = chunkIdentity(path, headers);
  const digest = await fileDigest(path, imageBytes);
  return { path, imageBytes, version: own.version, imageId: own.v4Id ?? digest.slice(0, 16), digest, delta: own.delta, headers };
}

/**
 * What the chunk headers alone say: the version, the version-4 image id (null before version 4)
 * and the delta marker. Chunks that disagree are refused, naming the first that differs.
 */
export function chunkIdentity(path: string, headers: readonly ChunkHeader[]): { version: number; v4Id: Uint8Array | null; delta: DeltaMarker | null } {
  const first = headers[0]!;
  const delta = deltaMarkerOf(first);
  for (const [i, h] of headers.entries()) {
    if (h.version !== first.version) throw new ImageCorruptError(`${path}: ${chunkError(i, 0, `version ${h.version}, but chunk 0 is version ${first.version}`)}`);
    if (first.v4 === undefined || h.v4 === undefined) continue;
    if (!bytesEqual(h.v4.imageId, first.v4.imageId)) throw new ImageCorruptError(`${path}: ${chunkError(i, V4_FIELDS.imageId, `image id ${toHex(h.v4.imageId)}, but chunk 0 says ${toHex(first.v4.imageId)}: chunks of two images`)}`);
    const m = deltaMarkerOf(h);
    if ((m === null) !== (delta === null) || (m !== null && delta !== null && (m.kind !== delta.kind || !bytesEqual(m.deltaId, delta.deltaId)))) {
      throw new ImageCorruptError(`${path}: ${chunkError(i, V4_FIELDS.iv, "its delta marker differs from chunk 0's: chunks of two images")}`);
    }
  }
  return { version: first.version, v4Id: first.v4?.imageId ?? null, delta };
}

export async function fileDigest(path: string, bytes: number): Promise<Uint8Array> {
  const h = nodeHash.create("sha256");
  const fh = await open(path, "r");
  try {
    const buf = new Uint8Array(Math.min(DIGEST_READ_BYTES, Math.max(1, bytes)));
    for (let at = 0; at < bytes; at += buf.length) {
      const n = Math.min(buf.length, bytes - at);
      await readFully(fh, buf, n, at, path);
      h.update(buf.subarray(0, n));
    }
  } finally {
    await fh.close();
  }
  return h.digest();
}
