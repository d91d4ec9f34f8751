import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ScenarioError, type Json } from "../../../scenarios/reader.js";
import { applyDrawn, drawVaries, parseVaries, parseVary, showDrawn, VaryError } from "../../../scenarios/sweep/vary.js";

const scenario: Json = {
  duration: "10s",
  faults: [
    { type: "crash", at: "1s", hosts: "a" },
    { type: "pause", at: "2s", hosts: "b", for: "1s" },
    { type: "crash", at: "3s", hosts: "c" },
  ],
  network: { links: [{ hosts: "a", loss: 0.01 }] },
};

describe("--vary parsing", () => {
  it("reads whole, real and unit ranges and choices", () => {
    expect(parseVary("faults[0].at=1s..5s").range).toEqual({ kind: "whole", lo: 1, hi: 5, unit: "s" });
    expect(parseVary("network.links[0].loss=0.0..0.05").range).toEqual({ kind: "real", lo: 0, hi: 0.05, unit: "" });
    expect(parseVary("faults[1]=on|off").range).toEqual({ kind: "choice", choices: [{ kind: "on" }, { kind: "off" }] });
    expect(parseVary('x=0.01|"uniform:2s"|true|word').range).toEqual({
      kind: "choice",
      choices: [{ kind: "value", value: 0.01 }, { kind: "value", value: "uniform:2s" }, { kind: "value", value: true }, { kind: "value", value: "word" }],
    });
    expect(parseVary("faults[0].at=1s..5s").path).toEqual(["faults", 0, "at"]);
  });

  it("refuses what it cannot read, in one line naming the vary", () => {
    for (const bad of ["noequals", "=1..2", "a..b=1..2", "x=1s..5ms", "x=5..1", "x=1..2..3", "x=a|", "x=", "a[0]b=1..2", "[0]x=1..2", "x.=1..2"]) {
      expect(() => parseVary(bad), bad).toThrow(VaryError);
      try {
        parseVary(bad);
      } catch (error) {
        expect((error as Error).message).toMatch(/^--vary "/);
        expect((error as Error).message).not.toContain("\n");
      }
    }
    expect(() => parseVaries(["a=1..2", "a=3..4"])).toThrow(/varied twice/);
  });

  it("never throws anything but a VaryError on random text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        try {
          parseVary(text);
        } catch (error) {
          expect(error).toBeInstanceOf(VaryError);
          expect(error).toBeInstanceOf(ScenarioError);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("drawing per seed", () => {
  const varies = parseVaries(["faults[0].at=0ms..1500ms", "network.links[0].loss=0.0..0.05", "faults[1]=on|off"]);

  it("draws the same values for the same seed and different ones across seeds", () => {
    expect(drawVaries(varies, 7)).toEqual(drawVaries(varies, 7));
    const seen = new Set(Array.from({ length: 50 }, (_, s) => showDrawn(drawVaries(varies, s)[0]!)));
    expect(seen.size).toBeGreaterThan(40);
  });

  it("keeps every draw inside its range, whole numbers whole", () => {
    fc.assert(
      fc.property(fc.nat(1_000_000), (seed) => {
        const [at, loss] = drawVaries(varies, seed);
        const ms = Number(String((at as { value: string }).value).replace(/ms$/, ""));
        expect(Number.isInteger(ms) && ms >= 0 && ms <= 1500).toBe(true);
        const l = (loss as { value: number }).value;
        expect(l >= 0 && l < 0.05).toBe(true);
      }),
    );
  });

  it("does not shift one vary's draws when another is added", () => {
    const more = parseVaries(["faults[2].at=0ms..9000ms", ...varies.map((v) => v.text)]);
    for (const seed of [1, 2, 3]) expect(drawVaries(more, seed).slice(1)).toEqual(drawVaries(varies, seed));
  });

  it("writes draws into a copy and removes switched-off items from the top down", () => {
    const both = parseVaries(["faults[0]=off", "faults[2]=off", "faults[1].at=2500ms..2500ms"]);
    const out = applyDrawn(scenario, both, drawVaries(both, 1)) as { faults: { at: string; type: string }[] };
    expect(out.faults).toEqual([{ type: "pause", at: "2500ms", hosts: "b", for: "1s" }]);
    expect((scenario as { faults: unknown[] }).faults).toHaveLength(3);
  });

  it("names a missing field or list item", () => {
    const missing = parseVaries(["faults[5].at=1..2"]);
    expect(() => applyDrawn(scenario, missing, drawVaries(missing, 1))).toThrow("--vary faults[5].at: faults has 3 items, no [5]");
    const nested = parseVaries(["sync.lease=1s..2s"]);
    expect(() => applyDrawn(scenario, nested, drawVaries(nested, 1))).toThrow("the scenario has no sync");
  });
});
