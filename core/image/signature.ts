import { SECTOR_BYTES, SECTOR_LIMIT, type ParseResult } from "./format.js";
import { bytesEqual, digestOf, type HashKind, type HashPort } from "./hash.js";

/**
 * The original's signature file (`.ndzsig`, imagehash.h): a 32-byte header, then one 32-byte entry
 * per hashed piece, all little-endian. Version 0x20031107 (2011, the fixtures' tools) has no block
 * size in its header; 0x20140618 has it at byte 20. We write the 2011 version, which the original
 * imagehash of the fixtures reads, and read both.
 *
 * After the entries we append a trailer the original never reads (it reads exactly `nregions`
 * entries): the image's content digest and id, and a SHA-256 of the whole file, so a signature
 * names its image by content and a damaged signature is caught.
 */
export const SIG_MAGIC = ".ndzsig\0";
export const SIG_VERSION_2011 = 0x2003_1107;
export const SIG_VERSION_2014 = 0x2014_0618;
export const SIG_HEADER_BYTES = 32;
export const SIG_ENTRY_BYTES = 32;
export const SIG_HASH_BYTES = 20;
export const HASH_TYPE_MD5 = 1;
export const HASH_TYPE_SHA1 = 2;
/** Ours: SHA-256, truncated to the 20 bytes an entry holds. The original does not know it. */
export const HASH_TYPE_SHA256 = 4;
/** One piece per 64 KiB (128 sectors) at most: the original's HASHBLK_SIZE. */
export const SIG_BLOCK_SECTORS_DEFAULT = 128;
const SIG_BLOCK_SECTORS_MAX = 65536;
/** Bit 31 of an entry's chunk number: the piece continues into the next chunk (2014 tools). */
const CHUNK_SPANS = 0x8000_0000;

export const TRAILER_MAGIC = "TBSIGID1";
export const TRAILER_BYTES = 104;
const T = { magic: 0, length: 8, flags: 12, imageBytesLo: 16, imageBytesHi: 20, imageId: 24, imageDigest: 40, fileDigest: 72 } as const;
const FLAG_ABSOLUTE = 1;

export type PieceAlignment = "absolute" | "region";

export interface SigEntry {
  startSector: number;
  sectorCount: number;
  chunk: number;
  spansChunks: boolean;
  hash: Uint8Array;
}

/** Which image a signature belongs to, by content. */
export interface SigIdentity {
  /** The image's 16-byte id: its version-4 id, else the first 16 bytes of `imageDigest`. */
  imageId: Uint8Array;
  /** SHA-256 of the whole image file. */
  imageDigest: Uint8Array;
  imageBytes: number;
  alignment: PieceAlignment;
}

export interface Signature {
  version: number;
  hashType: number;
  blockSectors: number;
  entries: SigEntry[];
  /** Null for a signature made by the original imagehash. */
  identity: SigIdentity | null;
}

export function hashKindOf(hashType: number): HashKind | null {
  return hashType === HASH_TYPE_SHA1 ? "sha1" : hashType === HASH_TYPE_MD5 ? "md5" : hashType === HASH_TYPE_SHA256 ? "sha256" : null;
}

/** The 20 bytes an entry holds for `data` (MD5 is 16, zero-padded, as imagehash does). */
export function pieceHash(port: HashPort, hashType: number, ...data: Uint8Array[]): Uint8Array {
  const kind = hashKindOf(hashType);
  if (kind === null) throw new Error(`hash type ${hashType} has no hash function`);
  return entryHash(digestOf(port, kind, ...data));
}

/** What an entry holds of a full digest: its first 20 bytes, zero-padded (MD5's 16). */
export function entryHash(digest: Uint8Array): Uint8Array {
  const out = new Uint8Array(SIG_HASH_BYTES);
  out.set(digest.subarray(0, SIG_HASH_BYTES));
  return out;
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16)) + (b[at + 3] as number) * 0x100_0000;
}

function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

