import { readFileSync } from "node:fs";
import { inflateSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CHUNK_BYTES,
  HASH_TYPE_SHA1,
  HASH_TYPE_SHA256,
  HEADER_AREA_BYTES,
  SIG_ENTRY_BYTES,
  SIG_HEADER_BYTES,
  SIG_VERSION_2011,
  SIG_VERSION_2014,
  SignatureBuilder,
  TRAILER_BYTES,
  decodeSignature,
  encodeSignature,
  parseChunkHeader,
  regionPieces,
  type PieceAlignment,
  type Signature,
} from "../../../core/image/index.js";
import { nodeHash } from "../../../real/image/hash.js";
import { emulabFixture } from "../../fixtures/emulab.js";

/** Hashes an image's regions with the builder, inflating each chunk with node:zlib. */
function signatureOf(imageName: string, alignment: PieceAlignment, hashType = HASH_TYPE_SHA1): Signature {
  const image = readFileSync(emulabFixture(imageName));
  const builder = new SignatureBuilder(nodeHash, hashType, alignment);
  for (let i = 0; i < image.length / CHUNK_BYTES; i++) {
    const c = image.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);
    const h = parseChunkHeader(c, i);
    if (!h.ok) throw new Error(h.error);
    const data = inflateSync(c.subarray(HEADER_AREA_BYTES, HEADER_AREA_BYTES + h.value.compressedBytes));
    let at = 0;
    for (const r of h.value.regions) {
      builder.region(i, r.startSector, data.subarray(at, at + r.sectorCount * 512));
      at += r.sectorCount * 512;
    }
  }
  return { version: SIG_VERSION_2011, hashType, blockSectors: 128, entries: builder.entries, identity: null };
}

describe("signatures against the original imagehash", () => {
  it.each([
    ["disk-4mib.ndz", "region", "disk-4mib.ndz.sig"],
    ["disk-4mib.ndz", "absolute", "disk-4mib.fixedoffset.sig"],
    ["ext2-8mib.ndz", "region", "ext2-8mib.ndz.sig"],
  ] as const)("of %s with %s-aligned pieces are %s byte for byte", (image, alignment, sig) => {
    const ours = encodeSignature(signatureOf(image, alignment), nodeHash);
    expect(Buffer.from(ours).equals(readFileSync(emulabFixture(sig)))).toBe(true);
  });

  it("decode the original's file into the pieces its dump lists", () => {
    const d = decodeSignature(new Uint8Array(readFileSync(emulabFixture("disk-4mib.fixedoffset.sig"))), nodeHash);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    const dump = readFileSync(emulabFixture("disk-4mib.fixedoffset.sig.dump.txt"), "utf8").split("\n").filter((l) => l.startsWith("["));
    expect(d.value.entries.map((e) => `[${e.startSector}-${e.startSector + e.sectorCount - 1}]: chunk ${e.chunk}, hash ${Buffer.from(e.hash).toString("hex")}`)).toEqual(dump);
    expect(d.value.identity).toBeNull();
  });
});

describe("piece boundaries", () => {
  it("count from the region's start, or align to absolute 64 KiB offsets with short ends", () => {
    expect(regionPieces(5101, 300, 128, "region").map((p) => p.sectorCount)).toEqual([128, 128, 44]);
    expect(regionPieces(5101, 300, 128, "absolute")).toEqual([
      { startSector: 5101, sectorCount: 19 }, { startSector: 5120, sectorCount: 128 }, { startSector: 5248, sectorCount: 128 }, { startSector: 5376, sectorCount: 25 },
    ]);
  });
});

describe("pieces hashed by the caller", () => {
  it("pieces then add give the entries region gives, for every hash type and alignment", () => {
    fc.assert(
      fc.property(fc.nat(100_000), fc.integer({ min: 1, max: 700 }), fc.constantFrom(1, HASH_TYPE_SHA1, HASH_TYPE_SHA256), fc.constantFrom<PieceAlignment>("region", "absolute"), fc.nat(), (start, sectors, hashType, alignment, seed) => {
        const data = new Uint8Array(sectors * 512).map((_, i) => (i * 31 + seed) & 0xff);
        const whole = new SignatureBuilder(nodeHash, hashType, alignment);
        whole.region(3, start, data);
        const split = new SignatureBuilder(nodeHash, hashType, alignment);
        const kind = hashType === 1 ? "md5" : hashType === HASH_TYPE_SHA1 ? "sha1" : "sha256";
        for (const piece of split.pieces(start, sectors)) {
          const from = (piece.startSector - start) * 512;
          const h = nodeHash.create(kind);
          h.update(data.subarray(from, from + piece.sectorCount * 512));
          split.add(3, piece, h.digest());
        }
        expect(split.entries).toEqual(whole.entries);
      }),
      { numRuns: 60 },
    );
  });

  it("refuses a piece added out of order", () => {
    const b = new SignatureBuilder(nodeHash, HASH_TYPE_SHA1, "absolute");
    b.add(0, { startSector: 256, sectorCount: 128 }, new Uint8Array(20));
    expect(() => b.add(0, { startSector: 128, sectorCount: 128 }, new Uint8Array(20))).toThrow(/out of order/);
  });
});

