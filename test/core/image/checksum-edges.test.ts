import { describe, expect, it } from "vitest";
import {
  CHUNK_BYTES,
  CSUM_SHA1,
  CSUM_SIGNED,
  HEADER_AREA_BYTES,
  V4_FIELDS,
  checkChunk,
  chunkSha1,
  encodeChunkHeader,
  parseChunkHeader,
  parseSigningKey,
  rsaRecover,
  sealChunk,
  toHex,
  type ChunkHeader,
  type RsaPublicKey,
} from "../../../core/image/index.js";
import { nodeHash } from "../../../real/image/hash.js";

/*
 * The edges of core/image/checksum.ts that the original's signed fixture cannot reach
 * (checksum.test.ts checks that fixture): signatures made here with a 512-bit test key whose
 * private exponent is known, so any padded block can be signed, and the key file's limits.
 */

/** A 512-bit RSA key made once with node:crypto for these tests (e = 17, as the original's). */
const N_HEX = "d09a38613c2e161e17f0b46324ac6aa5d1e7a4d1f6f3182cf805539581ce7df9674125501b57937bbf354ef79ef2332e73f1e28e881ef8bd6616cd3bbf34ecb9";
const D = 0xc454e9c4ed588d497ff19ab7aa0bafab1fe913986ff3da84ad32308cb667fe1635b10a72a9afce0fcd251ccf6659fbacbaece101e6897f0c3aea78afacfe0b31n;
const N = BigInt(`0x${N_HEX}`);
const KEY_BYTES = 64;

function keyOf(text: string): RsaPublicKey {
  const k = parseSigningKey(text);
  if (!k.ok) throw new Error(k.error);
  return k.value;
}
const key = keyOf(`${N_HEX}\n11\n`);

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let r = 1n;
  let b = base % mod;
  for (let e = exp; e > 0n; e >>= 1n) {
    if ((e & 1n) === 1n) r = (r * b) % mod;
    b = (b * b) % mod;
  }
  return r;
}
const big = (b: Uint8Array): bigint => BigInt(`0x${toHex(b)}`);
const bytesOf = (v: bigint, length: number): Uint8Array => Uint8Array.from(v.toString(16).padStart(length * 2, "0").match(/../g)!, (x) => parseInt(x, 16));

/** RSA with the private exponent: what the original's signer does to the padded block. */
const sign = (block: Uint8Array): Uint8Array => bytesOf(modPow(big(block), D, N), KEY_BYTES);

/** A 64-byte block: `lead` bytes, then `ffs` 0xff, a separator, the payload, then zeros to 64 bytes. */
function block(payload: Uint8Array, ffs: number, lead: [number, number] = [0, 1], separator = 0): Uint8Array {
  const b = new Uint8Array(KEY_BYTES);
  b.set(lead);
  b.fill(0xff, 2, 2 + ffs);
  b[2 + ffs] = separator;
  b.set(payload, 3 + ffs);
  return b;
}

/** A version-4 chunk (16 data bytes) with the given checksum type; `field` fills its checksum field. */
function chunkOf(csumType: number, field = 0, chunkIndex = 0): Uint8Array {
  const c = new Uint8Array(CHUNK_BYTES);
  c.set(encodeChunkHeader({ compressedBytes: 16, chunkIndex, firstSector: 0, lastSector: 8, regions: [{ startSector: 0, sectorCount: 8 }], v4: { csumType, imageId: new Uint8Array(16).fill(3) } }));
  c.fill(field, V4_FIELDS.checksum, V4_FIELDS.checksum + 256);
  c.fill(0x33, HEADER_AREA_BYTES, HEADER_AREA_BYTES + 16);
  return c;
}
function header(c: Uint8Array, n = 0): ChunkHeader {
  const h = parseChunkHeader(c, n);
  if (!h.ok) throw new Error(h.error);
  return h.value;
}

