import type { Micros } from "./time.js";

/** Most events that may be pending at once; scheduling past it is a bug in the caller (a runaway). */
export const PENDING_EVENTS_MAX = 1 << 26;
const SLOT_BITS = 2 ** 26;
const GENERATION_MAX = 2 ** 26;
/** Heap keys pack (seq, slot) in one double; seqs are renumbered before they outgrow it. */
const SEQ_LIMIT = 2 ** 53 / SLOT_BITS;
const CAPACITY_INITIAL = 1024;

/** Identifies a scheduled event for cancellation; stale handles are recognised and ignored. */
export type EventHandle = number;

/**
 * Pending events ordered by (time, seq) on typed arrays. Each event owns a slot holding its handler
 * kind, numeric argument and optional reference; the binary heap moves only a time and a key that
 * packs (seq, slot), so ordering by key breaks time ties in insertion order.
 * Events scheduled for the current time skip the heap and go to a FIFO ring: their seq is newer
 * than every heap entry at the same time, so heap entries at `now` drain first, then the ring.
 * Cancelled events are left in place and skipped when they surface.
 */
export class EventQueue {
  // Heap, parallel arrays indexed by heap position.
  private heapTime = new Float64Array(CAPACITY_INITIAL);
  private heapKey = new Float64Array(CAPACITY_INITIAL);
  private heapSize = 0;

  // Ring of slots due at `now`, in insertion order.
  private ring = new Int32Array(CAPACITY_INITIAL);
  private ringHead = 0;
  private ringSize = 0;

  // Slots, indexed by slot number.
  kind = new Int32Array(CAPACITY_INITIAL);
  arg = new Float64Array(CAPACITY_INITIAL);
  ref: unknown[] = [];
  private generation = new Uint32Array(CAPACITY_INITIAL);
  private live = new Uint8Array(CAPACITY_INITIAL);
  private freeSlots = new Int32Array(CAPACITY_INITIAL);
  private freeCount = 0;
  private slotCount = 0;

  private seqNext = 0;
  private pendingCount = 0;
  /** The time of the event most recently popped; never decreases. */
  now: Micros = 0;

  /** `seqLimit` is for tests, to make renumbering happen after a few events instead of 2^27. */
  constructor(private readonly seqLimit: number = SEQ_LIMIT) {
    if (!(seqLimit >= 1 && seqLimit <= SEQ_LIMIT)) throw new Error(`seqLimit must be in [1, ${SEQ_LIMIT}]`);
  }

  get pending(): number {
    return this.pendingCount;
  }

  /** Schedules an event; `time` must not be earlier than `now`. */
  push(time: Micros, kind: number, arg: number, ref: unknown): EventHandle {
    return this.handleOf(this.insert(time, kind, arg, ref));
  }

  /**
   * `push` without making the handle: returns the event's slot, a small integer. A handle is
   * usually above the small-integer range, so returning one from a call that is not inlined
   * allocates a number box, per event, that most callers drop.
   */
  insert(time: Micros, kind: number, arg: number, ref: unknown): number {
    if (!(time >= this.now)) throw new Error(`event scheduled in the past: ${time} < now ${this.now}`);
    if (this.pendingCount >= PENDING_EVENTS_MAX) throw new Error(`more than ${PENDING_EVENTS_MAX} pending events`);
    const slot = this.allocSlot();
    this.kind[slot] = kind;
    this.arg[slot] = arg;
    this.ref[slot] = ref;
    this.live[slot] = 1;
    this.pendingCount++;
    if (time === this.now) this.ringPush(slot);
    else {
      if (this.seqNext >= this.seqLimit) this.renumber();
      this.heapPush(time, this.seqNext++ * SLOT_BITS + slot);
    }
    return slot;
  }

  /** The handle of the event pending in `slot`. */
  handleOf(slot: number): EventHandle {
    return (this.generation[slot] as number) * SLOT_BITS + slot;
  }

  /** Cancels a pending event; returns false if it already ran or was cancelled. */
  cancel(handle: EventHandle): boolean {
    const slot = handle % SLOT_BITS;
    const gen = (handle - slot) / SLOT_BITS;
    if (slot >= this.slotCount || this.generation[slot] !== gen || this.live[slot] !== 1) return false;
    this.live[slot] = 0;
    this.ref[slot] = undefined;
    this.pendingCount--;
    return true;
  }

  /**
   * Removes the next live event, advances `now` to its time and returns its slot, or -1 when none
   * is pending. The caller reads kind/arg/ref at the slot and must then call `release(slot)`.
   */
  pop(): number {
    for (;;) {
      let slot: number;
      if (this.heapSize > 0 && this.heapTime[0] === this.now) {
        slot = this.heapPop();
      } else if (this.ringSize > 0) {
        slot = this.ring[this.ringHead] as number;
        this.ringHead = (this.ringHead + 1) & (this.ring.length - 1);
        this.ringSize--;
      } else if (this.heapSize > 0) {
        this.now = this.heapTime[0] as number;
        slot = this.heapPop();
      } else {
        return -1;
      }
      if (this.live[slot] === 1) {
        this.live[slot] = 0;
        this.pendingCount--;
        return slot;
      }
      this.freeSlot(slot);
    }
  }