export function encodeSignature(sig: Signature, port: HashPort): Uint8Array {
  const body = SIG_HEADER_BYTES + sig.entries.length * SIG_ENTRY_BYTES;
  const out = new Uint8Array(body + (sig.identity === null ? 0 : TRAILER_BYTES));
  out.set(ascii(SIG_MAGIC), 0);
  put32(out, 8, sig.version);
  put32(out, 12, sig.hashType);
  put32(out, 16, sig.entries.length);
  if (sig.version === SIG_VERSION_2014) put32(out, 20, sig.blockSectors);
  sig.entries.forEach((e, i) => {
    const at = SIG_HEADER_BYTES + i * SIG_ENTRY_BYTES;
    put32(out, at, e.startSector);
    put32(out, at + 4, e.sectorCount);
    put32(out, at + 8, (e.chunk | (e.spansChunks ? CHUNK_SPANS : 0)) >>> 0);
    out.set(e.hash.subarray(0, SIG_HASH_BYTES), at + 12);
  });
  if (sig.identity !== null) {
    const t = out.subarray(body);
    const id = sig.identity;
    t.set(ascii(TRAILER_MAGIC), T.magic);
    put32(t, T.length, TRAILER_BYTES);
    put32(t, T.flags, id.alignment === "absolute" ? FLAG_ABSOLUTE : 0);
    put32(t, T.imageBytesLo, id.imageBytes % 0x1_0000_0000);
    put32(t, T.imageBytesHi, Math.floor(id.imageBytes / 0x1_0000_0000));
    t.set(id.imageId, T.imageId);
    t.set(id.imageDigest, T.imageDigest);
    t.set(digestOf(port, "sha256", out.subarray(0, body + T.fileDigest)), T.fileDigest);
  }
  return out;
}

/**
 * Decodes and validates a signature file. Never throws, never allocates beyond the input: the
 * entry count is checked against the file's length first. Errors read `byte B: what`.
 */
export function decodeSignature(bytes: Uint8Array, port: HashPort): ParseResult<Signature> {
  const fail = (at: number, what: string): ParseResult<Signature> => ({ ok: false, error: `byte ${at}: ${what}` });
  if (bytes.length < SIG_HEADER_BYTES) return fail(bytes.length, `truncated: ${bytes.length} bytes, shorter than the ${SIG_HEADER_BYTES}-byte header`);
  if (!bytesEqual(bytes.subarray(0, 8), ascii(SIG_MAGIC))) return fail(0, "bad magic: not a .ndzsig signature file");
  const version = u32(bytes, 8);
  if (version !== SIG_VERSION_2011 && version !== SIG_VERSION_2014) return fail(8, `signature version 0x${version.toString(16)} is not 0x20031107 or 0x20140618`);
  const hashType = u32(bytes, 12);
  if (hashKindOf(hashType) === null) return fail(12, `hash type ${hashType} is not MD5 (1), SHA-1 (2) or SHA-256 (4)`);
  const count = u32(bytes, 16);
  const body = SIG_HEADER_BYTES + count * SIG_ENTRY_BYTES;
  if (body > bytes.length) return fail(bytes.length, `truncated: the header lists ${count} entries (${body} bytes), the file has ${bytes.length} bytes`);
  const blockSectors = version === SIG_VERSION_2014 ? u32(bytes, 20) : SIG_BLOCK_SECTORS_DEFAULT;
  if (blockSectors < 1 || blockSectors > SIG_BLOCK_SECTORS_MAX) return fail(20, `hash block of ${blockSectors} sectors is outside 1 to ${SIG_BLOCK_SECTORS_MAX}`);
  const entries = decodeEntries(bytes, count, blockSectors);
  if (typeof entries === "string") return { ok: false, error: entries };
  const identity = decodeTrailer(bytes, body, port);
  if (typeof identity === "string") return { ok: false, error: identity };
  return { ok: true, value: { version, hashType, blockSectors, entries, identity } };
}

/** Entries must be non-empty, at most a hash block, ascending and apart, chunks non-decreasing. */
function decodeEntries(bytes: Uint8Array, count: number, blockSectors: number): SigEntry[] | string {
  const entries: SigEntry[] = [];
  let end = 0;
  let lastChunk = 0;
  for (let i = 0; i < count; i++) {
    const at = SIG_HEADER_BYTES + i * SIG_ENTRY_BYTES;
    const startSector = u32(bytes, at);
    const sectorCount = u32(bytes, at + 4);
    const rawChunk = u32(bytes, at + 8);
    const chunk = rawChunk & 0x7fff_ffff;
    if (sectorCount === 0 || sectorCount > blockSectors) return `byte ${at + 4}: entry ${i} covers ${sectorCount} sectors, not 1 to ${blockSectors}`;
    if (startSector < end) return `byte ${at}: entry ${i} starts at sector ${startSector}, before the end of entry ${i - 1} (${end})`;
    if (startSector + sectorCount > SECTOR_LIMIT) return `byte ${at}: entry ${i} runs past sector 2^32`;
    if (chunk < lastChunk) return `byte ${at + 8}: entry ${i} is in chunk ${chunk}, before chunk ${lastChunk} of the entry ahead of it`;
    entries.push({ startSector, sectorCount, chunk, spansChunks: rawChunk >= CHUNK_SPANS, hash: bytes.slice(at + 12, at + 12 + SIG_HASH_BYTES) });
    end = startSector + sectorCount;
    lastChunk = chunk;
  }
  return entries;
}

