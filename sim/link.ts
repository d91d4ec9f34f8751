import { serialisationUs, type Micros } from "../core/engine/index.js";
import type { LossModel } from "./loss.js";

export interface LinkSpec {
  bandwidthBps: number;
  latencyUs: Micros;
  /** Bytes the egress queue holds, counting the packet being serialised. */
  queueBytesMax: number;
}

export interface LinkStats {
  packets: number;
  bytes: number;
  lost: number;
  queueDrops: number;
  queueBytesPeak: number;
}

export const LINK_QUEUE_DROP = -1;
export const LINK_LOST = -2;

const BITS_PER_BYTE_US = 8_000_000;
/**
 * Relative margin under which a backlog is certainly below a bound without dividing: far larger
 * than the few rounding errors between the two ways of comparing, so both give the same answer.
 */
const CERTAINLY_BELOW = 1 - 1e-6;

// The words of one link's row in a LinkTable.
const BUSY_UNTIL_US = 0;
const BANDWIDTH_BPS = 1;
const LATENCY_US = 2;
const QUEUE_BYTES_MAX = 3;
const PACKETS = 4;
const BYTES = 5;
const LOST = 6;
const QUEUE_DROPS = 7;
const QUEUE_BYTES_PEAK = 8;
// Most packets on a link have the same size: the last size and its serialisation time.
const LAST_BYTES = 9;
const LAST_SERIALISATION_US = 10;
/**
 * The fast path's bound, precomputed: a packet of LAST_BYTES bytes certainly fits the queue and
 * sets no new peak when (busyUntil - now) * bandwidth is below it. Kept up to date by every write
 * of the words it depends on (queue limit, peak, last size).
 */
const ROOM_SCALED = 11;
const ROW_WORDS = 16;
const STATS_WORDS: Readonly<Record<keyof LinkStats, number>> = {
  packets: PACKETS,
  bytes: BYTES,
  lost: LOST,
  queueDrops: QUEUE_DROPS,
  queueBytesPeak: QUEUE_BYTES_PEAK,
};

/** Most links one table may hold (a network has two per host). */
export const LINKS_MAX = 1 << 24;

/**
 * The state of many links in one Float64Array, a row of words per link. A multicast fan-out
 * touches every member's downlink for every packet; rows in one typed array make that a walk over
 * contiguous numbers instead of three objects and their boxed counters per link.
 */
export class LinkTable {
  private words = new Float64Array(ROW_WORDS * 8);
  private readonly specs: Readonly<LinkSpec>[] = [];
  private readonly losses: (LossModel | null)[] = [];
  /** What the last transmitTrain left: the arrival of its first copy through, its queue drops and losses. */
  trainArrivalUs = -1;
  trainQueueDrops = 0;
  trainLost = 0;
  /** transmitTrain's scratch: when each packet of the train leaves the wire. */
  private readonly trainDoneUs = new Float64Array(32);

  get count(): number {
    return this.specs.length;
  }

  add(spec: LinkSpec): number {
    const i = this.specs.length;
    if (i >= LINKS_MAX) throw new Error(`more than ${LINKS_MAX} links`);
    if ((i + 1) * ROW_WORDS > this.words.length) {
      const bigger = new Float64Array(this.words.length * 2);
      bigger.set(this.words);
      this.words = bigger;
    }
    this.specs.push(Object.freeze({ ...spec }));
    this.losses.push(null);
    this.setSpec(i, spec);
    return i;
  }

  spec(i: number): Readonly<LinkSpec> {
    return this.specs[i] as Readonly<LinkSpec>;
  }

  /** The spec is copied: a link changes only by assigning it a new one. */
  setSpec(i: number, spec: LinkSpec): void {
    const copy = Object.freeze({ bandwidthBps: spec.bandwidthBps, latencyUs: spec.latencyUs, queueBytesMax: spec.queueBytesMax });
    this.specs[i] = copy;
    const at = i * ROW_WORDS;
    this.words[at + BANDWIDTH_BPS] = copy.bandwidthBps;
    this.words[at + LATENCY_US] = copy.latencyUs;
    this.words[at + QUEUE_BYTES_MAX] = copy.queueBytesMax;
    this.words[at + LAST_BYTES] = -1;
    this.updateRoom(at);
  }

  loss(i: number): LossModel | null {
    return this.losses[i] as LossModel | null;
  }

  setLoss(i: number, loss: LossModel | null): void {
    this.losses[i] = loss;
  }

  busyUntilUs(i: number): Micros {
    return this.words[i * ROW_WORDS + BUSY_UNTIL_US] as number;
  }

  /** The counters of link `i`, live: reading gives the current value, writing sets it. */
  stats(i: number): LinkStats {
    const stats = {} as LinkStats;
    for (const [name, word] of Object.entries(STATS_WORDS)) {
      Object.defineProperty(stats, name, {
        enumerable: true,
        get: () => this.words[i * ROW_WORDS + word] as number,
        set: (value: number) => {
          this.words[i * ROW_WORDS + word] = value;
          this.updateRoom(i * ROW_WORDS);
        },
      });
    }
    return stats;
  }

