import { sealChunk } from "./checksum.js";
import { HEADER_V4_BYTES, IMAGE_ID_BYTES, IV_BYTES, V4_FIELDS, chunkError, type ChunkHeader, type ParseResult } from "./format.js";
import { bytesEqual, type HashPort } from "./hash.js";
import { CSUM_SHA1, encodeChunkHeader, parseChunkHeader } from "./header.js";

/**
 * A delta is an ordinary version-4 image (the original imageunzip lays it over its base) whose
 * chunks carry the base's image id in the image-id field, so the delta names its base. Its IV
 * field, unused because the chunk is not encrypted and covered by the chunk's checksum, holds a
 * marker: "TBDELTA1", the kind (a delta, or a full image written instead of a delta too large),
 * and the delta's own 16-byte id. The original ignores the IV of an unencrypted chunk.
 */
export const DELTA_MARKER = "TBDELTA1";
export type DeltaKind = "delta" | "full";
const KIND_BYTE: Record<DeltaKind, number> = { delta: 1, full: 2 };

export interface DeltaMarker {
  kind: DeltaKind;
  /** The delta's own id (the base's id is the chunk's image id). */
  deltaId: Uint8Array;
}

const magic = Uint8Array.from(DELTA_MARKER, (c) => c.charCodeAt(0));

export function encodeDeltaMarker(m: DeltaMarker): Uint8Array {
  const iv = new Uint8Array(IV_BYTES);
  iv.set(magic, 0);
  iv[8] = KIND_BYTE[m.kind];
  iv.set(m.deltaId.subarray(0, IMAGE_ID_BYTES), 16);
  return iv;
}

/** The marker of a chunk, or null for a chunk of an ordinary image. */
export function deltaMarkerOf(h: ChunkHeader): DeltaMarker | null {
  const iv = h.v4?.iv;
  if (iv === undefined || !bytesEqual(iv.subarray(0, 8), magic)) return null;
  const kind = iv[8] === KIND_BYTE.delta ? "delta" : iv[8] === KIND_BYTE.full ? "full" : null;
  if (kind === null) return null;
  return { kind, deltaId: iv.slice(16, 32) };
}

/**
 * An empty delta (nothing changed) is one version-4 chunk header and nothing else: 344 bytes, no
 * regions, no data, its `regionsize` the header's own size, its checksum over those bytes (the
 * original checksums `regionsize + size` bytes). Whole 1 MiB chunks cannot be this small: the
 * original imageunzip inflates a chunk's data from byte 4096 whatever `regionsize` says, and
 * asserts that a chunk has a region of at least one sector (imageunzip.c, inflate_subblock). It
 * reads an image 1 MiB at a time and ends at a short read without laying what it read, so it lays
 * this file as nothing, which is what an empty delta means; ours checks the base's id and the
 * marker in the header as for any delta.
 */
export const EMPTY_DELTA_BYTES = HEADER_V4_BYTES;
const REGION_SIZE_FIELD = 16;

export interface EmptyDelta {
  baseId: Uint8Array;
  deltaId: Uint8Array;
  /** The disk's size in sectors (the chunk's sector range, as the last chunk of any image says). */
  diskSectors: number;
}

export function encodeEmptyDelta(d: EmptyDelta, hash: HashPort): Uint8Array {
  const area = encodeChunkHeader({ compressedBytes: 0, chunkIndex: 0, firstSector: 0, lastSector: d.diskSectors, regions: [], v4: { csumType: CSUM_SHA1, imageId: d.baseId, iv: encodeDeltaMarker({ kind: "delta", deltaId: d.deltaId }) } });
  const bytes = area.slice(0, EMPTY_DELTA_BYTES);
  new DataView(bytes.buffer).setUint32(REGION_SIZE_FIELD, EMPTY_DELTA_BYTES, true);
  sealChunk(bytes, 0, hash, EMPTY_DELTA_BYTES);
  return bytes;
}

/** The header of a whole image file of EMPTY_DELTA_BYTES: an empty delta, or a named error. */
export function parseEmptyDelta(bytes: Uint8Array): ParseResult<ChunkHeader> {
  const h = parseChunkHeader(bytes, 0, "header-only");
  if (!h.ok) return h;
  const marker = deltaMarkerOf(h.value);
  if (marker?.kind !== "delta") return { ok: false, error: chunkError(0, V4_FIELDS.iv, `a file of one ${EMPTY_DELTA_BYTES}-byte chunk header is an empty delta, but this one has ${marker === null ? "no delta marker" : "the marker of a full image"}`) };
  return h;
}