const identity = { imageId: new Uint8Array(16).fill(0xab), imageDigest: new Uint8Array(32).fill(0xcd), imageBytes: 3 * CHUNK_BYTES, alignment: "absolute" as const };

describe("our trailer", () => {
  const sig = { ...signatureOf("disk-4mib.ndz", "absolute"), identity };
  const bytes = encodeSignature(sig, nodeHash);

  it("comes after the entries the original reads, and round-trips", () => {
    expect(bytes.length).toBe(SIG_HEADER_BYTES + 65 * SIG_ENTRY_BYTES + TRAILER_BYTES);
    expect(Buffer.from(bytes.subarray(0, 2112)).equals(readFileSync(emulabFixture("disk-4mib.fixedoffset.sig")))).toBe(true);
    expect(decodeSignature(bytes, nodeHash)).toEqual({ ok: true, value: sig });
  });

  it("catches a damaged byte anywhere, naming where", () => {
    for (const at of [200, 1500, 2112 + 30]) {
      const bad = bytes.slice();
      bad[at]! ^= 4;
      const d = decodeSignature(bad, nodeHash);
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.error).toMatch(/^byte \d+: /);
    }
  });

  it("says truncated, with the length, for a cut file", () => {
    expect(decodeSignature(bytes.subarray(0, 1000), nodeHash)).toEqual({ ok: false, error: "byte 1000: truncated: the header lists 65 entries (2112 bytes), the file has 1000 bytes" });
    expect(decodeSignature(bytes.subarray(0, 2150), nodeHash)).toMatchObject({ ok: false, error: expect.stringMatching(/^byte 2112: 38 bytes after the last entry are not a whole testbed trailer/) });
    expect(decodeSignature(bytes.subarray(0, 20), nodeHash)).toEqual({ ok: false, error: "byte 20: truncated: 20 bytes, shorter than the 32-byte header" });
  });
});

describe("signature validation", () => {
  const base = encodeSignature(signatureOf("disk-4mib.ndz", "region"), nodeHash);
  const withField = (at: number, value: number): Uint8Array => {
    const b = base.slice();
    new DataView(b.buffer).setUint32(at, value, true);
    return b;
  };
  it.each([
    ["a bad magic", 0, 0x41414141, /^byte 0: bad magic/],
    ["an unknown version", 8, 0x20200101, /^byte 8: signature version 0x20200101/],
    ["an unknown hash type", 12, 3, /^byte 12: hash type 3/],
    ["an empty entry", 32 + 4, 0, /^byte 36: entry 0 covers 0 sectors/],
    ["an entry longer than a hash block", 32 + 4, 129, /^byte 36: entry 0 covers 129 sectors/],
    ["overlapping entries", 64, 10, /^byte 64: entry 1 starts at sector 10, before the end of entry 0 \(128\)/],
    ["chunks going backwards", 32 + 64 * 32 + 8, 0, /^byte 2088: entry 64 is in chunk 0, before chunk 1/],
  ])("refuses %s", (_what, at, value, pattern) => {
    const d = decodeSignature(withField(at, value), nodeHash);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.error).toMatch(pattern);
  });

  it("reads the 2014 version with its block size, and SHA-256 pieces", () => {
    const sig = { ...signatureOf("disk-4mib.ndz", "absolute", HASH_TYPE_SHA256), version: SIG_VERSION_2014, identity };
    expect(decodeSignature(encodeSignature(sig, nodeHash), nodeHash)).toEqual({ ok: true, value: sig });
  });

  it("never throws on random bytes, and names an offset", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, withMagic) => {
      const b = bytes.slice();
      if (withMagic && b.length >= 16) {
        b.set(base.subarray(0, 16));
      }
      const d = decodeSignature(b, nodeHash);
      if (!d.ok) expect(d.error).toMatch(/^byte \d+: \S/);
    }), { numRuns: 1000 });
  });

  it("round-trips any generated signature", () => {
    const entries = fc.array(fc.tuple(fc.nat(50), fc.integer({ min: 1, max: 128 }), fc.nat(3), fc.uint8Array({ minLength: 20, maxLength: 20 })), { maxLength: 40 }).map((raw) => {
      let at = 0;
      let chunk = 0;
      return raw.map(([gap, size, dc, hash]) => {
        at += gap;
        chunk += dc;
        const e = { startSector: at, sectorCount: size, chunk, spansChunks: false, hash };
        at += size;
        return e;
      });
    });
    fc.assert(fc.property(entries, fc.boolean(), (list, withId) => {
      const sig: Signature = { version: SIG_VERSION_2011, hashType: HASH_TYPE_SHA1, blockSectors: 128, entries: list, identity: withId ? identity : null };
      expect(decodeSignature(encodeSignature(sig, nodeHash), nodeHash)).toEqual({ ok: true, value: sig });
    }), { numRuns: 200 });
  });
});
