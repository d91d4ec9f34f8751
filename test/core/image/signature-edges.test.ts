import { describe, expect, it } from "vitest";
import { HASH_TYPE_SHA1, SIG_VERSION_2014, SignatureBuilder, decodeSignature, encodeSignature, type Signature } from "../../../core/image/index.js";
import { nodeHash } from "../../../real/image/hash.js";

/*
 * The edges of core/image/signature.ts that signature.test.ts and signature-layout.test.ts leave:
 * the smallest hash block a 2014 file may name, bit 31 on chunk 0, and what SignatureBuilder.add
 * takes (pieces that touch) and refuses (a piece repeated or overlapping the last one, which
 * decodeSignature would refuse in the file).
 */

const identity = { imageId: new Uint8Array(16).fill(1), imageDigest: new Uint8Array(32).fill(2), imageBytes: 4096, alignment: "absolute" as const };
const entry = (startSector: number, sectorCount: number, chunk: number, spansChunks: boolean) => ({ startSector, sectorCount, chunk, spansChunks, hash: new Uint8Array(20).fill(startSector + 1) });

describe(".ndzsig edges", () => {
  it("decodes a 2014 file whose hash block is 1 sector, the smallest", () => {
    const sig: Signature = { version: SIG_VERSION_2014, hashType: HASH_TYPE_SHA1, blockSectors: 1, entries: [entry(0, 1, 0, false), entry(1, 1, 0, false)], identity };
    expect(decodeSignature(encodeSignature(sig, nodeHash), nodeHash)).toEqual({ ok: true, value: sig });
  });

  it("reads bit 31 alone as a piece of chunk 0 that spans into chunk 1", () => {
    const sig: Signature = { version: SIG_VERSION_2014, hashType: HASH_TYPE_SHA1, blockSectors: 128, entries: [entry(0, 8, 0, true), entry(8, 8, 1, false)], identity };
    const bytes = encodeSignature(sig, nodeHash);
    expect(Array.from(bytes.subarray(32 + 8, 32 + 12))).toEqual([0, 0, 0, 0x80]);
    expect(decodeSignature(bytes, nodeHash)).toEqual({ ok: true, value: sig });
  });
});

describe("SignatureBuilder.add", () => {
  const builder = (): SignatureBuilder => {
    const b = new SignatureBuilder(nodeHash, HASH_TYPE_SHA1, "absolute");
    b.add(0, { startSector: 128, sectorCount: 128 }, new Uint8Array(20).fill(1));
    return b;
  };

  it("takes a piece that touches the last one, keeping 20 bytes of a longer digest", () => {
    const b = builder();
    b.add(1, { startSector: 256, sectorCount: 8 }, new Uint8Array(32).fill(2));
    expect(b.entries.map((e) => [e.startSector, e.sectorCount, e.chunk, e.hash.length, e.hash[19]])).toEqual([[128, 128, 0, 20, 1], [256, 8, 1, 20, 2]]);
  });

  it("refuses a piece repeated, overlapping the last one or before it, as the decoder refuses such a file", () => {
    for (const start of [128, 200, 255, 0]) {
      const b = builder();
      expect(() => b.add(0, { startSector: start, sectorCount: 8 }, new Uint8Array(20))).toThrow("SignatureBuilder.add: pieces out of order or overlapping");
      expect(b.entries).toHaveLength(1);
    }
  });
});