function decodeTrailer(bytes: Uint8Array, body: number, port: HashPort): SigIdentity | null | string {
  const rest = bytes.length - body;
  if (rest === 0) return null;
  if (rest < TRAILER_BYTES || !bytesEqual(bytes.subarray(body, body + 8), ascii(TRAILER_MAGIC))) {
    return `byte ${body}: ${rest} bytes after the last entry are not a whole testbed trailer (${TRAILER_BYTES} bytes from "${TRAILER_MAGIC}")`;
  }
  const t = bytes.subarray(body);
  if (u32(t, T.length) !== TRAILER_BYTES || rest !== TRAILER_BYTES) return `byte ${body + T.length}: trailer of ${rest} bytes, expected ${TRAILER_BYTES}`;
  const digest = digestOf(port, "sha256", bytes.subarray(0, body + T.fileDigest));
  if (!bytesEqual(digest, t.subarray(T.fileDigest, T.fileDigest + 32))) return `byte ${body + T.fileDigest}: the file's SHA-256 does not match its trailer: the signature is damaged`;
  const flags = u32(t, T.flags);
  const imageBytes = u32(t, T.imageBytesLo) + u32(t, T.imageBytesHi) * 0x1_0000_0000;
  if (flags > FLAG_ABSOLUTE || !Number.isSafeInteger(imageBytes)) return `byte ${body + T.flags}: trailer flags ${flags} or image size unknown`;
  return { imageId: t.slice(T.imageId, T.imageId + 16), imageDigest: t.slice(T.imageDigest, T.imageDigest + 32), imageBytes, alignment: flags === FLAG_ABSOLUTE ? "absolute" : "region" };
}

/**
 * The pieces one image region is hashed in, as imagehash cuts them: at most `blockSectors` each,
 * counted from the region's start ("region", the 2011 default) or aligned to absolute multiples
 * of the block ("absolute", `imagehash -f`, later the only way), so a region's ends give short
 * pieces. Pieces never run across regions, so never across chunks.
 */
export function regionPieces(startSector: number, sectorCount: number, blockSectors: number, alignment: PieceAlignment): { startSector: number; sectorCount: number }[] {
  const pieces = [];
  let at = startSector;
  const end = startSector + sectorCount;
  while (at < end) {
    const limit = alignment === "absolute" ? (Math.floor(at / blockSectors) + 1) * blockSectors : at + blockSectors;
    const next = Math.min(end, limit);
    pieces.push({ startSector: at, sectorCount: next - at });
    at = next;
  }
  return pieces;
}

/** Hashes each chunk's regions into entries, chunk after chunk (regions as the image lists them). */
export class SignatureBuilder {
  readonly entries: SigEntry[] = [];

  constructor(
    private readonly port: HashPort,
    readonly hashType: number,
    readonly alignment: PieceAlignment,
    readonly blockSectors = SIG_BLOCK_SECTORS_DEFAULT,
  ) {}

  /** `data` is the region's inflated bytes. */
  region(chunk: number, startSector: number, data: Uint8Array): void {
    if (data.length % SECTOR_BYTES !== 0) throw new Error("SignatureBuilder.region: data must be whole sectors");
    for (const p of this.pieces(startSector, data.length / SECTOR_BYTES)) {
      const from = (p.startSector - startSector) * SECTOR_BYTES;
      this.entries.push({ ...p, chunk, spansChunks: false, hash: pieceHash(this.port, this.hashType, data.subarray(from, from + p.sectorCount * SECTOR_BYTES)) });
    }
  }

  /** The pieces of a region, for a caller that hashes them itself (several at once); then `add` each, in order. */
  pieces(startSector: number, sectorCount: number): { startSector: number; sectorCount: number }[] {
    return regionPieces(startSector, sectorCount, this.blockSectors, this.alignment);
  }

  /** A piece of `pieces`, with the full digest of its bytes by this signature's hash type (kept to the entry's 20 bytes). */
  add(chunk: number, piece: { startSector: number; sectorCount: number }, digest: Uint8Array): void {
    // Apart as well as in order: decodeSignature refuses a file with a piece repeated or overlapping.
    const last = this.entries[this.entries.length - 1];
    if (last !== undefined && piece.startSector < last.startSector + last.sectorCount) throw new Error("SignatureBuilder.add: pieces out of order or overlapping");
    this.entries.push({ startSector: piece.startSector, sectorCount: piece.sectorCount, chunk, spansChunks: false, hash: entryHash(digest) });
  }
}
