import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRng } from "../../../core/engine/rng.js";
import { CODEEN_LIVENESS, PeerLiveness } from "../../../core/service/index.js";

const SEC = 1_000_000;

describe("peer liveness (CoDeeN: missed the latest or 2 of the last 32)", () => {
  it("uses a peer heard every second, and avoids one never heard", () => {
    const l = new PeerLiveness(CODEEN_LIVENESS, 2);
    l.watch(0, 0);
    l.watch(0, 1);
    for (let s = 0; s < 40; s++) l.heard(s * SEC + 10, 0);
    expect(l.avoided(40 * SEC + 5, 0)).toBe(false);
    expect(l.avoided(40 * SEC + 5, 1)).toBe(true);
  });

  it("avoids a peer that missed the latest heartbeat, and uses it again once heard", () => {
    const l = new PeerLiveness(CODEEN_LIVENESS, 1);
    l.watch(0, 0);
    for (let s = 0; s < 10; s++) l.heard(s * SEC, 0);
    expect(l.avoided(10 * SEC + 1, 0)).toBe(false);
    // Slot 10 passes without a heartbeat.
    expect(l.avoided(11 * SEC + 1, 0)).toBe(true);
    l.heard(11 * SEC + 2, 0);
    expect(l.missedLatest(11 * SEC + 3, 0)).toBe(false);
    // One miss in the window is tolerated.
    expect(l.misses(12 * SEC, 0)).toBe(1);
    expect(l.avoided(12 * SEC, 0)).toBe(false);
  });

  it("avoids a peer with 2 misses among the last 32 until the older one leaves the window", () => {
    const l = new PeerLiveness(CODEEN_LIVENESS, 1);
    l.watch(0, 0);
    const hearUntil = (end: number): void => {
      for (let s = 0; s < end; s++) if (s !== 40 && s !== 50) l.heard(s * SEC, 0);
    };
    hearUntil(52);
    expect(l.avoided(52 * SEC, 0)).toBe(true);
    hearUntil(72);
    expect(l.misses(72 * SEC, 0)).toBe(2);
    hearUntil(73);
    // At slot 73 the window is slots 41..72: only the miss at 50 is left.
    expect(l.misses(73 * SEC, 0)).toBe(1);
    expect(l.avoided(73 * SEC, 0)).toBe(false);
  });

  it("counts only slots since it started watching, so a new peer is used once heard", () => {
    const l = new PeerLiveness(CODEEN_LIVENESS, 1);
    l.watch(100 * SEC, 0);
    l.heard(100 * SEC + 5, 0);
    expect(l.avoided(101 * SEC, 0)).toBe(false);
    expect(l.misses(101 * SEC, 0)).toBe(0);
  });

  it("counts misses exactly as a slot-by-slot record would, for any pattern, batch or single", () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 120 }), fc.integer({ min: 0, max: 5 }), (pattern, start) => {
        const single = new PeerLiveness(CODEEN_LIVENESS, 1);
        const batch = new PeerLiveness(CODEEN_LIVENESS, 1);
        single.watch(start * SEC, 0);
        batch.watch(start * SEC, 0);
        let runStart = -1;
        pattern.forEach((heard, i) => {
          const slot = start + i;
          if (heard) single.heard(slot * SEC + 7, 0);
          if (heard && runStart < 0) runStart = slot;
          if (!heard && runStart >= 0) {
            batch.heardRange(0, runStart, slot - 1);
            runStart = -1;
          }
        });
        if (runStart >= 0) batch.heardRange(0, runStart, start + pattern.length - 1);
        const now = (start + pattern.length) * SEC;
        const window = pattern.slice(-32);
        const expectedMisses = window.filter((h) => !h).length;
        expect(single.misses(now, 0)).toBe(expectedMisses);
        expect(batch.misses(now, 0)).toBe(expectedMisses);
        const everHeard = pattern.some((h) => h);
        const expectedAvoided = !everHeard || !(pattern[pattern.length - 1] as boolean) || expectedMisses >= 2;
        expect(single.avoided(now, 0)).toBe(expectedAvoided);
        expect(batch.avoided(now, 0)).toBe(expectedAvoided);
      }),
      { numRuns: 300 },
    );
  });
});

