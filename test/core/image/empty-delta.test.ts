import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  EMPTY_DELTA_BYTES,
  HEADER_AREA_BYTES,
  checkChunk,
  deltaMarkerOf,
  encodeChunkHeader,
  encodeEmptyDelta,
  imageStats,
  parseChunkHeader,
  parseEmptyDelta,
  toHex,
} from "../../../core/image/index.js";
import { nodeHash } from "../../../real/image/hash.js";

/*
 * The empty delta (core/image/delta-format.ts): one version-4 chunk header, 344 bytes, no regions
 * and no data, which the original imageunzip lays as nothing (it stops at a short read).
 */
const baseId = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const deltaId = Uint8Array.from({ length: 16 }, (_, i) => i);
const empty = (): Uint8Array => encodeEmptyDelta({ baseId, deltaId, diskSectors: 16384 }, nodeHash);
const u32 = (b: Uint8Array, at: number): number => Buffer.from(b).readUInt32LE(at);

function withField(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const b = Buffer.from(bytes);
  b.writeUInt32LE(value, at);
  return b;
}

describe("the empty delta", () => {
  it("is the 344-byte version-4 header: no data, no regions, regionsize 344, naming the base and marked a delta", () => {
    const b = empty();
    expect(b.length).toBe(344);
    expect(EMPTY_DELTA_BYTES).toBe(344);
    expect([u32(b, 0), u32(b, 4), u32(b, 8), u32(b, 16), u32(b, 20), u32(b, 24), u32(b, 28), u32(b, 32)]).toEqual([0x6969696c, 0, 0, 344, 0, 0, 16384, 0]);
    const h = parseEmptyDelta(b);
    expect(h.ok).toBe(true);
    if (!h.ok) return;
    expect(h.value).toMatchObject({ version: 4, compressedBytes: 0, regionAreaBytes: 344, regions: [], relocs: [], firstSector: 0, lastSector: 16384 });
    expect(toHex(h.value.v4!.imageId)).toBe(toHex(baseId));
    expect(deltaMarkerOf(h.value)).toEqual({ kind: "delta", deltaId });
  });

  it("carries the SHA-1 the original computes: over regionsize + size bytes, the checksum field's first 64 bytes as zeros", () => {
    const b = empty();
    const zeroed = Buffer.from(b);
    zeroed.fill(0, 72, 136);
    expect(toHex(b.subarray(72, 92))).toBe(createHash("sha1").update(zeroed).digest("hex"));
    const h = parseEmptyDelta(b);
    if (!h.ok) throw new Error(h.error);
    expect(checkChunk(b, h.value, 0, nodeHash)).toEqual({ ok: true, check: "sha1" });
    const flipped = Buffer.from(b);
    flipped[343]! ^= 1;
    expect(checkChunk(flipped, h.value, 0, nodeHash)).toMatchObject({ ok: false, error: expect.stringMatching(/^chunk 0 at image byte 72: SHA-1 checksum mismatch/) });
  });

  it("refuses what is not one: a cut ordinary chunk, a wrong regionsize, a region, no marker, a full image's marker", () => {
    const b = empty();
    const cut = encodeChunkHeader({ compressedBytes: 900, chunkIndex: 0, firstSector: 0, lastSector: 8, regions: [{ startSector: 0, sectorCount: 8 }], v4: { csumType: 1, imageId: baseId } }).subarray(0, 344);
    expect(parseEmptyDelta(cut)).toEqual({ ok: false, error: expect.stringMatching(/^chunk 0 at image byte 0: cut short: 344 of its 1048576 bytes/) });
    expect(parseEmptyDelta(withField(b, 16, 4096))).toEqual({ ok: false, error: "chunk 0 at image byte 16: header area size 4096, expected 344 (a header-only chunk)" });
    expect(parseEmptyDelta(withField(b, 20, 1))).toEqual({ ok: false, error: "chunk 0 at image byte 20: 1 regions and 0 relocations do not fit the 344-byte header area" });
    expect(parseEmptyDelta(withField(b, 8, 1))).toMatchObject({ ok: false, error: "chunk 0 at image byte 8: header says chunk 1" });
    expect(parseEmptyDelta(withField(b, 0, 0x6969696b))).toMatchObject({ ok: false, error: expect.stringMatching(/cut short/) });
    const unmarked = Buffer.from(b);
    unmarked.fill(0, 40, 72);
    expect(parseEmptyDelta(unmarked)).toEqual({ ok: false, error: "chunk 0 at image byte 40: a file of one 344-byte chunk header is an empty delta, but this one has no delta marker" });
    const full = Buffer.from(b);
    full[48] = 2;
    expect(parseEmptyDelta(full)).toEqual({ ok: false, error: "chunk 0 at image byte 40: a file of one 344-byte chunk header is an empty delta, but this one has the marker of a full image" });
    expect(parseEmptyDelta(b.subarray(0, 343))).toMatchObject({ ok: false, error: expect.stringMatching(/cut short: 343 of/) });
  });

  it("is no ordinary chunk: a 4096-byte header area with no data is still refused as one", () => {
    const area = new Uint8Array(HEADER_AREA_BYTES);
    area.set(empty());
    expect(parseChunkHeader(area, 0)).toEqual({ ok: false, error: "chunk 0 at image byte 4: compressed size 0 is outside 1 to 1044480" });
  });

  it("counts as 344 bytes of header and no data in imagedump's figures", () => {
    const h = parseEmptyDelta(empty());
    if (!h.ok) throw new Error(h.error);
    expect(imageStats(344, [h.value])).toMatchObject({ imageBytes: 344, overheadBytes: 344, compressedBytes: 0, regions: 0, chunks: 1 });
  });

  it("never throws on random bytes or on an empty delta with random bytes changed: a header or a named error", () => {
    const mutated = fc.array(fc.tuple(fc.nat(EMPTY_DELTA_BYTES - 1), fc.nat(255)), { minLength: 1, maxLength: 8 }).map((edits) => {
      const b = empty();
      for (const [at, v] of edits) b[at] = v;
      return b;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ minLength: 0, maxLength: 400 }), mutated), (bytes) => {
        const h = parseEmptyDelta(bytes);
        if (h.ok) expect(h.value).toMatchObject({ compressedBytes: 0, regions: [], regionAreaBytes: 344 });
        else expect(h.error).toMatch(/^chunk \d+ at image byte \d+: /);
      }),
      { numRuns: 2000 },
    );
  });
});
