/**
 * A running 64-bit fingerprint over the events a run executed: two independent 32-bit lanes
 * (a murmur3-style mix and FNV-1a over words). Same seed and scenario give the same value; any
 * divergence in what ran, when, or with what argument changes it.
 */
export class Fingerprint {
  private lane1 = 0x9747b28c | 0;
  private lane2 = 0x811c9dc5 | 0;
  private words = 0;

  /** Mixes one 32-bit word. */
  mix(word: number): void {
    let k = Math.imul(word | 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    let h = this.lane1 ^ k;
    h = (h << 13) | (h >>> 19);
    this.lane1 = (Math.imul(h, 5) + 0xe6546b64) | 0;
    this.lane2 = Math.imul(this.lane2 ^ (word | 0), 0x01000193);
    this.words++;
  }

  /** Mixes a non-negative integer below 2^53 as two words. */
  mixNumber(value: number): void {
    this.mix(value >>> 0);
    this.mix((value / 4294967296) >>> 0);
  }

  /**
   * Mixes one executed event, as the engine does: the time's low word, then the kind sharing a
   * word with the time's high bits (kind < 2^16; the high bits stay below 2^16 for 8.9 years of
   * microseconds), then the argument.
   */
  mixEvent(timeUs: number, kind: number, arg: number): void {
    this.mix(timeUs >>> 0);
    this.mix(kind | (((timeUs / 4294967296) >>> 0) << 16));
    this.mix(arg);
  }

  mixString(text: string): void {
    for (let i = 0; i < text.length; i++) this.mix(text.charCodeAt(i));
    this.mix(text.length);
  }

  /** 16 hex digits; finalised without disturbing the running state. */
  hex(): string {
    let a = this.lane1 ^ this.words;
    a ^= a >>> 16;
    a = Math.imul(a, 0x85ebca6b);
    a ^= a >>> 13;
    a = Math.imul(a, 0xc2b2ae35);
    a ^= a >>> 16;
    return (a >>> 0).toString(16).padStart(8, "0") + (this.lane2 >>> 0).toString(16).padStart(8, "0");
  }
}
