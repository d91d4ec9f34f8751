import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CHUNK_BYTES,
  CSUM_SHA1,
  HEADER_AREA_BYTES,
  checkChunk,
  encodeChunkHeader,
  parseChunkHeader,
  parseSigningKey,
  sealChunk,
  toHex,
  type ChunkHeader,
} from "../../../core/image/index.js";
import { nodeHash } from "../../../real/image/hash.js";
import { emulabFixture } from "../../fixtures/emulab.js";

const v4 = new Uint8Array(readFileSync(emulabFixture("disk-4mib-v4.ndz")));
const keyText = readFileSync(emulabFixture("disk-4mib-v4.ndz.skey"), "utf8");
const chunk = (i: number): Uint8Array => v4.slice(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);

function header(c: Uint8Array, i: number): ChunkHeader {
  const r = parseChunkHeader(c, i);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

const key = (() => {
  const k = parseSigningKey(keyText);
  if (!k.ok) throw new Error(k.error);
  return k.value;
})();

describe("version-4 chunks made by the original imagezip", () => {
  it("read as imagedump -d -d reads them: signed SHA-1 (0x8001), image id 0123456789abcdef..., the same regions", () => {
    const h0 = header(chunk(0), 0);
    expect(h0).toMatchObject({ version: 4, compressedBytes: 1043068, firstSector: 0, lastSector: 5101, regions: [{ startSector: 0, sectorCount: 5101 }] });
    expect(h0.v4?.csumType).toBe(0x8001);
    expect(toHex(h0.v4!.imageId)).toBe("0123456789abcdef0123456789abcdef");
    const dump = readFileSync(emulabFixture("disk-4mib-v4.ndz.dump-detail.txt"), "utf8");
    expect(dump).toContain(`Checksum: 0x${toHex(h0.v4!.checksum.subarray(0, 64))}`);
    expect(header(chunk(1), 1).regions).toEqual([{ startSector: 5101, sectorCount: 3091 }]);
  });

  it("verify with the key the original wrote beside the image, and say signed-not-verified without it", () => {
    for (const i of [0, 1]) {
      expect(checkChunk(chunk(i), header(chunk(i), i), i, nodeHash, key)).toEqual({ ok: true, check: "signature" });
      expect(checkChunk(chunk(i), header(chunk(i), i), i, nodeHash)).toEqual({ ok: true, check: "signed-not-verified" });
    }
  });

  it("name the chunk and the checksum field's image byte when one data byte is damaged", () => {
    const c = chunk(1);
    c[HEADER_AREA_BYTES + 1000]! ^= 0x40;
    const r = checkChunk(c, header(c, 1), 1, nodeHash, key);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/^chunk 1 at image byte 1048648: signed checksum mismatch: signed [0-9a-f]{40}, the chunk's bytes hash to [0-9a-f]{40}$/);
  });

  it("refuse a key that did not sign them", () => {
    const other = parseSigningKey(`${"C".repeat(127)}5\n11\n`);
    expect(other.ok).toBe(true);
    if (!other.ok) return;
    const r = checkChunk(chunk(0), header(chunk(0), 0), 0, nodeHash, other.value);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/^chunk 0 at image byte 72: the signed checksum does not decrypt with this key|signed checksum mismatch/);
  });
});

describe("unsigned SHA-1 checksums we write", () => {
  function sealed(): { c: Uint8Array; h: ChunkHeader } {
    const c = new Uint8Array(CHUNK_BYTES);
    const stream = new Uint8Array([0x78, 0x5e, 0x63, 0x60, 0x18, 0x05, 0x00, 0x00, 0x02, 0x00, 0x01]);
    c.set(encodeChunkHeader({ compressedBytes: stream.length, chunkIndex: 0, firstSector: 0, lastSector: 8, regions: [{ startSector: 0, sectorCount: 1 }], v4: { csumType: CSUM_SHA1, imageId: new Uint8Array(16).fill(7) } }));
    c.set(stream, HEADER_AREA_BYTES);
    sealChunk(c, stream.length, nodeHash);
    return { c, h: header(c, 0) };
  }

  it("check, and catch a flipped bit anywhere in the header or data", () => {
    const { c, h } = sealed();
    expect(checkChunk(c, h, 0, nodeHash)).toEqual({ ok: true, check: "sha1" });
    for (const at of [0x4, 0x10, 0x150, HEADER_AREA_BYTES + 3]) {
      const bad = c.slice();
      bad[at]! ^= 1;
      const r = checkChunk(bad, h, 0, nodeHash);
      expect(r.ok).toBe(false);
    }
  });
});

describe("signing key files", () => {
  it("read n and e of the original's .skey (a 512-bit key, e = 17)", () => {
    expect(key.bytes).toBe(64);
    expect(key.e).toBe(17n);
  });

  it.each([
    ["an empty file", "", /^line 1: expected the key's modulus n in hex/],
    ["no exponent", "DCCD155E\n", /^line 2: expected/],
    ["an even modulus", `${"A".repeat(128)}\n11\n`, /^line 1: a modulus of 64 bytes is not an RSA modulus/],
    ["a tiny modulus", "ABCDEF\n3\n", /not an RSA modulus/],
    ["an even exponent", `${"A".repeat(127)}B\n10\n`, /^line 2: exponent 16 is not an odd number/],
  ])("refuse %s in one line", (_what, text, pattern) => {
    const r = parseSigningKey(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(pattern);
  });

  it("never throw on random text", () => {
    fc.assert(fc.property(fc.string({ maxLength: 600 }), (text) => {
      const r = parseSigningKey(text);
      expect(typeof r.ok).toBe("boolean");
    }), { numRuns: 300 });
  });
});

describe("checkChunk on random bytes", () => {
  it("never throws: a chunk either parses and checks, or names its problem", () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: HEADER_AREA_BYTES, maxLength: HEADER_AREA_BYTES + 64 }), (bytes) => {
      bytes.set([0x6c, 0x69, 0x69, 0x69], 0);
      const h = parseChunkHeader(bytes);
      if (!h.ok) return;
      const c = new Uint8Array(CHUNK_BYTES);
      c.set(bytes);
      const r = checkChunk(c, h.value, 0, nodeHash, key);
      if (!r.ok) expect(r.error).toMatch(/^chunk \d+ at image byte \d+: /);
    }), { numRuns: 300 });
  });
});