  backlogBytes(i: number, nowUs: Micros): number {
    const at = i * ROW_WORDS;
    const busyUntilUs = this.words[at + BUSY_UNTIL_US] as number;
    if (busyUntilUs <= nowUs) return 0;
    return ((busyUntilUs - nowUs) * (this.words[at + BANDWIDTH_BPS] as number)) / BITS_PER_BYTE_US;
  }

  /**
   * Offers a packet to link `i` at `nowUs`. Returns its arrival time at the far end, or
   * LINK_QUEUE_DROP when the queue is full, or LINK_LOST when the loss model takes it (a lost
   * packet still used the wire).
   */
  transmit(i: number, nowUs: Micros, bytes: number): number {
    const w = this.words;
    const at = i * ROW_WORDS;
    const busyUntilUs = w[at + BUSY_UNTIL_US] as number;
    const aheadUs = busyUntilUs > nowUs ? busyUntilUs - nowUs : 0;
    // The common case: a packet of the last packet's size that certainly fits the queue and sets
    // no new peak, decided without the backlog's division (it would cost more than all the rest).
    // Anything else goes the long way, which computes the backlog exactly, so the outcome is the
    // same either way. The rest is `send`, written out: every copy of a fan-out comes this way.
    if (bytes !== w[at + LAST_BYTES] || !(aheadUs * (w[at + BANDWIDTH_BPS] as number) < (w[at + ROOM_SCALED] as number))) {
      return this.transmitCarefully(i, nowUs, bytes);
    }
    const doneUs = (aheadUs > 0 ? busyUntilUs : nowUs) + (w[at + LAST_SERIALISATION_US] as number);
    w[at + BUSY_UNTIL_US] = doneUs;
    w[at + PACKETS] = (w[at + PACKETS] as number) + 1;
    w[at + BYTES] = (w[at + BYTES] as number) + bytes;
    const loss = this.losses[i] as LossModel | null;
    if (loss !== null && loss.lose()) {
      addTo(w, at + LOST, 1);
      return LINK_LOST;
    }
    return doneUs + (w[at + LATENCY_US] as number);
  }

  /**
   * Offers packets to link `i` one after another, packet k of `sizes[k]` bytes at `atUs[k]`: the same
   * as `transmit` of each in turn. Returns which got through (bit k for packet k, at most 32) and
   * leaves the arrival of the first of them in `trainArrivalUs`, and the queue drops and losses in
   * `trainQueueDrops` and `trainLost`. `sameBytes` is the packets' size when they all have it (else
   * -1). Every copy of a train comes this way. The common case (all of the link's last size, all
   * certainly fitting, as `transmit`'s fast path) is worked out in locals, written back once, and
   * its losses drawn in one call; the same arithmetic in the same order, so the same outcome.
   */
  transmitTrain(i: number, atUs: readonly number[], sizes: readonly number[], sameBytes: number): number {
    const w = this.words;
    const at = i * ROW_WORDS;
    const n = atUs.length;
    if (sameBytes !== w[at + LAST_BYTES]) return this.transmitEach(i, atUs, sizes);
    const bandwidthBps = w[at + BANDWIDTH_BPS] as number;
    const roomScaled = w[at + ROOM_SCALED] as number;
    const serialisationUs = w[at + LAST_SERIALISATION_US] as number;
    const doneUs = this.trainDoneUs;
    let busyUntilUs = w[at + BUSY_UNTIL_US] as number;
    for (let k = 0; k < n; k++) {
      const nowUs = atUs[k] as number;
      const aheadUs = busyUntilUs > nowUs ? busyUntilUs - nowUs : 0;
      if (!(aheadUs * bandwidthBps < roomScaled)) return this.transmitEach(i, atUs, sizes);
      busyUntilUs = (aheadUs > 0 ? busyUntilUs : nowUs) + serialisationUs;
      doneUs[k] = busyUntilUs;
    }
    w[at + BUSY_UNTIL_US] = busyUntilUs;
    w[at + PACKETS] = (w[at + PACKETS] as number) + n;
    w[at + BYTES] = (w[at + BYTES] as number) + n * sameBytes;
    const loss = this.losses[i] as LossModel | null;
    const lostMask = loss === null ? 0 : loss.loseEach !== undefined ? loss.loseEach(n) : loseEachOf(loss, n);
    const all = n === 32 ? -1 : (1 << n) - 1;
    const kept = all & ~lostMask;
    const lost = lostMask === 0 ? 0 : bitCount(lostMask);
    if (lost > 0) addTo(w, at + LOST, lost);
    this.trainQueueDrops = 0;
    this.trainLost = lost;
    this.trainArrivalUs = kept === 0 ? -1 : (doneUs[31 - Math.clz32(kept & -kept)] as number) + (w[at + LATENCY_US] as number);
    return kept;
  }

