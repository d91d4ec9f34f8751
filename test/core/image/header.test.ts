import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CHUNK_BYTES,
  CHUNK_REGIONS_MAX,
  HEADER_AREA_BYTES,
  encodeChunkHeader,
  freeRanges,
  imageChunkCount,
  parseChunkHeader,
  regionDataBytes,
  type Region,
} from "../../../core/image/index.js";
import { emulabFixture } from "../../fixtures/emulab.js";

const ndz = new Uint8Array(readFileSync(emulabFixture("disk-4mib.ndz")));
const NAMED_ERROR = /^chunk \d+ at image byte \d+: \S/;

function chunk(i: number): Uint8Array {
  return ndz.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);
}

describe("chunk header parsing against the original imagezip's bytes", () => {
  it("reads chunk 0 of disk-4mib.ndz as imagedump does: version 3, 1043068 bytes, sectors [0, 5101)", () => {
    const r = parseChunkHeader(chunk(0), 0);
    expect(r).toEqual({
      ok: true,
      value: {
        version: 3, compressedBytes: 1043068, chunkIndex: 0, blockTotal: 0, regionAreaBytes: 4096,
        firstSector: 0, lastSector: 5101, regions: [{ startSector: 0, sectorCount: 5101 }], relocs: [],
      },
    });
  });

  it("reads chunk 1 as sectors [5101, 8192) with one region of 3091 sectors", () => {
    const r = parseChunkHeader(chunk(1), 1);
    expect(r.ok && r.value).toMatchObject({ compressedBytes: 537621, firstSector: 5101, lastSector: 8192, regions: [{ startSector: 5101, sectorCount: 3091 }] });
  });

  it("re-encodes both headers to the original's 4096 bytes exactly", () => {
    for (const i of [0, 1]) {
      const r = parseChunkHeader(chunk(i), i);
      if (!r.ok) throw new Error(r.error);
      expect(Buffer.from(encodeChunkHeader(r.value)).equals(Buffer.from(chunk(i).subarray(0, HEADER_AREA_BYTES)))).toBe(true);
    }
  });
});

