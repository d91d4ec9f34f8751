import { BlockBitmap } from "./bitmap.js";
import { BITMAP_BYTES } from "./constants.js";

/** 32-bit words of a chunk's block bitmap: as many as a mask of 32 bits has (1,024 blocks). */
const BITMAP_WORDS = BITMAP_BYTES / 4;

/**
 * The block bitmaps of a client's chunk buffers, in one typed array of 32-bit words: marking a
 * block, done for every copy of every block a client hears, is one array access. Block b is bit
 * b & 31 of word b >> 5, which is the wire's bitmap read as little-endian words (byte j holds blocks
 * 8j to 8j + 7, low bit first), on any machine.
 *
 * Each buffer also has a mask of its words that lack a block (`open`). A partial request another
 * client sends asks for blocks that it lost, which the other clients mostly have: testing it only on
 * the open words answers most requests in a step or two, without reading the request's words that
 * ask for blocks in words we have whole.
 */
export class BufferBitmaps {
  private readonly words: Int32Array;
  private readonly counts: Int32Array;
  /** Per buffer: bit i set while word i lacks any block (every bit of an empty buffer). */
  private readonly open: Int32Array;

  constructor(buffers: number) {
    this.words = new Int32Array(buffers * BITMAP_WORDS);
    this.counts = new Int32Array(buffers);
    this.open = new Int32Array(buffers).fill(-1);
  }

  /** Sets a block's bit in a buffer's bitmap; returns true if it was clear (as BlockBitmap.set). */
  set(buffer: number, block: number): boolean {
    const at = buffer * BITMAP_WORDS + (block >> 5);
    const mask = 1 << (block & 31);
    const word = this.words[at] as number;
    if ((word & mask) !== 0) return false;
    const now = word | mask;
    this.words[at] = now;
    this.counts[buffer] = (this.counts[buffer] as number) + 1;
    if (now === -1) this.open[buffer] = (this.open[buffer] as number) & ~(1 << (block >> 5));
    return true;
  }

  count(buffer: number): number {
    return this.counts[buffer] as number;
  }

  /** True if a buffer lacks any of the `count` blocks from `first`. */
  lacksAny(buffer: number, first: number, count: number): boolean {
    const base = buffer * BITMAP_WORDS;
    for (let b = first; b < first + count; b++) if (((this.words[base + (b >> 5)] as number) & (1 << (b & 31))) === 0) return true;
    return false;
  }

  /**
   * True if a buffer lacks any block below `blocks` whose bit is set in `wanted` (a request's
   * bitmap, as on the wire), tested on the buffer's open words only, lowest first.
   */
  lacksAnyOf(buffer: number, wanted: Uint8Array, blocks: number): boolean {
    const base = buffer * BITMAP_WORDS;
    let open = this.open[buffer] as number;
    while (open !== 0) {
      const i = 31 - Math.clz32(open & -open);
      open &= open - 1;
      const first = i << 5;
      if (first >= blocks) return false;
      const j = i << 2;
      let asked = (wanted[j] as number) | ((wanted[j + 1] as number) << 8) | ((wanted[j + 2] as number) << 16) | ((wanted[j + 3] as number) << 24);
      if (blocks - first < 32) asked &= (1 << (blocks - first)) - 1;
      if ((asked & ~(this.words[base + i] as number)) !== 0) return true;
    }
    return false;
  }

  clear(buffer: number): void {
    this.words.fill(0, buffer * BITMAP_WORDS, (buffer + 1) * BITMAP_WORDS);
    this.counts[buffer] = 0;
    this.open[buffer] = -1;
  }

  /** A copy of a buffer's bitmap, in the wire's byte order. */
  bitmap(buffer: number): BlockBitmap {
    const bytes = new Uint8Array(BITMAP_BYTES);
    const base = buffer * BITMAP_WORDS;
    for (let i = 0; i < BITMAP_WORDS; i++) {
      const word = this.words[base + i] as number;
      if (word === 0) continue;
      bytes[4 * i] = word & 0xff;
      bytes[4 * i + 1] = (word >>> 8) & 0xff;
      bytes[4 * i + 2] = (word >>> 16) & 0xff;
      bytes[4 * i + 3] = word >>> 24;
    }
    return new BlockBitmap(bytes);
  }
}
