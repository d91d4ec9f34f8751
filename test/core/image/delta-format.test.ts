import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CSUM_SHA1, DELTA_MARKER, IV_BYTES, V4_FIELDS, deltaMarkerOf, encodeChunkHeader, encodeDeltaMarker, parseChunkHeader, type ChunkHeader, type DeltaKind } from "../../../core/image/index.js";

/*
 * The delta marker in a version-4 chunk's IV field (core/image/delta-format.ts): written by
 * encodeDeltaMarker, carried through the chunk header's encoder and parser, read by deltaMarkerOf.
 * test/real/image checks it end to end on delta files; this checks the bytes and every refusal.
 */

const baseId = new Uint8Array(16).fill(0xb5);

/** A chunk header as parsed from bytes: version 4 with `iv`, or version 3 (no v4 fields). */
function chunkWith(iv: Uint8Array | undefined, version = 4): ChunkHeader {
  const fields = { compressedBytes: 10, chunkIndex: 0, firstSector: 0, lastSector: 8, regions: [{ startSector: 0, sectorCount: 8 }], version };
  const area = encodeChunkHeader(version === 4 ? { ...fields, v4: { csumType: CSUM_SHA1, imageId: baseId, ...(iv === undefined ? {} : { iv }) } } : fields);
  const h = parseChunkHeader(area, 0);
  if (!h.ok) throw new Error(h.error);
  return h.value;
}

const kinds: DeltaKind[] = ["delta", "full"];

describe("the delta marker", () => {
  it("is TBDELTA1, the kind byte (1 delta, 2 full), zeros, then the delta's 16-byte id", () => {
    const id = Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i);
    const iv = encodeDeltaMarker({ kind: "delta", deltaId: id });
    expect(iv.length).toBe(IV_BYTES);
    expect(String.fromCharCode(...iv.subarray(0, 8))).toBe(DELTA_MARKER);
    expect(Array.from(iv.subarray(8, 16))).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(iv.subarray(16)).toEqual(id);
    expect(encodeDeltaMarker({ kind: "full", deltaId: id })[8]).toBe(2);
  });

  it("survives the chunk header's encoder and parser for either kind and any id (property)", () => {
    fc.assert(fc.property(fc.constantFrom(...kinds), fc.uint8Array({ minLength: 16, maxLength: 16 }), (kind, deltaId) => {
      const h = chunkWith(encodeDeltaMarker({ kind, deltaId }));
      expect(h.v4?.iv.subarray(0, IV_BYTES)).toEqual(encodeDeltaMarker({ kind, deltaId }));
      const m = deltaMarkerOf(h);
      expect(m).toEqual({ kind, deltaId });
      expect(m?.deltaId.length).toBe(16);
    }), { numRuns: 200 });
  });

  it("gives an id of its own, not a view into the header", () => {
    const h = chunkWith(encodeDeltaMarker({ kind: "full", deltaId: new Uint8Array(16).fill(9) }));
    const m = deltaMarkerOf(h);
    h.v4!.iv.fill(0);
    expect(m?.deltaId).toEqual(new Uint8Array(16).fill(9));
  });

  it("is absent from an ordinary chunk: version 3, a zero IV, any other IV", () => {
    expect(deltaMarkerOf(chunkWith(undefined, 3))).toBeNull();
    expect(deltaMarkerOf(chunkWith(undefined))).toBeNull();
    expect(deltaMarkerOf(chunkWith(new Uint8Array(IV_BYTES).fill(0x5a)))).toBeNull();
  });

  it("is not read when any byte of TBDELTA1 differs, or the kind byte is neither 1 nor 2", () => {
    const good = encodeDeltaMarker({ kind: "delta", deltaId: baseId });
    for (let at = 0; at < 8; at++) {
      const iv = good.slice();
      iv[at]! ^= 0x20;
      expect(deltaMarkerOf(chunkWith(iv))).toBeNull();
    }
    for (const kindByte of [0, 3, 0x81, 0xff]) {
      const iv = good.slice();
      iv[8] = kindByte;
      expect(deltaMarkerOf(chunkWith(iv))).toBeNull();
    }
  });

  it("never throws on any IV, and reads a marker only behind TBDELTA1 (property)", () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: IV_BYTES, maxLength: IV_BYTES }), fc.boolean(), (iv, withMagic) => {
      if (withMagic) iv.set(encodeDeltaMarker({ kind: "delta", deltaId: baseId }).subarray(0, 8));
      const m = deltaMarkerOf(chunkWith(iv));
      const isMarker = String.fromCharCode(...iv.subarray(0, 8)) === DELTA_MARKER && (iv[8] === 1 || iv[8] === 2);
      expect(m === null).toBe(!isMarker);
      if (m !== null) expect(m.deltaId).toEqual(iv.subarray(16, 32));
    }), { numRuns: 300 });
  });
});

it("keeps the IV at its place in the version-4 header (byte 40)", () => {
  const iv = encodeDeltaMarker({ kind: "delta", deltaId: baseId });
  const area = encodeChunkHeader({ compressedBytes: 10, chunkIndex: 0, firstSector: 0, lastSector: 8, regions: [], v4: { csumType: CSUM_SHA1, imageId: baseId, iv } });
  expect(area.subarray(V4_FIELDS.iv, V4_FIELDS.iv + IV_BYTES)).toEqual(iv);
});
