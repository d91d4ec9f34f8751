import fc from "fast-check";
import { describe, expect, it } from "vitest";
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
