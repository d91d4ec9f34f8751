/**
 * Hashing comes in through this port: core stays pure, and the real adapter uses node:crypto
 * (`real/image/hash.ts`). Synchronous: a digest is computation, not I/O.
 */
export type HashKind = "md5" | "sha1" | "sha256";

export interface Hasher {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

export interface HashPort {
  create(kind: HashKind): Hasher;
}

export const DIGEST_BYTES: Readonly<Record<HashKind, number>> = { md5: 16, sha1: 20, sha256: 32 };

export function digestOf(port: HashPort, kind: HashKind, ...parts: Uint8Array[]): Uint8Array {
  const h = port.create(kind);
  for (const p of parts) h.update(p);
  return h.digest();
}

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Bytes from hex digits (an even number of them), or null. */
export function fromHex(text: string): Uint8Array | null {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return null;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
