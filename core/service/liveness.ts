import type { Micros } from "../engine/time.js";

/**
 * Liveness between peers as CoDeeN used it: every peer sends one heartbeat a second, and a peer is
 * avoided if it missed the latest heartbeat or 2 of the last 32. Time is cut into slots of one
 * heartbeat period; a peer's record is the last slot heard from it plus a 32-bit mask of the slots
 * heard before that, so a verdict costs a few word operations and nothing ticks per second.
 */
export interface LivenessRule {
  /** One heartbeat per period (CoDeeN: 1 s). */
  readonly periodUs: Micros;
  /** How many of the latest complete slots are judged (CoDeeN: 32; at most 32). */
  readonly windowSlots: number;
  /** A peer with this many missed slots in the window is avoided (CoDeeN: 2). */
  readonly missesToAvoid: number;
}

export const CODEEN_LIVENESS: LivenessRule = { periodUs: 1_000_000, windowSlots: 32, missesToAvoid: 2 };
export const LIVENESS_WINDOW_SLOTS_MAX = 32;
/** Most peers one record set tracks (sizes its typed arrays). */
export const LIVENESS_PEERS_MAX = 1 << 20;

export function checkLivenessRule(r: LivenessRule): string | null {
  if (!Number.isSafeInteger(r.periodUs) || r.periodUs < 1) return `periodUs: expected whole microseconds above 0, got ${r.periodUs}`;
  if (!Number.isInteger(r.windowSlots) || r.windowSlots < 1 || r.windowSlots > LIVENESS_WINDOW_SLOTS_MAX) return `windowSlots: expected 1 to ${LIVENESS_WINDOW_SLOTS_MAX}, got ${r.windowSlots}`;
  if (!Number.isInteger(r.missesToAvoid) || r.missesToAvoid < 1 || r.missesToAvoid > r.windowSlots) return `missesToAvoid: expected 1 to windowSlots, got ${r.missesToAvoid}`;
  return null;
}

/** The lowest `n` bits set (all 32 for n of 32 or more). */
function ones(n: number): number {
  return n >= 32 ? 0xffffffff : ((1 << n) - 1) >>> 0;
}

function popcount(x: number): number {
  let v = x >>> 0;
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** One observer's view of its peers (peer ids 0..peersMax-1). */
export class PeerLiveness {
  /** Last slot a heartbeat was heard in, or -1. */
  private readonly lastHeard: Float64Array;
  /**
   * Bit i set: slot lastHeard - 1 - i was heard. The last slot heard is heard by definition, so
   * the record covers 33 slots: a full window of 32 complete slots even when the latest heartbeat
   * came in the current slot (a mask holding lastHeard itself would cover only 31 of them then,
   * and count the oldest as missed).
   */
  private readonly mask: Uint32Array;
  /** Slots before this one do not count: the observer was not watching yet. */
  private readonly since: Float64Array;

  constructor(
    readonly rule: LivenessRule,
    readonly peersMax: number,
  ) {
    const problem = checkLivenessRule(rule);
    if (problem !== null) throw new Error(`liveness rule: ${problem}`);
    if (!Number.isInteger(peersMax) || peersMax < 1 || peersMax > LIVENESS_PEERS_MAX) throw new Error(`peersMax: expected 1 to ${LIVENESS_PEERS_MAX}, got ${peersMax}`);
    this.lastHeard = new Float64Array(peersMax).fill(-1);
    this.mask = new Uint32Array(peersMax);
    this.since = new Float64Array(peersMax);
  }

  slotOf(now: Micros): number {
    return Math.floor(now / this.rule.periodUs);
  }

  /** Starts (or restarts, after the observer itself restarted) watching a peer: its history is forgotten. */
  watch(now: Micros, peer: number): void {
    this.lastHeard[peer] = -1;
    this.mask[peer] = 0;
    this.since[peer] = this.slotOf(now);
  }

  heard(now: Micros, peer: number): void {
    const slot = this.slotOf(now);
    this.heardRange(peer, slot, slot);
  }

  /** Heartbeats arrived in every slot from `fromSlot` to `toSlot` (a batch read at once, or a simulator's run). */
  heardRange(peer: number, fromSlot: number, toSlot: number): void {
    if (toSlot < fromSlot) return;
    const last = this.lastHeard[peer] as number;
    if (toSlot > last) {
      // The slots before toSlot: fromSlot..toSlot-1 of this run, then the old last and its mask.
      let mask = ones(toSlot - fromSlot);
      if (last >= 0) {
        const shift = toSlot - last;
        if (shift <= 32) mask |= 1 << (shift - 1);
        if (shift < 32) mask |= (this.mask[peer] as number) << shift;
      }
      this.mask[peer] = mask >>> 0;
      this.lastHeard[peer] = toSlot;
    } else {
      // A late batch: set the bits of its slots before `last` that are still within the mask.
      const top = Math.min(toSlot, last - 1);
      const offset = last - 1 - top;
      if (top >= fromSlot && offset < 32) this.mask[peer] = ((this.mask[peer] as number) | (ones(top - fromSlot + 1) << offset)) >>> 0;
    }
  }

  /** Missed slots among the last windowSlots complete slots (those before now's slot), counting only watched ones. */
  misses(now: Micros, peer: number): number {
    const s = this.slotOf(now);
    const hi = s - 1;
    const lo = Math.max(s - this.rule.windowSlots, this.since[peer] as number);
    if (hi < lo) return 0;
    const size = hi - lo + 1;
    const last = this.lastHeard[peer] as number;
    if (last < lo) return size;
    let heard = last <= hi ? 1 : 0;
    // Mask bits for slots hi..lo (those before last) are i = last - 1 - hi .. last - 1 - lo, below 32.
    const iLo = Math.max(0, last - 1 - hi);
    const iHi = Math.min(last - 1 - lo, 31);
    if (iLo <= iHi) heard += popcount(((this.mask[peer] as number) >>> iLo) & ones(iHi - iLo + 1));
    return size - heard;
  }

  /** The latest heartbeat is missing: nothing heard in the last complete slot nor in the current one. */
  missedLatest(now: Micros, peer: number): boolean {
    const s = this.slotOf(now);
    if (s - 1 < (this.since[peer] as number)) return false;
    return (this.lastHeard[peer] as number) < s - 1;
  }

  /** Never heard, missed the latest, or missed missesToAvoid of the last windowSlots. */
  avoided(now: Micros, peer: number): boolean {
    if (this.lastHeard[peer] === -1) return true;
    return this.missedLatest(now, peer) || this.misses(now, peer) >= this.rule.missesToAvoid;
  }
}