describe("peer liveness against a slot-by-slot record", () => {
  /** The rule as stated: every slot heard is kept; the window is the last windowSlots complete slots since watching began. */
  class Model {
    readonly heard = new Set<number>();
    last = -1;
    constructor(
      readonly window: number,
      readonly missesToAvoid: number,
      readonly since: number,
    ) {}
    misses(s: number): number {
      let missed = 0;
      for (let x = Math.max(s - this.window, this.since); x <= s - 1; x++) if (!this.heard.has(x)) missed++;
      return missed;
    }
    missedLatest(s: number): boolean {
      if (s - 1 < this.since) return false;
      return this.last < s - 1;
    }
    avoided(s: number): boolean {
      return this.heard.size === 0 || this.missedLatest(s) || this.misses(s) >= this.missesToAvoid;
    }
  }

  it("agrees on misses, the latest heartbeat and the verdict at any moment, heard in the current slot or not, late batches included", () => {
    const P = 1_000;
    const rng = createRng(20);
    for (let round = 0; round < 150; round++) {
      const window = round % 4 === 0 ? 32 : 1 + rng.int(32);
      const rule = { periodUs: P, windowSlots: window, missesToAvoid: 1 + rng.int(window) };
      const l = new PeerLiveness(rule, 2);
      const since = rng.int(5);
      l.watch(since * P + rng.int(P), 1);
      const m = new Model(window, rule.missesToAvoid, since);
      const lossPct = [0, 3, 10, 50][rng.int(4)] as number;
      for (let s = since; s < since + 90; s++) {
        const t = s * P + rng.int(P);
        // A query early in the slot, before this slot's heartbeat.
        const before = s * P + rng.int(t - s * P + 1);
        if (l.misses(before, 1) !== m.misses(s)) expect.fail(`round ${round} slot ${s} before its heartbeat: ${l.misses(before, 1)} misses, the record says ${m.misses(s)}`);
        if (rng.int(100) >= lossPct) {
          l.heard(t, 1);
          m.heard.add(s);
          m.last = s;
        }
        if (rng.int(10) === 0 && s > since) {
          // A batch read late: slots a..b, all before now.
          const b = since + rng.int(s - since);
          const a = Math.max(since, b - rng.int(40));
          l.heardRange(1, a, b);
          for (let x = a; x <= b; x++) m.heard.add(x);
          m.last = Math.max(m.last, b);
        }
        // A query later in the same slot, after its heartbeat.
        const after = t + rng.int((s + 1) * P - t);
        const got = [l.misses(after, 1), l.missedLatest(after, 1), l.avoided(after, 1)];
        const want = [m.misses(s), m.missedLatest(s), m.avoided(s)];
        if (got.some((g, i) => g !== want[i])) expect.fail(`round ${round} slot ${s}: misses, missed latest, avoided ${got.join(" ")}; the record says ${want.join(" ")}`);
      }
    }
  });

  it("uses a peer with one miss in the window once its heartbeat of the current slot is in", () => {
    const l = new PeerLiveness(CODEEN_LIVENESS, 1);
    l.watch(0, 0);
    for (let s = 0; s <= 40; s++) if (s !== 20) l.heard(s * SEC + 1, 0);
    // Slot 40's heartbeat has come; the window is slots 8..39, with the miss at 20.
    expect(l.misses(40 * SEC + 500_000, 0)).toBe(1);
    expect(l.avoided(40 * SEC + 500_000, 0)).toBe(false);
  });

  it("takes a batch only when its slots run forward, and forgets what it heard when watching starts again", () => {
    const l = new PeerLiveness(CODEEN_LIVENESS, 1);
    l.watch(0, 0);
    l.heardRange(0, 5, 4);
    expect(l.avoided(6 * SEC, 0)).toBe(true);
    expect(l.misses(6 * SEC, 0)).toBe(6);
    l.heardRange(0, 0, 40);
    expect(l.misses(41 * SEC, 0)).toBe(0);
    expect(l.avoided(41 * SEC, 0)).toBe(false);
    l.watch(41 * SEC, 0);
    expect(l.avoided(41 * SEC, 0)).toBe(true);
    expect(l.misses(45 * SEC, 0)).toBe(4);
    expect(l.missedLatest(41 * SEC + 999_999, 0)).toBe(false);
    expect(l.missedLatest(42 * SEC, 0)).toBe(true);
  });

  it("reads slots of the rule's period", () => {
    const l = new PeerLiveness({ periodUs: 250, windowSlots: 4, missesToAvoid: 1 }, 1);
    expect([0, 249, 250, 999, 1_000].map((t) => l.slotOf(t))).toEqual([0, 0, 1, 3, 4]);
  });

  it("keeps the slot heard last and the 32 before it exact across long gaps and repeated heartbeats", () => {
    const fresh = (): PeerLiveness => {
      const l = new PeerLiveness(CODEEN_LIVENESS, 1);
      l.watch(0, 0);
      return l;
    };
    // Heard 0..8, then nothing until 40 (32 slots later): at 40.5 the window is 8..39, only 8 heard.
    const a = fresh();
    for (let s = 0; s <= 8; s++) a.heard(s * SEC, 0);
    a.heard(40 * SEC, 0);
    expect(a.misses(40.5 * SEC, 0)).toBe(31);
    // Heard 0, then 40 (40 slots later): at 41 the window is 9..40, only 40 heard.
    const b = fresh();
    b.heard(0, 0);
    b.heard(40 * SEC, 0);
    expect(b.misses(41 * SEC, 0)).toBe(31);
    // Every slot but 8, slot 40 heard twice: at 40.9 the window is 8..39, one miss.
    const c = fresh();
    for (let s = 0; s <= 40; s++) if (s !== 8) c.heard(s * SEC, 0);
    c.heard(40.5 * SEC, 0);
    expect(c.misses(40.9 * SEC, 0)).toBe(1);
    // Every slot but 42 up to 50, then a late batch of slots 5..10 (older than the mask): still one miss.
    const d = fresh();
    for (let s = 0; s <= 50; s++) if (s !== 42) d.heard(s * SEC, 0);
    d.heardRange(0, 5, 10);
    expect(d.misses(51 * SEC, 0)).toBe(1);
  });

  it("judges a peer it never called watch() for from slot 0, with nothing heard before", () => {
    const l = new PeerLiveness(CODEEN_LIVENESS, 1);
    l.heardRange(0, 5, 5);
    expect(l.misses(6 * SEC, 0)).toBe(5);
  });
});
