import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  HASH_TYPE_MD5,
  HASH_TYPE_SHA1,
  SIG_VERSION_2011,
  SIG_VERSION_2014,
  SignatureBuilder,
  TRAILER_BYTES,
  decodeSignature,
  digestOf,
  encodeSignature,
  pieceHash,
  type Signature,
} from "../../../core/image/index.js";
import { nodeHash } from "../../../real/image/hash.js";

/*
 * The .ndzsig layout field by field: the 2011 and 2014 headers, entries that span chunks, our
 * trailer's fields and each of its refusals, MD5 pieces as imagehash pads them.
 */

const hash = (n: number): Uint8Array => new Uint8Array(20).fill(n);
const identity = { imageId: new Uint8Array(16).fill(1), imageDigest: new Uint8Array(32).fill(2), imageBytes: 2 ** 32 + 5, alignment: "absolute" as const };
const sig = (more: Partial<Signature> = {}): Signature => ({
  version: SIG_VERSION_2011,
  hashType: HASH_TYPE_SHA1,
  blockSectors: 128,
  entries: [
    { startSector: 0, sectorCount: 128, chunk: 0, spansChunks: false, hash: hash(1) },
    { startSector: 128, sectorCount: 5, chunk: 1, spansChunks: true, hash: hash(2) },
  ],
  identity,
  ...more,
});
const u32 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset).getUint32(at, true);
/** Sets a uint32 and reseals the trailer's SHA-256 of the file, so that only the field is wrong. */
function withField(b: Uint8Array, at: number, value: number): Uint8Array {
  const out = b.slice();
  new DataView(out.buffer).setUint32(at, value, true);
  const body = out.length - TRAILER_BYTES;
  out.set(digestOf(nodeHash, "sha256", out.subarray(0, body + 72)), body + 72);
  return out;
}