describe("chunk header validation", () => {
  const withField = (at: number, value: number): Uint8Array => {
    const b = new Uint8Array(chunk(0).subarray(0, HEADER_AREA_BYTES));
    new DataView(b.buffer).setUint32(at, value, true);
    return b;
  };

  // Each row breaks one field and expects exactly the one error that field causes, in full.
  it.each([
    ["a bad magic", 0, 0x12345678, "chunk 0 at image byte 0: bad magic 0x12345678: not an image chunk"],
    ["version 5 (64-bit sectors)", 0, 0x6969696d, "chunk 0 at image byte 0: image version 5 (64-bit chunks) is not supported; versions 1 to 4 are"],
    ["a wrong chunk number", 8, 7, "chunk 0 at image byte 8: header says chunk 7"],
    ["a zero compressed size", 4, 0, "chunk 0 at image byte 4: compressed size 0 is outside 1 to 1044480"],
    ["a compressed size past the chunk", 4, 1044481, "chunk 0 at image byte 4: compressed size 1044481 is outside 1 to 1044480"],
    ["a header area that is not 4096", 16, 8192, "chunk 0 at image byte 16: header area size 8192, expected 4096"],
    ["too many regions", 20, 600, "chunk 0 at image byte 20: 600 regions and 0 relocations do not fit the 4096-byte header area"],
    ["an empty region", 40, 0, "chunk 0 at image byte 36: region 0 is empty"],
    ["a region outside the chunk's sectors", 36, 10, "chunk 0 at image byte 36: regions [10, 5111) stray outside the chunk's sectors [0, 5101)"],
    ["first sector after last", 24, 6000, "chunk 0 at image byte 24: first sector 6000 is after last sector 5101"],
  ])("refuses %s with a named error", (_what, at, value, expected) => {
    const r = parseChunkHeader(withField(at, value), 0);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toMatch(NAMED_ERROR);
      expect(r.error).toBe(expected);
    }
  });

  it("refuses regions that claim more than 1032 times the compressed size (deflate's most), and takes exactly that much", () => {
    const header = (compressedBytes: number, sectorCount: number): Uint8Array =>
      encodeChunkHeader({ compressedBytes, chunkIndex: 0, firstSector: 0, lastSector: sectorCount, regions: [{ startSector: 0, sectorCount }] });
    // 100 compressed bytes may hold 100 * 1032 + 1024 = 104,224 bytes: 203 sectors (103,936) do, 204 (104,448) do not.
    expect(parseChunkHeader(header(100, 203), 0).ok).toBe(true);
    expect(parseChunkHeader(header(100, 204), 0)).toEqual({ ok: false, error: "chunk 0 at image byte 4: regions add up to 104448 bytes, more than 100 compressed bytes can hold" });
    // The bound is exact at a sector boundary: 1032 * 64 + 1024 = 67,072 = 131 sectors, so '>' and not '>='.
    expect(parseChunkHeader(header(64, 131), 0).ok).toBe(true);
    expect(parseChunkHeader(header(63, 131), 0)).toEqual({ ok: false, error: "chunk 0 at image byte 4: regions add up to 67072 bytes, more than 63 compressed bytes can hold" });
  });

  it("names the chunk it was told and the image byte offset within the whole file", () => {
    const r = parseChunkHeader(withField(0, 1), 5);
    expect(!r.ok && r.error).toMatch(/^chunk 5 at image byte 5242880: bad magic/);
  });

  it("refuses overlapping regions", () => {
    const b = encodeChunkHeader({ compressedBytes: 100, chunkIndex: 0, firstSector: 0, lastSector: 100, regions: [{ startSector: 0, sectorCount: 10 }, { startSector: 10, sectorCount: 5 }] });
    new DataView(b.buffer).setUint32(44, 9, true);
    const r = parseChunkHeader(b, 0);
    expect(!r.ok && r.error).toMatch(/region 1 starts at sector 9, before the end of the previous region \(10\)/);
  });

  it("never throws on random header areas: a value or a named error", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: HEADER_AREA_BYTES + 64 }), fc.option(fc.nat(1000), { nil: undefined }), (bytes, n) => {
        const r = parseChunkHeader(bytes, n);
        if (!r.ok) expect(r.error).toMatch(NAMED_ERROR);
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws on headers with a valid magic and random fields", () => {
    const magicked = fc.tuple(fc.constantFrom(0x69696969, 0x6969696a, 0x6969696b), fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.nat(3)).map(([magic, body, regions]) => {
      const b = new Uint8Array(HEADER_AREA_BYTES);
      b.set(body, 4);
      const v = new DataView(b.buffer);
      v.setUint32(0, magic, true);
      v.setUint32(16, HEADER_AREA_BYTES, true);
      v.setUint32(20, regions, true);
      return b;
    });
    fc.assert(
      fc.property(magicked, (bytes) => {
        const r = parseChunkHeader(bytes);
        if (!r.ok) expect(r.error).toMatch(NAMED_ERROR);
        else expect(r.value.firstSector).toBeLessThanOrEqual(r.value.lastSector);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("chunk header encoding", () => {
  const regionList: fc.Arbitrary<Region[]> = fc.array(fc.tuple(fc.nat(1000), fc.integer({ min: 1, max: 1000 })), { maxLength: CHUNK_REGIONS_MAX }).map((pairs) => {
    let at = 0;
    return pairs.map(([gap, size]) => {
      const r = { startSector: at + gap, sectorCount: size };
      at = r.startSector + size;
      return r;
    });
  });

  it("round-trips any region list that fits the header area", () => {
    fc.assert(
      fc.property(regionList, fc.nat(1000), fc.nat(5000), fc.integer({ min: 1, max: 1044480 }), (regions, index, tail, size) => {
        const lastSector = (regions.at(-1) === undefined ? 0 : regions.at(-1)!.startSector + regions.at(-1)!.sectorCount) + tail;
        const firstSector = regions[0]?.startSector ?? 0;
        if (regionDataBytes(regions) > size * 1032) return;
        const r = parseChunkHeader(encodeChunkHeader({ compressedBytes: size, chunkIndex: index, firstSector, lastSector, regions }), index);
        expect(r).toEqual({ ok: true, value: { version: 3, compressedBytes: size, chunkIndex: index, blockTotal: 0, regionAreaBytes: 4096, firstSector, lastSector, regions, relocs: [] } });
      }),
      { numRuns: 300 },
    );
  });

  it("treats more regions than fit as a bug", () => {
    const regions = Array.from({ length: CHUNK_REGIONS_MAX + 1 }, (_, i) => ({ startSector: i * 2, sectorCount: 1 }));
    expect(() => encodeChunkHeader({ compressedBytes: 10, chunkIndex: 0, firstSector: 0, lastSector: 2000, regions })).toThrow(/do not fit/);
  });
});

describe("free space and sizes", () => {
  it("lists the gaps between regions inside the chunk's sectors", () => {
    expect(freeRanges({ firstSector: 0, lastSector: 100, regions: [{ startSector: 8, sectorCount: 8 }, { startSector: 40, sectorCount: 10 }] })).toEqual([
      { startSector: 0, sectorCount: 8 },
      { startSector: 16, sectorCount: 24 },
      { startSector: 50, sectorCount: 50 },
    ]);
    expect(freeRanges({ firstSector: 0, lastSector: 5101, regions: [{ startSector: 0, sectorCount: 5101 }] })).toEqual([]);
  });

  it("counts whole and partial 1 MiB chunks", () => {
    expect([0, 1, CHUNK_BYTES, CHUNK_BYTES + 1, 2 * CHUNK_BYTES].map(imageChunkCount)).toEqual([0, 1, 1, 2, 2]);
  });
});