  /** transmitTrain the long way: `transmit` of each packet in turn. */
  private transmitEach(i: number, atUs: readonly number[], sizes: readonly number[]): number {
    let kept = 0;
    let firstUs = -1;
    let drops = 0;
    let lost = 0;
    for (let k = 0; k < atUs.length; k++) {
      const arrival = this.transmit(i, atUs[k] as number, sizes[k] as number);
      if (arrival === LINK_QUEUE_DROP) drops++;
      else if (arrival === LINK_LOST) lost++;
      else {
        kept |= 1 << k;
        if (firstUs < 0) firstUs = arrival;
      }
    }
    this.trainArrivalUs = firstUs;
    this.trainQueueDrops = drops;
    this.trainLost = lost;
    return kept;
  }

  private transmitCarefully(i: number, nowUs: Micros, bytes: number): number {
    const w = this.words;
    const at = i * ROW_WORDS;
    const backlog = this.backlogBytes(i, nowUs);
    if (backlog + bytes > (w[at + QUEUE_BYTES_MAX] as number)) {
      addTo(w, at + QUEUE_DROPS, 1);
      return LINK_QUEUE_DROP;
    }
    if (backlog + bytes > (w[at + QUEUE_BYTES_PEAK] as number)) w[at + QUEUE_BYTES_PEAK] = backlog + bytes;
    if (bytes !== w[at + LAST_BYTES]) {
      w[at + LAST_BYTES] = bytes;
      w[at + LAST_SERIALISATION_US] = serialisationUs(bytes, w[at + BANDWIDTH_BPS] as number);
    }
    this.updateRoom(at);
    const busyUntilUs = w[at + BUSY_UNTIL_US] as number;
    return this.send(i, busyUntilUs > nowUs ? busyUntilUs : nowUs, bytes);
  }

  /**
   * A backlog (in bytes times 8e6) below this leaves room for a packet of the last size under both
   * the queue limit and the peak, with a margin of 1e-6 over the rounding errors between comparing
   * this way and dividing: so both give the same answer.
   */
  private updateRoom(at: number): void {
    const w = this.words;
    const roomBytes = Math.min(w[at + QUEUE_BYTES_MAX] as number, w[at + QUEUE_BYTES_PEAK] as number) - (w[at + LAST_BYTES] as number);
    w[at + ROOM_SCALED] = roomBytes * BITS_PER_BYTE_US * CERTAINLY_BELOW;
  }

  /** Serialises an accepted packet from `startUs`; returns its arrival, or LINK_LOST (as the end of `transmit`). */
  private send(i: number, startUs: Micros, bytes: number): number {
    const w = this.words;
    const at = i * ROW_WORDS;
    const doneUs = startUs + (w[at + LAST_SERIALISATION_US] as number);
    w[at + BUSY_UNTIL_US] = doneUs;
    addTo(w, at + PACKETS, 1);
    addTo(w, at + BYTES, bytes);
    const loss = this.losses[i] as LossModel | null;
    if (loss !== null && loss.lose()) {
      addTo(w, at + LOST, 1);
      return LINK_LOST;
    }
    return doneUs + (w[at + LATENCY_US] as number);
  }
}

function addTo(words: Float64Array, at: number, n: number): void {
  words[at] = (words[at] as number) + n;
}

/**
 * One direction of a wire with a FIFO egress queue. Packets are serialised at the link's bandwidth
 * one after another; the queue's occupancy is exactly the bytes not yet serialised, which is
 * (busyUntil - now) worth of bandwidth, so no event is needed when a packet leaves the queue.
 * A link is a row of a LinkTable (its own, unless a network gives it one of its tables).
 */
export class Link {
  readonly index: number;
  /** The link's counters, live (see LinkTable.stats). */
  readonly stats: LinkStats;

  constructor(
    readonly name: string,
    spec: LinkSpec,
    readonly table: LinkTable = new LinkTable(),
  ) {
    this.index = table.add(spec);
    this.stats = table.stats(this.index);
  }

  /** A frozen copy of what was assigned: assign a whole new spec to change the link. */
  get spec(): Readonly<LinkSpec> {
    return this.table.spec(this.index);
  }

  set spec(spec: LinkSpec) {
    this.table.setSpec(this.index, spec);
  }

  get loss(): LossModel | null {
    return this.table.loss(this.index);
  }

  set loss(loss: LossModel | null) {
    this.table.setLoss(this.index, loss);
  }

  get busyUntilUs(): Micros {
    return this.table.busyUntilUs(this.index);
  }

  backlogBytes(nowUs: Micros): number {
    return this.table.backlogBytes(this.index, nowUs);
  }

  /** See LinkTable.transmit. */
  transmit(nowUs: Micros, bytes: number): number {
    return this.table.transmit(this.index, nowUs, bytes);
  }
}

/** `n` calls of a loss model that has no loseEach: bit k set if packet k is lost. */
function loseEachOf(loss: LossModel, n: number): number {
  let lost = 0;
  for (let k = 0; k < n; k++) if (loss.lose()) lost |= 1 << k;
  return lost;
}

/** Bits set in a 32-bit word. */
export function bitCount(word: number): number {
  let v = word - ((word >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}