/** A signed chunk whose signature is `blockOf(the chunk's SHA-1)`, signed with the test key. */
function signedChunk(blockOf: (sha1: Uint8Array) => Uint8Array): Uint8Array {
  const c = chunkOf(CSUM_SHA1 | CSUM_SIGNED);
  c.set(sign(blockOf(chunkSha1(c, { compressedBytes: 16 }, nodeHash))), V4_FIELDS.checksum);
  return c;
}
const check = (c: Uint8Array) => checkChunk(c, header(c), 0, nodeHash, key);
const undecryptable = { ok: false, error: "chunk 0 at image byte 72: the signed checksum does not decrypt with this key (512-bit): another key, or a damaged chunk" };

describe("RSA-signed checksums (PKCS #1 v1.5, type 1)", () => {
  it("verify 8 or more 0xff of padding, the original's 53-byte block and a bare 20-byte SHA-1", () => {
    const in53 = (sha: Uint8Array): Uint8Array => Uint8Array.from([...sha, ...new Uint8Array(33)]);
    expect(check(signedChunk((sha) => block(in53(sha), 8)))).toEqual({ ok: true, check: "signature" });
    expect(check(signedChunk((sha) => block(sha, 41)))).toEqual({ ok: true, check: "signature" });
    expect(check(signedChunk((sha) => block(sha, 8)))).toEqual({ ok: true, check: "signature" });
  });

  it.each<[string, (sha: Uint8Array) => Uint8Array]>([
    ["a first byte other than 0", (sha) => block(sha, 8, [1, 1])],
    ["block type 2", (sha) => block(sha, 8, [0, 2])],
    ["block type 0", (sha) => block(sha, 8, [0, 0])],
    ["only 7 bytes of 0xff", (sha) => block(sha, 7)],
    ["no 0 after the 0xff", (sha) => block(sha, 8, [0, 1], 5)],
    ["0xff to the end", () => block(new Uint8Array(0), 61, [0, 1], 0xff)],
    ["a payload of 19 bytes", (sha) => block(sha.subarray(0, 19), 42)],
  ])("refuse a block with %s, naming the key's size", (_what, blockOf) => {
    expect(check(signedChunk(blockOf))).toEqual(undecryptable);
  });

  it("refuse a signature not below n, even one that decrypts modulo n, and an empty one", () => {
    const sig = sign(block(new Uint8Array(20).fill(7), 41));
    expect(rsaRecover(sig, key)).toEqual(new Uint8Array(20).fill(7));
    expect(rsaRecover(bytesOf(big(sig) + N, KEY_BYTES + 1), key)).toBeNull();
    expect(rsaRecover(new Uint8Array(0), key)).toBeNull();
  });

  it("compare what was signed with the chunk's own SHA-1", () => {
    const other = new Uint8Array(20).fill(0xab);
    const c = signedChunk(() => block(other, 41));
    expect(check(c)).toEqual({ ok: false, error: `chunk 0 at image byte 72: signed checksum mismatch: signed ${toHex(other)}, the chunk's bytes hash to ${toHex(chunkSha1(c, { compressedBytes: 16 }, nodeHash))}` });
  });
});

