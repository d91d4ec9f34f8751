/** The flat containers of the chunk model: per-client queues and lists, a segment, an idle round's requests. */
import type { BlockBitmap } from "../../../core/frisbee/bitmap.js";

/**
 * The requests of an idle round, held until the round is over so that the server's link sees them
 * in the order they arrive there: every client's first request, then every client's second, and
 * so on (the switch interleaves the clients' links). A partial request keeps the buffer it asks
 * about (its bitmap is made only if the server's link takes it; nothing moves during a round), a
 * whole-chunk request -1.
 */
export class Herd {
  size = 0;
  private chunk = new Int32Array(1024);
  private slot = new Int32Array(1024);
  private position = new Int32Array(1024);
  private arrivalUs = new Float64Array(1024);
  private order = new Int32Array(1024);
  private perPosition = new Int32Array(64);

  push(chunk: number, slot: number, position: number, arrivalUs: number): void {
    if (this.size === this.chunk.length) this.grow();
    const k = this.size++;
    this.chunk[k] = chunk;
    this.slot[k] = slot;
    this.position[k] = position;
    this.arrivalUs[k] = arrivalUs;
  }

  /** Visits the requests by position in their client's round, then in the order they were made. */
  forEachInArrivalOrder(visit: (chunk: number, slot: number, arrivalUs: number) => void): void {
    let positions = 0;
    for (let k = 0; k < this.size; k++) positions = Math.max(positions, (this.position[k] as number) + 1);
    if (this.perPosition.length < positions + 1) this.perPosition = new Int32Array(positions + 1);
    const start = this.perPosition.fill(0, 0, positions + 1);
    for (let k = 0; k < this.size; k++) start[(this.position[k] as number) + 1] = (start[(this.position[k] as number) + 1] as number) + 1;
    for (let p = 1; p <= positions; p++) start[p] = (start[p] as number) + (start[p - 1] as number);
    for (let k = 0; k < this.size; k++) {
      const p = this.position[k] as number;
      this.order[start[p] as number] = k;
      start[p] = (start[p] as number) + 1;
    }
    const n = this.size;
    this.size = 0;
    for (let j = 0; j < n; j++) {
      const k = this.order[j] as number;
      visit(this.chunk[k] as number, this.slot[k] as number, this.arrivalUs[k] as number);
    }
  }

  private grow(): void {
    const length = this.chunk.length * 2;
    const grown = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(length);
      b.set(a);
      return b;
    };
    this.chunk = grown(this.chunk, (n) => new Int32Array(n));
    this.slot = grown(this.slot, (n) => new Int32Array(n));
    this.position = grown(this.position, (n) => new Int32Array(n));
    this.arrivalUs = grown(this.arrivalUs, (n) => new Float64Array(n));
    this.order = new Int32Array(length);
  }
}

/** One send of the server: every wanted block of a chunk, delivered when the last would arrive. */
export interface Segment {
  chunk: number;
  /** Blocks sent and not lost at the server, as 32-bit words. */
  words: Uint32Array;
  /** Their block numbers, ascending, for drawing each receiver's losses by position. */
  blocks: Int16Array;
  /** When the first and the last of them reach a client. */
  firstUs: number;
  lastUs: number;
  /**
   * When each was sent: `blocks[p]` was the `sendIndex[p]`th sent (those lost at the server
   * count), the first `firstPackets` at `sentUs`, then bursts of `burstPackets` every `gapUs`
   * from `nextBurstUs`.
   */
  sendIndex: Int16Array;
  sentUs: number;
  firstPackets: number;
  nextBurstUs: number;
  burstPackets: number;
  gapUs: number;
  /** It has passed the clients' downlinks (SharedDownlink). */
  passed: boolean;
}

/** When the block at position `p` of a segment was sent. */
export function sendTimeUs(s: Segment, p: number): number {
  const i = s.sendIndex[p] as number;
  return i < s.firstPackets ? s.sentUs : s.nextBurstUs + Math.floor((i - s.firstPackets) / s.burstPackets) * s.gapUs;
}