  /** The time of the next event without removing it (cancelled heads are skipped), or Infinity. */
  peekTime(): number {
    for (;;) {
      if (this.heapSize > 0 && this.heapTime[0] === this.now) {
        if (this.live[(this.heapKey[0] as number) % SLOT_BITS] === 1) return this.now;
        this.freeSlot(this.heapPop());
      } else if (this.ringSize > 0) {
        const slot = this.ring[this.ringHead] as number;
        if (this.live[slot] === 1) return this.now;
        this.ringHead = (this.ringHead + 1) & (this.ring.length - 1);
        this.ringSize--;
        this.freeSlot(slot);
      } else if (this.heapSize > 0) {
        if (this.live[(this.heapKey[0] as number) % SLOT_BITS] === 1) return this.heapTime[0] as number;
        this.freeSlot(this.heapPop());
      } else {
        return Infinity;
      }
    }
  }

  /** Returns a popped slot to the free list. */
  release(slot: number): void {
    this.ref[slot] = undefined;
    this.freeSlot(slot);
  }

  private freeSlot(slot: number): void {
    this.generation[slot] = ((this.generation[slot] as number) + 1) & (GENERATION_MAX - 1);
    // The free list has the slot arrays' capacity, so it never needs to grow here.
    this.freeSlots[this.freeCount++] = slot;
  }

  private allocSlot(): number {
    if (this.freeCount > 0) return this.freeSlots[--this.freeCount] as number;
    const slot = this.slotCount++;
    if (slot === this.kind.length) {
      this.kind = grow(this.kind);
      this.arg = grow(this.arg);
      this.generation = grow(this.generation);
      this.live = grow(this.live);
      this.freeSlots = grow(this.freeSlots);
    }
    return slot;
  }

  private ringPush(slot: number): void {
    if (this.ringSize === this.ring.length) {
      const bigger = new Int32Array(this.ring.length * 2);
      for (let i = 0; i < this.ringSize; i++) {
        bigger[i] = this.ring[(this.ringHead + i) & (this.ring.length - 1)] as number;
      }
      this.ring = bigger;
      this.ringHead = 0;
    }
    this.ring[(this.ringHead + this.ringSize) & (this.ring.length - 1)] = slot;
    this.ringSize++;
  }

  private heapPush(time: number, key: number): void {
    if (this.heapSize === this.heapTime.length) {
      this.heapTime = grow(this.heapTime);
      this.heapKey = grow(this.heapKey);
    }
    const times = this.heapTime;
    const keys = this.heapKey;
    let i = this.heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = times[parent] as number;
      if (pt < time || (pt === time && (keys[parent] as number) < key)) break;
      times[i] = pt;
      keys[i] = keys[parent] as number;
      i = parent;
    }
    times[i] = time;
    keys[i] = key;
  }

  /** Removes the heap's top and returns its slot. */
  private heapPop(): number {
    const times = this.heapTime;
    const keys = this.heapKey;
    const top = (keys[0] as number) % SLOT_BITS;
    const size = --this.heapSize;
    if (size === 0) return top;
    const time = times[size] as number;
    const key = keys[size] as number;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= size) break;
      const right = child + 1;
      if (right < size) {
        const lt = times[child] as number;
        const rt = times[right] as number;
        if (rt < lt || (rt === lt && (keys[right] as number) < (keys[child] as number))) child = right;
      }
      const ct = times[child] as number;
      if (time < ct || (time === ct && key < (keys[child] as number))) break;
      times[i] = ct;
      keys[i] = keys[child] as number;
      i = child;
    }
    times[i] = time;
    keys[i] = key;
    return top;
  }

  /**
   * Gives the pending heap entries new seqs 0..n-1 in their (time, seq) order. Relative order is
   * unchanged, so the heap stays a valid heap; only the numbers shrink.
   */
  private renumber(): void {
    const n = this.heapSize;
    const order = Array.from({ length: n }, (_, i) => i);
    const times = this.heapTime;
    const keys = this.heapKey;
    order.sort((a, b) => (times[a] as number) - (times[b] as number) || (keys[a] as number) - (keys[b] as number));
    order.forEach((at, rank) => {
      keys[at] = rank * SLOT_BITS + ((keys[at] as number) % SLOT_BITS);
    });
    this.seqNext = n;
  }
}

type Growable = Float64Array | Int32Array | Uint32Array | Uint8Array;

function grow<T extends Growable>(array: T): T {
  const bigger = new (array.constructor as new (length: number) => T)(array.length * 2);
  bigger.set(array);
  return bigger;
}
