import { describe, expect, it } from "vitest";
import { SAME_VERSION_ONLY, VersionGate } from "../../../core/service/index.js";

describe("version gating", () => {
  it("lets through only its own version and counts both kinds, a batch at a time", () => {
    const g = new VersionGate(2);
    expect(g.accept(2)).toBe(true);
    expect(g.accept(1)).toBe(false);
    expect(g.accept(3, 5)).toBe(false);
    expect(g.accept(2, 4)).toBe(true);
    expect({ accepted: g.accepted, ignored: g.ignored }).toEqual({ accepted: 5, ignored: 6 });
    // A node moved to another version by a rollout gates with it from then on.
    g.version = 3;
    expect(g.accept(3)).toBe(true);
    expect(g.accept(2)).toBe(false);
  });

  it("uses the rule it is given (a simulation's broken one)", () => {
    expect(SAME_VERSION_ONLY(1, 1)).toBe(true);
    expect(SAME_VERSION_ONLY(1, 2)).toBe(false);
    const g = new VersionGate(1, () => true);
    expect(g.accept(9)).toBe(true);
    expect(g.ignored).toBe(0);
  });
});