describe("checksum kinds", () => {
  it("say none for version 3, and for a version-4 chunk whose checksum type is none (even with a key)", () => {
    const v3 = new Uint8Array(CHUNK_BYTES);
    v3.set(encodeChunkHeader({ compressedBytes: 16, chunkIndex: 0, firstSector: 0, lastSector: 8, regions: [{ startSector: 0, sectorCount: 8 }] }));
    expect(checkChunk(v3, header(v3), 0, nodeHash, key)).toEqual({ ok: true, check: "none" });
    const c = chunkOf(0, 0x5a);
    expect(checkChunk(c, header(c), 0, nodeHash, key)).toEqual({ ok: true, check: "none" });
    expect(checkChunk(c, header(c), 0, nodeHash)).toEqual({ ok: true, check: "none" });
  });

  it("name the chunk, the checksum field's image byte and both digests when an unsigned SHA-1 differs", () => {
    const c = chunkOf(CSUM_SHA1, 0, 2);
    sealChunk(c, 16, nodeHash);
    const said = c.slice(V4_FIELDS.checksum, V4_FIELDS.checksum + 20);
    c[HEADER_AREA_BYTES + 15]! ^= 1;
    const r = checkChunk(c, header(c, 2), 2, nodeHash);
    expect(r).toEqual({ ok: false, error: `chunk 2 at image byte ${2 * CHUNK_BYTES + 72}: SHA-1 checksum mismatch: the chunk says ${toHex(said)}, its bytes hash to ${toHex(chunkSha1(c, { compressedBytes: 16 }, nodeHash))}` });
  });

  it("seal the SHA-1 into a field whose first 64 bytes were anything, zeroing the rest of those 64", () => {
    const c = chunkOf(CSUM_SHA1, 0xee);
    sealChunk(c, 16, nodeHash);
    const field = c.subarray(V4_FIELDS.checksum, V4_FIELDS.checksum + 256);
    expect(field.subarray(0, 20)).toEqual(chunkSha1(c, { compressedBytes: 16 }, nodeHash));
    expect(field.subarray(20, 64)).toEqual(new Uint8Array(44));
    expect(field.subarray(64)).toEqual(new Uint8Array(192).fill(0xee));
    expect(checkChunk(c, header(c), 0, nodeHash)).toEqual({ ok: true, check: "sha1" });
  });
});

describe("signing key files, at their limits", () => {
  const refused = (text: string): string => {
    const r = parseSigningKey(text);
    return r.ok ? "accepted" : r.error;
  };

  it("take a modulus of 32 to 256 bytes, and exponents from 3 to below n", () => {
    expect(keyOf(`${"C".repeat(63)}5\n3\n`)).toEqual({ n: BigInt(`0x${"C".repeat(63)}5`), e: 3n, bytes: 32 });
    expect(refused(`${"C".repeat(61)}5\n3\n`)).toBe("line 1: a modulus of 31 bytes is not an RSA modulus of 32 to 256 bytes");
    expect(keyOf(`${"C".repeat(511)}5\n3\n`).bytes).toBe(256);
    expect(keyOf(`${N_HEX}\n${(N - 2n).toString(16)}\n`).e).toBe(N - 2n);
    expect(refused(`${N_HEX}\n${N_HEX}\n`)).toBe(`line 2: exponent ${N} is not an odd number from 3 to n`);
    expect(refused(`${N_HEX}\n1\n`)).toBe("line 2: exponent 1 is not an odd number from 3 to n");
  });

  it("read lines with spaces around them and CRLF ends", () => {
    expect(keyOf(`  ${N_HEX}  \r\n\t11 \r\n`)).toEqual(key);
  });

  it("refuse a line that is not all hex, naming the line and at most 40 of its characters", () => {
    expect(refused("xyz01\n11\n")).toBe('line 1: expected the key\'s modulus n in hex, got "xyz01"');
    expect(refused("01xyz\n11\n")).toBe('line 1: expected the key\'s modulus n in hex, got "01xyz"');
    expect(refused(`${N_HEX}\n11zz\n`)).toBe('line 2: expected the key\'s exponent e in hex, got "11zz"');
    expect(refused(N_HEX)).toBe('line 2: expected the key\'s exponent e in hex, got ""');
    expect(refused(`${"C".repeat(513)}\n3\n`)).toBe(`line 1: expected the key's modulus n in hex, got "${"C".repeat(40)}"`);
  });

  it("take a file of 8192 characters and refuse a longer one", () => {
    const text = (length: number): string => {
      const head = `${N_HEX}\n11\n`;
      return head + "0".repeat(length - head.length);
    };
    expect(keyOf(text(8192))).toEqual(key);
    expect(refused(text(8193))).toBe("longer than 8192 bytes: not a signing key");
  });
});