describe(".ndzsig layout", () => {
  it("writes the 2011 header without a block size and the 2014 one with it at byte 20", () => {
    const b11 = encodeSignature(sig(), nodeHash);
    expect([u32(b11, 8), u32(b11, 12), u32(b11, 16), u32(b11, 20)]).toEqual([SIG_VERSION_2011, HASH_TYPE_SHA1, 2, 0]);
    const b14 = encodeSignature(sig({ version: SIG_VERSION_2014, blockSectors: 256 }), nodeHash);
    expect(u32(b14, 20)).toBe(256);
    expect(decodeSignature(b14, nodeHash)).toEqual({ ok: true, value: sig({ version: SIG_VERSION_2014, blockSectors: 256 }) });
  });

  it("marks an entry that continues into the next chunk with bit 31 of its chunk number", () => {
    const b = encodeSignature(sig(), nodeHash);
    expect([u32(b, 32 + 8), u32(b, 64 + 8)]).toEqual([0, 0x8000_0001]);
    expect(Array.from(b.subarray(64, 72))).toEqual([128, 0, 0, 0, 5, 0, 0, 0]);
    const d = decodeSignature(b, nodeHash);
    expect(d.ok && d.value.entries.map((e) => [e.chunk, e.spansChunks])).toEqual([[0, false], [1, true]]);
  });

  it("keeps the trailer's image size (above 4 GiB), id, digest and alignment", () => {
    const b = encodeSignature(sig(), nodeHash);
    const t = b.subarray(b.length - TRAILER_BYTES);
    expect([String.fromCharCode(...t.subarray(0, 8)), u32(t, 8), u32(t, 12), u32(t, 16), u32(t, 20)]).toEqual(["TBSIGID1", TRAILER_BYTES, 1, 5, 1]);
    const region = encodeSignature(sig({ identity: { ...identity, alignment: "region", imageBytes: 7 } }), nodeHash);
    const d = decodeSignature(region, nodeHash);
    expect(d.ok && d.value.identity).toEqual({ ...identity, alignment: "region", imageBytes: 7 });
    expect(u32(region, region.length - TRAILER_BYTES + 12)).toBe(0);
    expect(encodeSignature(sig({ identity: null }), nodeHash).length).toBe(32 + 2 * 32);
  });

  it("refuses each bad field of the header, the entries and the trailer in one line naming its byte", () => {
    const b = encodeSignature(sig(), nodeHash);
    const body = b.length - TRAILER_BYTES;
    const d = (bytes: Uint8Array): string => {
      const r = decodeSignature(bytes, nodeHash);
      return r.ok ? "ok" : r.error;
    };
    const b14 = encodeSignature(sig({ version: SIG_VERSION_2014 }), nodeHash);
    expect(d(withField(b14, 20, 0))).toBe("byte 20: hash block of 0 sectors is outside 1 to 65536");
    expect(d(withField(b14, 20, 65537))).toBe("byte 20: hash block of 65537 sectors is outside 1 to 65536");
    expect(d(withField(b14, 20, 65536))).toBe("ok");
    expect(d(withField(b, 12, 3))).toBe("byte 12: hash type 3 is not MD5 (1), SHA-1 (2) or SHA-256 (4)");
    expect(d(withField(b, 8, 0x20200101))).toBe("byte 8: signature version 0x20200101 is not 0x20031107 or 0x20140618");
    expect(d(withField(b, 64, 0xffff_fffe))).toBe("byte 64: entry 1 runs past sector 2^32");
    expect(d(withField(b, 64, 0xffff_fffb))).toBe("ok");
    expect(d(withField(b, 36, 129))).toBe("byte 36: entry 0 covers 129 sectors, not 1 to 128");
    expect(d(withField(b, 64, 127))).toBe("byte 64: entry 1 starts at sector 127, before the end of entry 0 (128)");
    expect(d(withField(b, 72, 0))).toBe("ok");
    expect(d(withField(withField(b, 40, 2), 72, 1))).toBe("byte 72: entry 1 is in chunk 1, before chunk 2 of the entry ahead of it");
    // The trailer.
    expect(d(withField(b, body + 12, 2))).toBe(`byte ${body + 12}: trailer flags 2 or image size unknown`);
    expect(d(withField(b, body + 20, 0x20_0000))).toBe(`byte ${body + 12}: trailer flags 1 or image size unknown`);
    expect(d(withField(b, body + 20, 0x1f_ffff))).toBe("ok");
    expect(d(withField(b, body + 8, 105))).toBe(`byte ${body + 8}: trailer of 104 bytes, expected 104`);
    const longer = new Uint8Array(b.length + 1);
    longer.set(b);
    expect(d(longer)).toBe(`byte ${body + 8}: trailer of 105 bytes, expected 104`);
    const damaged = b.slice();
    damaged[body + 30]! ^= 1;
    expect(d(damaged)).toBe(`byte ${body + 72}: the file's SHA-256 does not match its trailer: the signature is damaged`);
    const renamed = b.slice();
    renamed[body + 7] = 0x32;
    expect(d(renamed)).toBe(`byte ${body}: 104 bytes after the last entry are not a whole testbed trailer (104 bytes from "TBSIGID1")`);
  });
});

describe("pieces and their hashes", () => {
  it("pads an MD5 to the entry's 20 bytes, and knows no hash type 3", () => {
    const data = new Uint8Array(512).fill(9);
    const md5 = createHash("md5").update(data).digest();
    expect(Buffer.from(pieceHash(nodeHash, HASH_TYPE_MD5, data))).toEqual(Buffer.concat([md5, Buffer.alloc(4)]));
    expect(() => pieceHash(nodeHash, 3, data)).toThrow("hash type 3 has no hash function");
  });

  it("hashes whole sectors only, and counts pieces from the region's start or from absolute 64 KiB offsets", () => {
    const b = new SignatureBuilder(nodeHash, HASH_TYPE_SHA1, "region", 4);
    expect(() => b.region(0, 0, new Uint8Array(513))).toThrow("SignatureBuilder.region: data must be whole sectors");
    b.region(0, 2, new Uint8Array(9 * 512));
    expect(b.entries.map((e) => [e.startSector, e.sectorCount])).toEqual([[2, 4], [6, 4], [10, 1]]);
    const a = new SignatureBuilder(nodeHash, HASH_TYPE_SHA1, "absolute", 4);
    a.region(3, 2, new Uint8Array(9 * 512));
    expect(a.entries.map((e) => [e.startSector, e.sectorCount, e.chunk])).toEqual([[2, 2, 3], [4, 4, 3], [8, 3, 3]]);
    expect(a.pieces(8, 4)).toEqual([{ startSector: 8, sectorCount: 4 }]);
  });
});
