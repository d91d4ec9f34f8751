import { BITMAP_BYTES, CHUNK_BLOCKS } from "./constants.js";

/**
 * Which blocks of one chunk: 1024 bits in the original's wire layout (block n is bit n % 8 of
 * byte n / 8, least significant bit first), so a PREQUEST bitmap is this array as it is.
 */
export class BlockBitmap {
  readonly bytes: Uint8Array;
  /**
   * The same bytes as 32-bit words, for the operations that treat every bit alike (or, covers,
   * counting), which are then the same on either byte order.
   */
  private readonly words: Uint32Array;
  private setCount: number;

  /**
   * `bytes` become this bitmap's storage, shared with the caller, when they start at a 4-byte
   * boundary (every caller's do: fresh arrays and slices); others are copied, so the words view
   * always exists and there is one code path.
   */
  constructor(bytes?: Uint8Array) {
    if (bytes !== undefined && bytes.length !== BITMAP_BYTES) throw new Error(`a block bitmap is ${BITMAP_BYTES} bytes, got ${bytes.length}`);
    this.bytes = bytes === undefined ? new Uint8Array(BITMAP_BYTES) : (bytes.byteOffset & 3) === 0 ? bytes : bytes.slice();
    this.words = new Uint32Array(this.bytes.buffer, this.bytes.byteOffset, BITMAP_WORDS);
    this.setCount = bytes === undefined ? 0 : this.countSet();
  }

  static full(blocks: number = CHUNK_BLOCKS): BlockBitmap {
    const map = new BlockBitmap();
    map.setRange(0, blocks);
    return map;
  }

  get count(): number {
    return this.setCount;
  }

  has(block: number): boolean {
    return ((this.bytes[block >> 3] as number) & (1 << (block & 7))) !== 0;
  }

  /** Sets a bit; returns true if it was clear. */
  set(block: number): boolean {
    const i = block >> 3;
    const mask = 1 << (block & 7);
    const byte = this.bytes[i] as number;
    if ((byte & mask) !== 0) return false;
    this.bytes[i] = byte | mask;
    this.setCount++;
    return true;
  }

  clear(block: number): void {
    const i = block >> 3;
    const mask = 1 << (block & 7);
    const byte = this.bytes[i] as number;
    if ((byte & mask) === 0) return;
    this.bytes[i] = byte & ~mask;
    this.setCount--;
  }

  setRange(first: number, count: number): void {
    for (let b = first; b < first + count; b++) this.set(b);
  }

  clearRange(first: number, count: number): void {
    for (let b = first; b < first + count; b++) this.clear(b);
  }

  clearAll(): void {
    this.bytes.fill(0);
    this.setCount = 0;
  }

  /** Counts the set bits again, after the bytes were written directly. */
  recount(): void {
    this.setCount = this.countSet();
  }

  /** ORs `other` into this one. */
  or(other: BlockBitmap): void {
    const mine = this.words;
    const theirs = other.words;
    let n = 0;
    for (let w = 0; w < BITMAP_WORDS; w++) {
      const x = (mine[w] as number) | (theirs[w] as number);
      mine[w] = x;
      n += popcount32(x);
    }
    this.setCount = n;
  }

  /** True if every bit set in `other` is set here. */
  covers(other: BlockBitmap): boolean {
    const mine = this.words;
    const theirs = other.words;
    for (let w = 0; w < BITMAP_WORDS; w++) if (((theirs[w] as number) & ~(mine[w] as number)) !== 0) return false;
    return true;
  }

  private countSet(): number {
    const words = this.words;
    let n = 0;
    for (let w = 0; w < BITMAP_WORDS; w++) n += popcount32(words[w] as number);
    return n;
  }

  /** The first run of set bits at or after `from`, limited to `maxLength`, as [first, length]; length 0 if none. */
  firstRun(maxLength: number, from = 0): [number, number] {
    let b = from;
    while (b < CHUNK_BLOCKS) {
      const byte = this.bytes[b >> 3] as number;
      if (byte === 0) {
        b = (b | 7) + 1;
        continue;
      }
      if ((byte & (1 << (b & 7))) !== 0) break;
      b++;
    }
    if (b >= CHUNK_BLOCKS) return [0, 0];
    const first = b;
    while (b < CHUNK_BLOCKS && b - first < maxLength && this.has(b)) b++;
    return [first, b - first];
  }

  /** The complement within the first `blocks` blocks: what is missing. */
  missing(blocks: number = CHUNK_BLOCKS): BlockBitmap {
    const bytes = new Uint8Array(BITMAP_BYTES);
    const whole = blocks >> 3;
    for (let i = 0; i < whole; i++) bytes[i] = ~(this.bytes[i] as number) & 0xff;
    const rest = blocks & 7;
    if (rest > 0) bytes[whole] = ~(this.bytes[whole] as number) & ((1 << rest) - 1);
    return new BlockBitmap(bytes);
  }

  copy(): BlockBitmap {
    return new BlockBitmap(this.bytes.slice());
  }
}

const BITMAP_WORDS = BITMAP_BYTES / 4;

/** The set bits of a 32-bit word. */
export function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}
