import { HEADER_AREA_BYTES, V4_FIELDS, chunkError, type ChunkHeader } from "./format.js";
import { CSUM_NONE, CSUM_SIGNED, CSUM_TYPE_MASK } from "./header.js";
import { bytesEqual, toHex, type HashPort } from "./hash.js";

/**
 * Version-4 chunk checksums as the original computes them (imagezip.c `checksum_start`/`_finish`,
 * checksum.c `verify_checksum`): SHA-1 over the header area and the compressed data (`regionsize +
 * size` bytes) with the checksum field's first 64 bytes (CSUM_MAX_LEN) zeroed. A signed checksum is
 * that SHA-1 in the first 20 bytes of a 53-byte block, RSA-encrypted with the private key
 * (PKCS #1 v1.5, type 1), so the public key's `n` and `e` recover it.
 */
export const CSUM_MAX_BYTES = 64;
export const SHA1_BYTES = 20;
const ZEROS = new Uint8Array(CSUM_MAX_BYTES);

/**
 * The SHA-1 of a v4 chunk: header area (`regionsize` bytes: 4096, or the 344-byte header of a
 * header-only chunk) and data, the checksum field's first 64 bytes as zeros.
 */
export function chunkSha1(chunk: Uint8Array, h: Pick<ChunkHeader, "compressedBytes"> & { regionAreaBytes?: number }, hash: HashPort): Uint8Array {
  const s = hash.create("sha1");
  s.update(chunk.subarray(0, V4_FIELDS.checksum));
  s.update(ZEROS);
  s.update(chunk.subarray(V4_FIELDS.checksum + CSUM_MAX_BYTES, (h.regionAreaBytes ?? HEADER_AREA_BYTES) + h.compressedBytes));
  return s.digest();
}

/** Writes an unsigned SHA-1 checksum into a finished v4 chunk (its csum_type must already say SHA-1). */
export function sealChunk(chunk: Uint8Array, compressedBytes: number, hash: HashPort, regionAreaBytes = HEADER_AREA_BYTES): void {
  chunk.fill(0, V4_FIELDS.checksum, V4_FIELDS.checksum + CSUM_MAX_BYTES);
  chunk.set(chunkSha1(chunk, { compressedBytes, regionAreaBytes }, hash), V4_FIELDS.checksum);
}

/** An RSA public key: the first two lines of the original's `.skey` file (`n`, `e`). */
export interface RsaPublicKey {
  n: bigint;
  e: bigint;
  bytes: number;
}

/** Limits of a key we accept: the original signs with 512-bit keys; the field holds 256 bytes. */
const KEY_BYTES_MIN = 32;
const KEY_BYTES_MAX = 256;
const KEY_TEXT_BYTES_MAX = 8192;

/** Parses the original's key file (hex lines: n, e, dmp1, dmq1, iqmp; only n and e are used). */
export function parseSigningKey(text: string): { ok: true; value: RsaPublicKey } | { ok: false; error: string } {
  if (text.length > KEY_TEXT_BYTES_MAX) return { ok: false, error: `longer than ${KEY_TEXT_BYTES_MAX} bytes: not a signing key` };
  const lines = text.split(/\r?\n/);
  const fields = lines.map((l) => l.trim());
  const nHex = fields[0] ?? "";
  const eHex = fields[1] ?? "";
  for (const [i, v] of [nHex, eHex].entries()) {
    if (!/^[0-9A-Fa-f]{1,512}$/.test(v)) return { ok: false, error: `line ${i + 1}: expected the key's ${i === 0 ? "modulus n" : "exponent e"} in hex, got "${v.slice(0, 40)}"` };
  }
  const n = BigInt(`0x${nHex}`);
  const e = BigInt(`0x${eHex}`);
  const bytes = Math.ceil(n.toString(16).length / 2);
  if (bytes < KEY_BYTES_MIN || bytes > KEY_BYTES_MAX || (n & 1n) === 0n) return { ok: false, error: `line 1: a modulus of ${bytes} bytes is not an RSA modulus of ${KEY_BYTES_MIN} to ${KEY_BYTES_MAX} bytes` };
  if (e < 3n || (e & 1n) === 0n || e >= n) return { ok: false, error: `line 2: exponent ${e} is not an odd number from 3 to n` };
  return { ok: true, value: { n, e, bytes } };
}

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if ((e & 1n) === 1n) result = (result * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return result;
}

function bigFromBytes(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${toHex(b)}`);
}

/** RSA_public_decrypt with PKCS #1 v1.5 type-1 padding: the payload, or null when it does not unpad. */
export function rsaRecover(signature: Uint8Array, key: RsaPublicKey): Uint8Array | null {
  const s = bigFromBytes(signature);
  if (s >= key.n) return null;
  const hex = modPow(s, key.e, key.n).toString(16).padStart(key.bytes * 2, "0");
  const m = new Uint8Array(key.bytes);
  for (let i = 0; i < key.bytes; i++) m[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  if (m[0] !== 0 || m[1] !== 1) return null;
  let i = 2;
  while (i < m.length && m[i] === 0xff) i++;
  if (i < 10 || i >= m.length || m[i] !== 0) return null;
  return m.subarray(i + 1);
}

/** What a chunk's checksum proved. */
export type ChunkCheck = "none" | "sha1" | "signed-not-verified" | "signature";

/**
 * Checks a version-4 chunk's checksum. An unsigned SHA-1 is always checked; a signed one only with
 * the key (without it, "signed-not-verified": nothing about the chunk is proven). The error names
 * the chunk and the checksum field's image byte offset.
 */
export function checkChunk(chunk: Uint8Array, h: ChunkHeader, n: number, hash: HashPort, key?: RsaPublicKey): { ok: true; check: ChunkCheck } | { ok: false; error: string } {
  const v4 = h.v4;
  if (v4 === undefined || (v4.csumType & CSUM_TYPE_MASK) === CSUM_NONE) return { ok: true, check: "none" };
  const signed = (v4.csumType & CSUM_SIGNED) !== 0;
  if (signed && key === undefined) return { ok: true, check: "signed-not-verified" };
  const computed = chunkSha1(chunk, h, hash);
  if (!signed) {
    if (bytesEqual(computed, v4.checksum.subarray(0, SHA1_BYTES))) return { ok: true, check: "sha1" };
    return { ok: false, error: chunkError(n, V4_FIELDS.checksum, `SHA-1 checksum mismatch: the chunk says ${toHex(v4.checksum.subarray(0, SHA1_BYTES))}, its bytes hash to ${toHex(computed)}`) };
  }
  const k = key as RsaPublicKey;
  const payload = rsaRecover(v4.checksum.subarray(0, k.bytes), k);
  if (payload === null || payload.length < SHA1_BYTES) return { ok: false, error: chunkError(n, V4_FIELDS.checksum, `the signed checksum does not decrypt with this key (${k.bytes * 8}-bit): another key, or a damaged chunk`) };
  if (!bytesEqual(payload.subarray(0, SHA1_BYTES), computed)) return { ok: false, error: chunkError(n, V4_FIELDS.checksum, `signed checksum mismatch: signed ${toHex(payload.subarray(0, SHA1_BYTES))}, the chunk's bytes hash to ${toHex(computed)}`) };
  return { ok: true, check: "signature" };
}