/**
 * A first-in first-out queue of small non-negative numbers per client, all in one flat array:
 * thousands of clients' own arrays would cost a pointer chase and a cache miss per use.
 */
export class ClientFifos {
  private readonly items: Int32Array;
  private readonly head: Uint16Array;
  readonly count: Uint16Array;

  constructor(
    clients: number,
    private readonly capacity: number,
  ) {
    this.items = new Int32Array(clients * capacity);
    this.head = new Uint16Array(clients);
    this.count = new Uint16Array(clients);
  }

  push(i: number, value: number): void {
    const n = this.count[i] as number;
    if (n === this.capacity) throw new Error(`chunk model: client ${i}'s queue of ${this.capacity} is full`);
    this.items[i * this.capacity + (((this.head[i] as number) + n) % this.capacity)] = value;
    this.count[i] = n + 1;
  }

  /** The oldest value, removed; -1 if none. */
  shift(i: number): number {
    const n = this.count[i] as number;
    if (n === 0) return -1;
    const h = this.head[i] as number;
    const value = this.items[i * this.capacity + h] as number;
    this.head[i] = (h + 1) % this.capacity;
    this.count[i] = n - 1;
    return value;
  }
}

/** A list of small numbers per client in the order they were added, in one flat array. */
export class ClientLists {
  private readonly items: Uint8Array;
  readonly count: Uint8Array;

  constructor(
    clients: number,
    private readonly capacity: number,
  ) {
    if (capacity > 255) throw new Error(`chunk model: lists of up to 255, not ${capacity}`);
    this.items = new Uint8Array(clients * capacity);
    this.count = new Uint8Array(clients);
  }

  at(i: number, k: number): number {
    return this.items[i * this.capacity + k] as number;
  }

  push(i: number, value: number): void {
    const n = this.count[i] as number;
    if (n === this.capacity) throw new Error(`chunk model: client ${i}'s list of ${this.capacity} is full`);
    this.items[i * this.capacity + n] = value;
    this.count[i] = n + 1;
  }

  /** Removes `value`, keeping the order of the rest. */
  remove(i: number, value: number): void {
    const base = i * this.capacity;
    const end = base + (this.count[i] as number);
    let at = base;
    while (at < end && this.items[at] !== value) at++;
    if (at === end) return;
    for (; at < end - 1; at++) this.items[at] = this.items[at + 1] as number;
    this.count[i] = end - base - 1;
  }
}

/**
 * Requests on their way into the server, in the order they reach it, each with the blocks it asks
 * for (copied when it was sent: the client's buffer changes meanwhile). A herd of thousands takes
 * milliseconds to pass the server's link, and the server starts sending on the first: the rest
 * must reach its work queue at their own times, not all at once.
 */
export class ArrivingRequests {
  private atUs: number[] = [];
  private chunk: number[] = [];
  private blocks: BlockBitmap[] = [];
  private head = 0;

  get size(): number {
    return this.atUs.length - this.head;
  }

  /** When the oldest reaches the server (Infinity if none). */
  get firstUs(): number {
    return this.head < this.atUs.length ? (this.atUs[this.head] as number) : Infinity;
  }

  push(atUs: number, chunk: number, blocks: BlockBitmap): void {
    this.atUs.push(atUs);
    this.chunk.push(chunk);
    this.blocks.push(blocks);
  }

  /** Hands each request that has reached the server by `nowUs` to `take`, oldest first. */
  takeUntil(nowUs: number, take: (chunk: number, blocks: BlockBitmap) => void): void {
    while (this.head < this.atUs.length && (this.atUs[this.head] as number) <= nowUs) {
      take(this.chunk[this.head] as number, this.blocks[this.head] as BlockBitmap);
      this.head++;
    }
    if (this.head === this.atUs.length) {
      this.atUs = [];
      this.chunk = [];
      this.blocks = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.atUs.length) {
      this.atUs = this.atUs.slice(this.head);
      this.chunk = this.chunk.slice(this.head);
      this.blocks = this.blocks.slice(this.head);
      this.head = 0;
    }
  }
}
