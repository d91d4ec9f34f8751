import { webcrypto } from "node:crypto";
import { open, readFile, stat } from "node:fs/promises";
import {
  HASH_TYPE_SHA1,
  SECTOR_BYTES,
  digestOf,
  hashKindOf,
  type HashKind,
  SIG_BLOCK_SECTORS_DEFAULT,
  SIG_VERSION_2011,
  SignatureBuilder,
  decodeSignature,
  encodeSignature,
  type ChunkCheck,
  type PieceAlignment,
  type RsaPublicKey,
  type Signature,
} from "../../core/image/index.js";
import { forEachChunk } from "./chunks.js";
import { nodeHash } from "./hash.js";
import { chunkIdentity } from "./identity.js";
import { ImageIoError } from "./source.js";
import { ImageCorruptError, readImageHeaders } from "./headers.js";

export interface SignatureOptions {
  hashType?: number;
  alignment?: PieceAlignment;
  key?: RsaPublicKey;
  inFlight?: number;
  onProgress?: (chunksDone: number, chunks: number) => void;
}

export interface SignatureResult {
  signature: Signature;
  /** How the chunks' checksums were checked: counts per kind. */
  checks: Record<ChunkCheck, number>;
  dataBytes: number;
}

/** The most a signature file may hold: 2^32 sectors in 64 KiB pieces, 32 bytes each (1 GiB). */
export const SIGNATURE_BYTES_MAX = 1024 * 1024 * 1024;

/**
 * Hashes an image's data into a signature, from the image alone: every chunk is checked (its
 * checksum, its zlib stream) and its regions cut into pieces; the image's identity (its id and
 * the SHA-256 of the file, computed in the same pass) goes into the trailer.
 */
export async function makeSignature(imagePath: string, o: SignatureOptions = {}): Promise<SignatureResult> {
  const { imageBytes, headers } = await readImageHeaders(imagePath);
  const own = chunkIdentity(imagePath, headers);
  const alignment = o.alignment ?? "absolute";
  const hashType = o.hashType ?? HASH_TYPE_SHA1;
  const builder = new SignatureBuilder(nodeHash, hashType, alignment, SIG_BLOCK_SECTORS_DEFAULT);
  const fileHash = nodeHash.create("sha256");
  const checks: Record<ChunkCheck, number> = { none: 0, sha1: 0, "signed-not-verified": 0, signature: 0 };
  let dataBytes = 0;
  // Each chunk's regions are ascending (parseChunkHeader checks); across chunks it is checked here,
  // so that a hostile image is refused in one line instead of failing in the signature builder.
  let regionsEnd = 0;
  const fh = await open(imagePath, "r");
  try {
    await forEachChunk(fh, imagePath, headers, { hash: nodeHash, ...(o.key === undefined ? {} : { key: o.key }), ...(o.inFlight === undefined ? {} : { inFlight: o.inFlight }) }, async (c) => {
      fileHash.update(c.bytes);
      checks[c.check]++;
      let at = 0;
      const pieces: { chunk: number; piece: { startSector: number; sectorCount: number }; data: Uint8Array }[] = [];
      for (const r of c.header.regions) {
        if (r.startSector < regionsEnd) throw new ImageCorruptError(`${imagePath}: chunk ${c.index}: its region at sector ${r.startSector} starts before the end of an earlier chunk's regions (sector ${regionsEnd})`);
        regionsEnd = r.startSector + r.sectorCount;
        for (const piece of builder.pieces(r.startSector, r.sectorCount)) {
          const from = at + (piece.startSector - r.startSector) * SECTOR_BYTES;
          pieces.push({ chunk: c.index, piece, data: c.data.subarray(from, from + piece.sectorCount * SECTOR_BYTES) });
        }
        at += r.sectorCount * SECTOR_BYTES;
      }
      dataBytes += at;
      const digests = await digestPieces(hashType, pieces.map((p) => p.data));
      pieces.forEach((p, k) => builder.add(p.chunk, p.piece, digests[k]!));
      o.onProgress?.(c.index + 1, headers.length);
    });
  } finally {
    await fh.close();
  }
  const digest = fileHash.digest();
  const identity = { imageId: own.v4Id ?? digest.slice(0, 16), imageDigest: digest, imageBytes, alignment };
  return { signature: { version: SIG_VERSION_2011, hashType, blockSectors: SIG_BLOCK_SECTORS_DEFAULT, entries: builder.entries, identity }, checks, dataBytes };
}

const WEB_CRYPTO_NAMES: Partial<Record<HashKind, string>> = { sha1: "SHA-1", sha256: "SHA-256" };

/**
 * The digests of a chunk's pieces, computed all at once on the thread pool (Web Crypto's digest
 * runs there), beside the main thread's checksums and the next chunks' inflating: one thread
 * hashing every piece was the signature's bottleneck. MD5 (no Web Crypto name) is hashed here.
 */
async function digestPieces(hashType: number, pieces: readonly Uint8Array[]): Promise<Uint8Array[]> {
  const kind = hashKindOf(hashType);
  if (kind === null) throw new Error(`hash type ${hashType} has no hash function`);
  const name = WEB_CRYPTO_NAMES[kind];
  if (name === undefined) return pieces.map((p) => digestOf(nodeHash, kind, p));
  return (await Promise.all(pieces.map((p) => webcrypto.subtle.digest(name, p)))).map((d) => new Uint8Array(d));
}

export function signatureBytes(sig: Signature): Uint8Array {
  return encodeSignature(sig, nodeHash);
}

/** Reads and checks a signature file; a bad one is one line naming the file and the byte. */
export async function readSignature(path: string): Promise<Signature> {
  let bytes: Uint8Array;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new ImageIoError(`${path}: not a signature file (not a regular file)`, true);
    if (st.size > SIGNATURE_BYTES_MAX) throw new ImageCorruptError(`${path}: ${st.size} bytes, more than a signature can hold (${SIGNATURE_BYTES_MAX})`);
    bytes = new Uint8Array(await readFile(path));
  } catch (error) {
    if (error instanceof ImageIoError || error instanceof ImageCorruptError) throw error;
    throw new ImageIoError(`${path}: cannot read the signature (${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message})`, true);
  }
  const d = decodeSignature(bytes, nodeHash);
  if (!d.ok) throw new ImageCorruptError(`${path}: ${d.error}`);
  return d.value;
}

/** Whether a file starts like a signature (".ndzsig"), to tell `--base SIG` from `--base IMAGE`. */
export async function looksLikeSignature(path: string): Promise<boolean> {
  const fh = await open(path, "r").catch(() => null);
  if (fh === null) return false;
  try {
    const head = Buffer.alloc(8);
    // A directory opens but cannot be read: not a signature (the image reader then names what it is).
    const { bytesRead } = await fh.read(head, 0, 8, 0).catch(() => ({ bytesRead: 0 }));
    return bytesRead === 8 && head.toString("latin1") === ".ndzsig\0";
  } finally {
    await fh.close();
  }
}
