import { describe, expect, it } from "vitest";
import { CHUNK_BYTES, HEADER_AREA_BYTES, MAGIC_BASE, V4_FIELDS, encodeChunkHeader, magicVersion, parseChunkHeader } from "../../../core/image/index.js";

/*
 * Chunk header fields by version and their edges: what imageunzip reads from versions 1 and 2,
 * the chunk number when the caller does not know it, the limits on counts and sizes, the version-4
 * fields, and what the encoder refuses to write.
 */

/** A header area with the uint32 fields given (byte offset -> value). */
function area(fields: Record<number, number>, more: (v: DataView) => void = () => {}): Uint8Array {
  const b = new Uint8Array(HEADER_AREA_BYTES);
  const v = new DataView(b.buffer);
  for (const [at, value] of Object.entries(fields)) v.setUint32(Number(at), value, true);
  more(v);
  return b;
}

const V = (version: number): number => MAGIC_BASE + version - 1;

describe("chunk header fields by version", () => {
  it("version 1: no sector range or relocation fields; the range is the regions' own", () => {
    // Byte 32 would be a relocation count in version 2; in version 1 it is the second region's start.
    const b = area({ 0: V(1), 4: 100, 8: 0, 16: 4096, 20: 2, 24: 10, 28: 5, 32: 20, 36: 3 });
    expect(parseChunkHeader(b, 0)).toEqual({ ok: true, value: { version: 1, compressedBytes: 100, chunkIndex: 0, blockTotal: 0, regionAreaBytes: 4096, firstSector: 10, lastSector: 23, regions: [{ startSector: 10, sectorCount: 5 }, { startSector: 20, sectorCount: 3 }], relocs: [] } });
    const empty = parseChunkHeader(area({ 0: V(1), 4: 100, 16: 4096, 20: 0, 32: 9 }), 0);
    expect(empty.ok && [empty.value.firstSector, empty.value.lastSector, empty.value.relocs]).toEqual([0, 0, []]);
  });

  it("version 2: the sector range and relocations after the regions", () => {
    const b = area({ 0: V(2), 4: 100, 8: 3, 12: 7, 16: 4096, 20: 1, 24: 4, 28: 50, 32: 2, 36: 8, 40: 4, 44: 1, 48: 9, 52: 16, 56: 24, 60: 2, 64: 10, 68: 0, 72: 512 });
    expect(parseChunkHeader(b, 3)).toEqual({
      ok: true,
      value: { version: 2, compressedBytes: 100, chunkIndex: 3, blockTotal: 7, regionAreaBytes: 4096, firstSector: 4, lastSector: 50, regions: [{ startSector: 8, sectorCount: 4 }], relocs: [{ type: 1, sector: 9, sectorOffset: 16, bytes: 24 }, { type: 2, sector: 10, sectorOffset: 0, bytes: 512 }] },
    });
  });

  it("knows versions 1 to 16 by their magic and reads 1 to 4", () => {
    expect([magicVersion(MAGIC_BASE - 1), magicVersion(MAGIC_BASE), magicVersion(MAGIC_BASE + 15), magicVersion(MAGIC_BASE + 16)]).toEqual([null, 1, 16, null]);
    const r = parseChunkHeader(area({ 0: V(16) }), 0);
    expect(!r.ok && r.error).toBe("chunk 0 at image byte 0: image version 16 (64-bit chunks) is not supported; versions 1 to 4 are");
    expect(parseChunkHeader(area({ 0: V(17) }), 0)).toEqual({ ok: false, error: "chunk 0 at image byte 0: bad magic 0x69696979: not an image chunk" });
  });

  it("names the chunk by its own number when the caller does not know it, unless that number is negative", () => {
    const bad = (index: number): string => {
      const r = parseChunkHeader(area({ 0: V(3), 4: 0, 8: index }));
      return r.ok ? "" : r.error;
    };
    expect(bad(5)).toBe(`chunk 5 at image byte ${5 * CHUNK_BYTES + 4}: compressed size 0 is outside 1 to 1044480`);
    expect(bad(0x7fff_ffff)).toBe(`chunk 2147483647 at image byte ${0x7fff_ffff * CHUNK_BYTES + 4}: compressed size 0 is outside 1 to 1044480`);
    expect(bad(0x8000_0000)).toBe("chunk 0 at image byte 8: chunk number 2147483648 is negative");
    // With the caller's number, a header that says another is refused first.
    expect(parseChunkHeader(area({ 0: V(3), 4: 0, 8: 0x8000_0000 }), 2)).toEqual({ ok: false, error: `chunk 2 at image byte ${2 * CHUNK_BYTES + 8}: header says chunk 2147483648` });
  });

  it("refuses relocation counts that do not fit, and takes a header area filled exactly", () => {
    const r = parseChunkHeader(area({ 0: V(3), 4: 100, 16: 4096, 20: 0, 32: 5000 }), 0);
    expect(!r.ok && r.error).toBe("chunk 0 at image byte 20: 0 regions and 5000 relocations do not fit the 4096-byte header area");
    const r2 = parseChunkHeader(area({ 0: V(3), 4: 100, 16: 4096, 20: 0, 32: 254 }), 0);
    expect(!r2.ok && r2.error).toBe("chunk 0 at image byte 20: 0 regions and 254 relocations do not fit the 4096-byte header area");
    // 36 + 253 * 16 = 4084 bytes and 36 + 507 * 8 = 4092 fit.
    expect(parseChunkHeader(area({ 0: V(3), 4: 100, 16: 4096, 20: 0, 32: 253 }), 0).ok).toBe(true);
    const full = area({ 0: V(3), 4: 1000, 16: 4096, 20: 507, 24: 0, 28: 507 }, (v) => {
      for (let i = 0; i < 507; i++) {
        v.setUint32(36 + i * 8, i, true);
        v.setUint32(40 + i * 8, 1, true);
      }
    });
    expect(parseChunkHeader(full, 0).ok).toBe(true);
  });

  it("refuses a cut header area, pads a bad magic to 8 digits, takes the largest compressed size, and a version-1 area filled to its last byte", () => {
    expect(parseChunkHeader(new Uint8Array(100), 1)).toEqual({ ok: false, error: `chunk 1 at image byte ${CHUNK_BYTES}: cut short: 100 of its 1048576 bytes, the 1048476 from image byte ${CHUNK_BYTES + 100} on are missing (its 4096-byte header area is incomplete)` });
    expect(parseChunkHeader(area({ 0: 1 }), 0)).toEqual({ ok: false, error: "chunk 0 at image byte 0: bad magic 0x00000001: not an image chunk" });
    expect(parseChunkHeader(area({ 0: V(3), 4: 1_044_480, 16: 4096 }), 0).ok).toBe(true);
    // Version 1: 24 + 509 * 8 = 4096 bytes exactly.
    const regions = Array.from({ length: 509 }, (_, i) => ({ startSector: i * 2, sectorCount: 1 }));
    const b = encodeChunkHeader({ compressedBytes: 1000, chunkIndex: 0, firstSector: 0, lastSector: 1017, regions, version: 1 });
    const r = parseChunkHeader(b, 0);
    expect(r.ok && [r.value.regions.length, r.value.firstSector, r.value.lastSector]).toEqual([509, 0, 1017]);
  });

  it("refuses a first region that starts before the chunk's first sector, and a version-1 chunk takes no range from its empty region area", () => {
    const r = parseChunkHeader(area({ 0: V(3), 4: 100, 16: 4096, 20: 1, 24: 5, 28: 10, 36: 0, 40: 3 }), 0);
    expect(r).toEqual({ ok: false, error: "chunk 0 at image byte 36: regions [0, 3) stray outside the chunk's sectors [5, 10)" });
    const v1 = parseChunkHeader(area({ 0: V(1), 4: 100, 16: 4096, 20: 0, 24: 7, 28: 9 }), 0);
    expect(v1.ok && [v1.value.firstSector, v1.value.lastSector]).toEqual([0, 0]);
  });

  it("writes relocations after the regions, field by field", () => {
    const relocs = [{ type: 1, sector: 2, sectorOffset: 3, bytes: 4 }, { type: 5, sector: 6, sectorOffset: 7, bytes: 8 }];
    const b = encodeChunkHeader({ compressedBytes: 100, chunkIndex: 0, firstSector: 0, lastSector: 10, regions: [{ startSector: 0, sectorCount: 10 }], relocs });
    expect(Array.from(new Uint32Array(b.buffer.slice(44, 76)))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const r = parseChunkHeader(b, 0);
    expect(r.ok && r.value.relocs).toEqual(relocs);
  });

  it("refuses a region that runs past sector 2^32, and takes one that ends at it", () => {
    const region = (start: number, count: number) => parseChunkHeader(area({ 0: V(3), 4: 1_000_000, 16: 4096, 20: 1, 24: start, 28: 0xffff_ffff, 36: start, 40: count }), 0);
    expect(region(0xffff_fff0, 0x11)).toEqual({ ok: false, error: "chunk 0 at image byte 36: region 0 runs past sector 2^32" });
    // It ends at 2^32, past the 32-bit last sector the header can hold: refused as a stray, not as a wrap.
    expect(region(0xffff_fff0, 0x10)).toEqual({ ok: false, error: "chunk 0 at image byte 36: regions [4294967280, 4294967296) stray outside the chunk's sectors [4294967280, 4294967295)" });
    expect(region(0xffff_fff0, 0xf).ok).toBe(true);
  });

  it("refuses a chunk that would inflate past 1 GiB, whatever its compressed size", () => {
    const sectors = (count: number) => parseChunkHeader(area({ 0: V(3), 4: 1_044_480, 16: 4096, 20: 1, 24: 0, 28: count, 36: 0, 40: count }), 0);
    expect(sectors(2 ** 21).ok).toBe(true);
    expect(sectors(2 ** 21 + 1)).toEqual({ ok: false, error: "chunk 0 at image byte 36: regions add up to 1073742336 bytes, over the 1073741824-byte limit of one chunk" });
  });
});

describe("version-4 fields", () => {
  const v4 = (csumType: number, cipher = 0): ReturnType<typeof parseChunkHeader> =>
    parseChunkHeader(
      area({ 0: V(4), 4: 100, 16: 4096, 20: 0 }, (v) => {
        v.setUint16(V4_FIELDS.encCipher, cipher, true);
        v.setUint16(V4_FIELDS.csumType, csumType, true);
        for (let i = 0; i < 32; i++) v.setUint8(V4_FIELDS.iv + i, i + 1);
        for (let i = 0; i < 256; i++) v.setUint8(V4_FIELDS.checksum + i, 255 - i);
        for (let i = 0; i < 16; i++) v.setUint8(V4_FIELDS.imageId + i, 0xa0 + i);
      }),
      0,
    );

  it("copies the checksum kind, IV, checksum field and image id", () => {
    const r = v4(0x8001);
    expect(r.ok && r.value.v4).toEqual({
      encCipher: 0,
      csumType: 0x8001,
      iv: Uint8Array.from({ length: 32 }, (_, i) => i + 1),
      checksum: Uint8Array.from({ length: 256 }, (_, i) => 255 - i),
      imageId: Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i),
    });
    expect(r.ok && r.value.version).toBe(4);
    expect([v4(0).ok, v4(1).ok]).toEqual([true, true]);
  });

  it("refuses encrypted chunks and checksum kinds it cannot check, naming the field", () => {
    expect(v4(1, 3)).toEqual({ ok: false, error: `chunk 0 at image byte ${V4_FIELDS.encCipher}: encrypted chunk (cipher 3): encrypted images are not supported` });
    for (const kind of [2, 0xff, 0x8000, 0x8002, 0x0101, 0x4001]) {
      expect(v4(kind), kind.toString(16)).toEqual({ ok: false, error: `chunk 0 at image byte ${V4_FIELDS.csumType}: checksum type 0x${kind.toString(16)} is not one of none (0), SHA-1 (1), signed SHA-1 (0x8001)` });
    }
  });
});

