import { open } from "node:fs/promises";
import { writeFully } from "./source.js";

/** xorshift32 (Marsaglia), the generator of the fixture disk: deterministic and fast. */
class XorShift32 {
  private x: number;
  constructor(seed: number) {
    this.x = (seed >>> 0) || 0x9e3779b9;
  }
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.x;
  }
  below(n: number): number {
    return this.next() % n;
  }
}

const WORD_LIST = ("the of and to in is for on that with as by this be are from at or an it was not which " +
  "disk image block chunk sector multicast frisbee server client node testbed kernel boot file system " +
  "partition region compress inflate deflate write read network packet request reply heartbeat").split(" ");
/** Each word with its separator, as bytes: a space, or a newline one time in twelve. */
const WORDS = WORD_LIST.map((w) => new TextEncoder().encode(`${w} `));
const LINE_WORDS = WORD_LIST.map((w) => new TextEncoder().encode(`${w}\n`));

const EXTENT_BYTES_MIN = 64 * 1024;
const EXTENT_BYTES_MAX = 4 * 1024 * 1024;
const FS_BLOCK_BYTES = 4096;
const WRITE_BYTES = 4 * 1024 * 1024;

type ExtentKind = "random" | "zero" | "text";

/** Tenths of the extents that are random and zero; the rest is text. */
export interface DiskMix {
  randomTenths: number;
  zeroTenths: number;
}

/** 30% random (compressed files), 40% zeros (free space), 30% text (logs, sources). */
export const DISK_MIX_DEFAULT: DiskMix = { randomTenths: 3, zeroTenths: 4 };

function pickKind(rng: XorShift32, mix: DiskMix): ExtentKind {
  const r = rng.below(10);
  return r < mix.randomTenths ? "random" : r < mix.randomTenths + mix.zeroTenths ? "zero" : "text";
}

function fillRandom(buf: Uint8Array, rng: XorShift32): void {
  const words = Math.floor(buf.length / 4);
  if ((buf.byteOffset & 3) === 0) {
    const view = new Uint32Array(buf.buffer, buf.byteOffset, words);
    for (let i = 0; i < words; i++) view[i] = rng.next();
  } else {
    const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    for (let i = 0; i < words; i++) view.setUint32(i * 4, rng.next(), true);
  }
  for (let i = words * 4; i < buf.length; i++) buf[i] = rng.next() & 0xff;
}

/**
 * Text of seeded words; like a file's last block, the extent ends with 0 to 7 zero sectors,
 * free space only a 512-byte granularity can see.
 */
function fillText(buf: Uint8Array, rng: XorShift32): void {
  const zeroTail = rng.below(8) * 512;
  const end = Math.max(0, buf.length - zeroTail);
  let at = 0;
  while (at < end) {
    const r = rng.next();
    const w = ((r >>> 8) % 12 === 0 ? LINE_WORDS : WORDS)[r % WORDS.length]!;
    if (at + w.length > end) break;
    buf.set(w, at);
    at += w.length;
  }
  buf.fill(0x20, at, end);
  buf.fill(0, end);
}

/** Fills `buf` the way a disk-like file is filled (its extents, its mix): new data for rewrites. */
export function fillDiskLike(buf: Uint8Array, seed: number, mix: DiskMix = DISK_MIX_DEFAULT): void {
  const rng = new XorShift32(seed);
  let at = 0;
  while (at < buf.length) {
    const span = Math.min(buf.length - at, EXTENT_BYTES_MIN + rng.below((EXTENT_BYTES_MAX - EXTENT_BYTES_MIN) / FS_BLOCK_BYTES + 1) * FS_BLOCK_BYTES);
    const extent = buf.subarray(at, at + span);
    const kind = pickKind(rng, mix);
    if (kind === "random") fillRandom(extent, rng);
    else if (kind === "text") fillText(extent, rng);
    else extent.fill(0);
    at += span;
  }
}

/**
 * Writes a disk-like file of `sizeBytes`, the same bytes for the same seed: extents of 64 KiB to
 * 4 MiB, aligned to 4 KiB blocks, each random, zero or text. The benchmark workload of issue 4.
 */
export async function writeDiskLikeFile(path: string, sizeBytes: number, seed: number, mix: DiskMix = DISK_MIX_DEFAULT): Promise<void> {
  const rng = new XorShift32(seed);
  const fh = await open(path, "w");
  try {
    const buf = new Uint8Array(WRITE_BYTES + EXTENT_BYTES_MAX);
    let filled = 0;
    let written = 0;
    while (written + filled < sizeBytes) {
      const span = EXTENT_BYTES_MIN + rng.below((EXTENT_BYTES_MAX - EXTENT_BYTES_MIN) / FS_BLOCK_BYTES + 1) * FS_BLOCK_BYTES;
      const bytes = Math.min(span, sizeBytes - written - filled);
      const extent = buf.subarray(filled, filled + bytes);
      const kind = pickKind(rng, mix);
      if (kind === "random") fillRandom(extent, rng);
      else if (kind === "text") fillText(extent, rng);
      else extent.fill(0);
      filled += bytes;
      if (filled >= WRITE_BYTES) {
        await writeFully(fh, buf.subarray(0, filled), written);
        written += filled;
        filled = 0;
      }
    }
    if (filled > 0) await writeFully(fh, buf.subarray(0, filled), written);
    await fh.truncate(sizeBytes);
  } finally {
    await fh.close();
  }
}
