import * as crypto from "node:crypto";
import { readSync } from "node:fs";
import { allocatedRanges, type HashKind, type Region } from "../../core/image/index.js";

/**
 * One window of a disk read, its non-zero blocks found and its signature pieces hashed, by a
 * hashing thread (piece-worker.ts) or, without threads, by the caller (piece-hasher.ts). The
 * window's bytes go into a shared buffer (a slot) the caller then reads: nothing is copied or
 * transferred, and no garbage is made per window.
 */
export interface PieceReadRequest {
  id: number;
  fd: number;
  startByte: number;
  length: number;
  slot: number;
  /** The slot's buffer, sent the first time a thread uses the slot (or when it grew). */
  buffer?: SharedArrayBuffer;
  kind: HashKind;
  /** Blocks of this size, aligned to absolute disk offsets, are tested for all zeros. */
  granularityBytes: number;
  /** Pieces to hash: pairs of (offset in the window, length), in bytes. */
  pieces: Float64Array;
}

export type PieceReadReply =
  | { ok: true; id: number; digests: Uint8Array; nonzero: Region[] }
  | { ok: false; id: number; error: string };

const DIGEST_BYTES: Readonly<Record<HashKind, number>> = { md5: 16, sha1: 20, sha256: 32 };
/** Pieces up to this long are tested for all zeros first (a signature's pieces are at most 64 KiB by default). */
const ZERO_TEST_BYTES_MAX = 64 * 1024;
const ZEROS = new Uint8Array(ZERO_TEST_BYTES_MAX);
/** The digest of n zero bytes, by kind and n: a zero piece's hash is a constant, computed once. */
const zeroDigests = new Map<string, Uint8Array>();

export function readAndHash(r: PieceReadRequest, slots: readonly SharedArrayBuffer[]): PieceReadReply {
  const data = new Uint8Array(slots[r.slot]!, 0, r.length);
  let done = 0;
  try {
    while (done < r.length) {
      const n = readSync(r.fd, data, done, r.length - done, r.startByte + done);
      if (n === 0) return { ok: false, id: r.id, error: `unexpected end of input at byte ${r.startByte + done}` };
      done += n;
    }
  } catch (error) {
    return { ok: false, id: r.id, error: `cannot read at byte ${r.startByte + done} (${(error as Error).message})` };
  }
  const size = DIGEST_BYTES[r.kind];
  const digests = new Uint8Array((r.pieces.length / 2) * size);
  for (let k = 0; k < r.pieces.length; k += 2) {
    const piece = data.subarray(r.pieces[k]!, r.pieces[k]! + r.pieces[k + 1]!);
    digests.set(allZero(piece) ? zeroDigest(r.kind, piece.length) : hash(r.kind, piece), (k / 2) * size);
  }
  // A native compare with a zero page per block, after a look at its first byte (where data blocks differ).
  const view = Buffer.from(data.buffer, 0, r.length);
  const zeroTest = (from: number, to: number): boolean => data[from] === 0 && (to - from > ZERO_TEST_BYTES_MAX ? allZeroLong(data.subarray(from, to)) : view.compare(ZEROS, 0, to - from, from, to) === 0);
  return { ok: true, id: r.id, digests, nonzero: allocatedRanges(data, r.startByte, r.granularityBytes, false, zeroTest) };
}

/** crypto.hash (Node 20.12) makes no Hash object per piece; older Nodes take the long way. */
function hash(kind: HashKind, data: Uint8Array): Uint8Array {
  return typeof crypto.hash === "function" ? crypto.hash(kind, data, "buffer") : crypto.createHash(kind).update(data).digest();
}

/** A native compare with a zero page: it stops at the first non-zero byte, so data costs next to nothing. */
function allZero(piece: Uint8Array): boolean {
  return piece.length <= ZERO_TEST_BYTES_MAX && Buffer.from(piece.buffer, piece.byteOffset, piece.length).equals(ZEROS.subarray(0, piece.length));
}

function allZeroLong(bytes: Uint8Array): boolean {
  for (let at = 0; at < bytes.length; at += ZERO_TEST_BYTES_MAX) if (!allZero(bytes.subarray(at, Math.min(bytes.length, at + ZERO_TEST_BYTES_MAX)))) return false;
  return true;
}

function zeroDigest(kind: HashKind, length: number): Uint8Array {
  const key = `${kind}:${length}`;
  let d = zeroDigests.get(key);
  if (d === undefined) {
    d = hash(kind, ZEROS.subarray(0, length));
    zeroDigests.set(key, d);
  }
  return d;
}
