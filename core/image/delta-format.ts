import { IMAGE_ID_BYTES, IV_BYTES, type ChunkHeader } from "./format.js";
import { bytesEqual } from "./hash.js";

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