describe("encoding a chunk header", () => {
  const base = { compressedBytes: 100, chunkIndex: 0, firstSector: 0, lastSector: 10, regions: [{ startSector: 0, sectorCount: 10 }] };

  it("writes the version asked for (1 to 3), and 4 only with its fields", () => {
    for (const version of [1, 2, 3]) {
      const r = parseChunkHeader(encodeChunkHeader({ ...base, version }), 0);
      expect(r.ok && r.value.version).toBe(version);
    }
    expect(new DataView(encodeChunkHeader({ ...base, version: 4 }).buffer).getUint32(0, true)).toBe(V(3));
    const iv = Uint8Array.from({ length: 40 }, (_, i) => i);
    const b = encodeChunkHeader({ ...base, v4: { csumType: 0x8001, imageId: new Uint8Array(16).fill(7), iv } });
    const r = parseChunkHeader(b, 0);
    expect(r.ok && r.value.v4).toMatchObject({ csumType: 0x8001, iv: iv.subarray(0, 32), imageId: new Uint8Array(16).fill(7), checksum: new Uint8Array(256) });
    expect(b[V4_FIELDS.iv + 32]).toBe(0);
  });

  it("refuses fields that are not uint32, an image id of the wrong size, and more than a chunk holds", () => {
    expect(() => encodeChunkHeader({ ...base, firstSector: -1 })).toThrow("header field at 24: -1 is not a uint32");
    expect(() => encodeChunkHeader({ ...base, lastSector: 2 ** 32 })).toThrow("header field at 28: 4294967296 is not a uint32");
    expect(() => encodeChunkHeader({ ...base, lastSector: 1.5 })).toThrow("header field at 28: 1.5 is not a uint32");
    expect(encodeChunkHeader({ ...base, lastSector: 2 ** 32 - 1 })[31]).toBe(0xff);
    expect(() => encodeChunkHeader({ ...base, v4: { csumType: 1, imageId: new Uint8Array(15) } })).toThrow("image id of 15 bytes, expected 16");
    expect(() => encodeChunkHeader({ ...base, compressedBytes: 1_044_481 })).toThrow("chunk 0: 1044481 compressed bytes overflow the chunk");
    expect(encodeChunkHeader({ ...base, compressedBytes: 1_044_480 }).length).toBe(HEADER_AREA_BYTES);
    const many = Array.from({ length: 508 }, (_, i) => ({ startSector: i, sectorCount: 1 }));
    expect(() => encodeChunkHeader({ ...base, regions: many })).toThrow("chunk 0: 508 regions do not fit the header area");
    expect(encodeChunkHeader({ ...base, regions: many.slice(0, 507) }).length).toBe(HEADER_AREA_BYTES);
  });
});
