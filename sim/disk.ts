import type { Micros, Rng } from "../core/engine/index.js";

export interface DiskSpec {
  sizeBytes: number;
  writeBytesPerSec: number;
  readBytesPerSec: number;
  /** Fixed cost of every operation, before its bytes move. */
  latencyUs: Micros;
  /** Probability that a write fails. */
  writeErrorRate: number;
  /** Byte ranges whose writes always fail (bad sectors). */
  badRanges: readonly { offset: number; length: number }[];
  /** Keep written bytes so they can be read back (off for capacity runs that only need timing). */
  keepData: boolean;
}

export interface DiskStats {
  writes: number;
  writeBytes: number;
  reads: number;
  readBytes: number;
  writeErrors: number;
  busyUs: number;
}

const BLOCK_BYTES = 65_536;

/**
 * A disk that serves one operation at a time, FIFO: each takes its latency plus its bytes at the
 * disk's throughput. `schedule*` return the completion time; the host turns that into an input.
 */
export class SimDisk {
  private busyUntilUs: Micros = 0;
  private readonly blocks = new Map<number, Uint8Array>();
  readonly stats: DiskStats = { writes: 0, writeBytes: 0, reads: 0, readBytes: 0, writeErrors: 0, busyUs: 0 };

  constructor(
    readonly spec: DiskSpec,
    private readonly rng: Rng,
  ) {}

  /** Returns [completion time, error or null]; the bytes land only if there is no error. */
  scheduleWrite(nowUs: Micros, offset: number, data: Uint8Array | number): [Micros, string | null] {
    const length = typeof data === "number" ? data : data.byteLength;
    const doneUs = this.occupy(nowUs, length, this.spec.writeBytesPerSec);
    this.stats.writes++;
    const error = this.writeError(offset, length);
    if (error !== null) {
      this.stats.writeErrors++;
      return [doneUs, error];
    }
    this.stats.writeBytes += length;
    if (this.spec.keepData) this.store(offset, data);
    return [doneUs, null];
  }

  scheduleRead(nowUs: Micros, offset: number, length: number): [Micros, string | null, Uint8Array | undefined] {
    const doneUs = this.occupy(nowUs, length, this.spec.readBytesPerSec);
    this.stats.reads++;
    const error = this.rangeError(offset, length);
    if (error !== null) return [doneUs, error, undefined];
    this.stats.readBytes += length;
    return [doneUs, null, this.readNow(offset, length)];
  }

  /** The bytes at a range as they stand (unwritten bytes read as zero). */
  readNow(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    forEachBlock(offset, length, (block, within, take, at) => {
      const stored = this.blocks.get(block);
      if (stored !== undefined) out.set(stored.subarray(within, within + take), at);
    });
    return out;
  }

  private occupy(nowUs: Micros, length: number, bytesPerSec: number): Micros {
    const startUs = Math.max(nowUs, this.busyUntilUs);
    const costUs = this.spec.latencyUs + Math.ceil((length * 1_000_000) / bytesPerSec);
    this.busyUntilUs = startUs + costUs;
    this.stats.busyUs += costUs;
    return this.busyUntilUs;
  }

  private rangeError(offset: number, length: number): string | null {
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.spec.sizeBytes) {
      return `offset ${offset} length ${length} is outside the disk (${this.spec.sizeBytes} bytes)`;
    }
    return null;
  }

  private writeError(offset: number, length: number): string | null {
    const outside = this.rangeError(offset, length);
    if (outside !== null) return outside;
    for (const bad of this.spec.badRanges) {
      if (offset < bad.offset + bad.length && bad.offset < offset + length) return `bad sector at offset ${bad.offset}`;
    }
    if (this.spec.writeErrorRate > 0 && this.rng.next() < this.spec.writeErrorRate) return "injected write error";
    return null;
  }

  /** Keeps written bytes; a zero write (a length) only clears blocks that already hold data. */
  private store(offset: number, data: Uint8Array | number): void {
    const length = typeof data === "number" ? data : data.byteLength;
    forEachBlock(offset, length, (block, within, take, at) => {
      let stored = this.blocks.get(block);
      if (typeof data === "number") {
        stored?.fill(0, within, within + take);
        return;
      }
      if (stored === undefined) {
        stored = new Uint8Array(BLOCK_BYTES);
        this.blocks.set(block, stored);
      }
      stored.set(data.subarray(at, at + take), within);
    });
  }
}

/** Calls `visit(block, offsetWithinBlock, bytes, offsetWithinRange)` for each block piece of a range. */
function forEachBlock(
  offset: number,
  length: number,
  visit: (block: number, within: number, take: number, at: number) => void,
): void {
  for (let pos = offset; pos < offset + length; ) {
    const block = Math.floor(pos / BLOCK_BYTES);
    const within = pos - block * BLOCK_BYTES;
    const take = Math.min(BLOCK_BYTES - within, offset + length - pos);
    visit(block, within, take, pos - offset);
    pos += take;
  }
}
