import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decadeTicks, lineChart, niceTicks } from "../../../core/chart/svg.js";

/** Every circle of a chart as [cx, cy, colour]. */
const circles = (svg: string): [number, number, string][] =>
  [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="3" fill="([^"]+)"\/>/g)].map((m) => [Number(m[1]), Number(m[2]), m[3] as string]);
/** The x axis' tick labels with their x positions, and the y axis' with their y positions. */
const xLabels = (svg: string): [number, string][] =>
  [...svg.matchAll(/<text x="([\d.]+)" y="366" text-anchor="middle">([^<]+)<\/text>/g)].map((m) => [Number(m[1]), m[2] as string]);
const yLabels = (svg: string): [number, string][] =>
  [...svg.matchAll(/<text x="54" y="([\d.]+)" text-anchor="end">([^<]+)<\/text>/g)].map((m) => [Number(m[1]), m[2] as string]);

describe("niceTicks: round ticks that enclose the data", () => {
  it("steps of 1, 2, 2.5 or 5 times a power of ten, from the floor of the data to its ceiling", () => {
    expect(niceTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0, 7, 5)).toEqual([0, 2, 4, 6, 8]);
    expect(niceTicks(0, 23, 5)).toEqual([0, 5, 10, 15, 20, 25]);
    expect(niceTicks(0, 0.7, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8]);
    expect(niceTicks(0, 0.3, 5)).toEqual([0, 0.1, 0.2, 0.3]);
    expect(niceTicks(0, 1e6, 5)).toEqual([0, 200000, 400000, 600000, 800000, 1000000]);
    expect(niceTicks(-3, 7, 5)).toEqual([-4, -2, 0, 2, 4, 6, 8]);
    expect(niceTicks(0, 9, 4)).toEqual([0, 2.5, 5, 7.5, 10]);
  });

  it("a flat or empty range still gets two ticks (an axis to sit on), sized by the value", () => {
    expect(niceTicks(0, 0, 5)).toEqual([0, 0.2]);
    expect(niceTicks(5, 5, 5)).toEqual([5, 6]);
    expect(niceTicks(-5, -5, 5)).toEqual([-5, -4]);
    expect(niceTicks(0, 10, 0)).toEqual([0, 10]);
  });

  it("values that are whole steps stay ticks despite floating point (0.3 / 0.1 = 2.9999999999999996)", () => {
    // The step itself: 0.001 / 5 is just below 2e-4 in floating point.
    expect(niceTicks(0, 0.001, 5)).toEqual([0, 0.0002, 0.0004, 0.0006, 0.0008, 0.001]);
    // The last tick: no extra tick above a maximum that is a whole number of steps.
    expect(niceTicks(0.0117, 0.035, 5)).toEqual([0.01, 0.015, 0.02, 0.025, 0.03, 0.035]);
    // The first tick: no extra tick below a minimum that is a whole number of steps.
    expect(niceTicks(0.3, 0.8, 5)).toEqual([0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
    // Printed at the step's precision.
    expect(niceTicks(0, 0.7, 5).map(String)).toEqual(["0", "0.2", "0.4", "0.6", "0.8"]);
  });

  it("property: evenly spaced by a nice step, enclosing [min, max] with at most one step to spare each side", () => {
    const value = fc.double({ min: -1e6, max: 1e6, noNaN: true });
    fc.assert(
      fc.property(value, value, fc.integer({ min: 1, max: 10 }), (a, b, count) => {
        const [min, max] = a <= b ? [a, b] : [b, a];
        if (max - min < 1e-6 * Math.max(1, Math.abs(max))) return; // flat ranges: checked above
        const ticks = niceTicks(min, max, count);
        const step = (ticks[1] as number) - (ticks[0] as number);
        const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-12);
        expect([1, 2, 2.5, 5].some((m) => Math.abs(mantissa - m) < 1e-6)).toBe(true);
        for (let i = 1; i < ticks.length; i++) expect((ticks[i] as number) - (ticks[i - 1] as number)).toBeCloseTo(step, 6);
        const slack = step * 1e-6;
        expect(ticks[0] as number).toBeLessThanOrEqual(min + slack);
        expect(ticks[ticks.length - 1] as number).toBeGreaterThanOrEqual(max - slack);
        expect(ticks[0] as number).toBeGreaterThan(min - step - slack);
        expect(ticks[ticks.length - 1] as number).toBeLessThan(max + step + slack);
        // About `count` steps: never more than twice as many (2.5 vs 5 is the widest gap), plus the ends.
        expect(ticks.length - 1).toBeLessThanOrEqual(2 * count + 2);
      }),
      { numRuns: 500 },
    );
  });
});

describe("decadeTicks: powers of ten for a log axis", () => {
  it("from the decade at or below the smallest value to the one at or above the largest", () => {
    expect(decadeTicks(3, 2000)).toEqual([1, 10, 100, 1000, 10000]);
    expect(decadeTicks(10, 100)).toEqual([10, 100]);
    expect(decadeTicks(10, 1000)).toEqual([10, 100, 1000]);
    expect(decadeTicks(20, 90)).toEqual([10, 100]);
  });
  it("values below 1 sit on the 1 decade; one value alone still gets two ticks", () => {
    expect(decadeTicks(0.5, 50)).toEqual([1, 10, 100]);
    expect(decadeTicks(0, 0)).toEqual([1, 10]);
    expect(decadeTicks(1, 1)).toEqual([1, 10]);
    expect(decadeTicks(100, 100)).toEqual([100, 1000]);
  });
});

describe("lineChart: where things are drawn", () => {
  it("byte for byte: a small chart with both series, escaped text, ticks, legend", () => {
    const svg = lineChart(
      "A <b> & c",
      "x & y",
      "y <",
      [
        { label: "one", points: [{ x: 100, y: 10 }, { x: 1, y: 0 }] },
        { label: "two", points: [{ x: 10, y: 5 }] },
      ],
      true,
    );
    expect(svg).toBe(
      [
        '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="400" font-family="sans-serif" font-size="12">',
        '<rect width="640" height="400" fill="white"/>',
        '<text x="320" y="18" text-anchor="middle" font-size="14">A &lt;b> &amp; c</text>',
        '<line x1="60" y1="350" x2="490" y2="350" stroke="black"/>',
        '<line x1="60" y1="30" x2="60" y2="350" stroke="black"/>',
        '<text x="275" y="388" text-anchor="middle">x &amp; y</text>',
        '<text x="16" y="200" text-anchor="middle" transform="rotate(-90 16 200)">y &lt;</text>',
        '<text x="54" y="354.0" text-anchor="end">0</text>',
        '<line x1="60" y1="350.0" x2="490" y2="350.0" stroke="#ddd"/>',
        '<text x="54" y="290.0" text-anchor="end">2</text>',
        '<line x1="60" y1="286.0" x2="490" y2="286.0" stroke="#ddd"/>',
        '<text x="54" y="226.0" text-anchor="end">4</text>',
        '<line x1="60" y1="222.0" x2="490" y2="222.0" stroke="#ddd"/>',
        '<text x="54" y="162.0" text-anchor="end">6</text>',
        '<line x1="60" y1="158.0" x2="490" y2="158.0" stroke="#ddd"/>',
        '<text x="54" y="98.0" text-anchor="end">8</text>',
        '<line x1="60" y1="94.0" x2="490" y2="94.0" stroke="#ddd"/>',
        '<text x="54" y="34.0" text-anchor="end">10</text>',
        '<line x1="60" y1="30.0" x2="490" y2="30.0" stroke="#ddd"/>',
        '<text x="60.0" y="366" text-anchor="middle">1</text>',
        '<text x="275.0" y="366" text-anchor="middle">10</text>',
        '<text x="490.0" y="366" text-anchor="middle">100</text>',
        '<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="60.0,350.0 490.0,30.0"/>',
        '<circle cx="60.0" cy="350.0" r="3" fill="#1f77b4"/>',
        '<circle cx="490.0" cy="30.0" r="3" fill="#1f77b4"/>',
        '<text x="500" y="46" fill="#1f77b4">one</text>',
        '<polyline fill="none" stroke="#d62728" stroke-width="2" points="275.0,190.0"/>',
        '<circle cx="275.0" cy="190.0" r="3" fill="#d62728"/>',
        '<text x="500" y="62" fill="#d62728">two</text>',
        "</svg>",
      ].join("\n"),
    );
  });

  it("a linear x axis: values placed in proportion between the round ticks", () => {
    const svg = lineChart("t", "x", "y", [{ label: "s", points: [{ x: 0, y: 0 }, { x: 5, y: 20 }, { x: 10, y: 40 }] }], false);
    expect(xLabels(svg)).toEqual([[60, "0"], [146, "2"], [232, "4"], [318, "6"], [404, "8"], [490, "10"]]);
    expect(yLabels(svg).map(([, l]) => l)).toEqual(["0", "10", "20", "30", "40"]);
    expect(circles(svg)).toEqual([[60, 350, "#1f77b4"], [275, 190, "#1f77b4"], [490, 30, "#1f77b4"]]);
  });

  it("a linear x axis that does not start at 0 starts at the tick below the data", () => {
    const svg = lineChart("t", "x", "y", [{ label: "s", points: [{ x: 30, y: 1 }, { x: 70, y: 2 }] }], false);
    expect(xLabels(svg).map(([, l]) => l)).toEqual(["30", "40", "50", "60", "70"]);
    expect(circles(svg).map(([cx]) => cx)).toEqual([60, 490]);
  });

  it("a log axis: a value between decades at its logarithm, values below 1 on the 1 line", () => {
    const svg = lineChart("t", "x", "y", [{ label: "s", points: [{ x: 0, y: 1 }, { x: 1000, y: 1 }, { x: 10 ** 1.5, y: 1 }] }], true);
    expect(xLabels(svg)).toEqual([[60, "1"], [203.3, "10"], [346.7, "100"], [490, "1000"]]);
    expect(circles(svg).map(([cx]) => cx)).toEqual([60, 275, 490]);
  });

  it("y from 0 up to the tick above the largest value; negative values go below the axis line", () => {
    const svg = lineChart("t", "x", "y", [{ label: "s", points: [{ x: 1, y: 3 }, { x: 10, y: 7 }] }], true);
    expect(yLabels(svg).map(([, l]) => l)).toEqual(["0", "2", "4", "6", "8"]);
    expect(circles(svg).map(([, cy]) => cy)).toEqual([230, 70]);
    const neg = lineChart("t", "x", "y", [{ label: "s", points: [{ x: 1, y: -2 }, { x: 10, y: 2 }] }], true);
    expect(yLabels(neg).map(([, l]) => l)).toEqual(["0", "0.5", "1", "1.5", "2"]);
  });

  it("each series' line is drawn in x order whatever the order of its points", () => {
    const svg = lineChart("t", "x", "y", [{ label: "s", points: [{ x: 100, y: 1 }, { x: 1, y: 2 }, { x: 10, y: 3 }] }], true);
    const line = /<polyline [^>]*points="([^"]+)"/.exec(svg)?.[1];
    expect(line?.split(" ").map((p) => Number(p.split(",")[0]))).toEqual([60, 275, 490]);
  });

  it("colours in order, the seventh series takes the first colour again; legend rows 16 px apart", () => {
    const series = Array.from({ length: 7 }, (_, i) => ({ label: `s${i}`, points: [{ x: i + 1, y: i }] }));
    const svg = lineChart("t", "x", "y", series, true);
    const legend = [...svg.matchAll(/<text x="500" y="(\d+)" fill="([^"]+)">([^<]+)<\/text>/g)].map((m) => [Number(m[1]), m[2], m[3]]);
    expect(legend).toEqual([
      [46, "#1f77b4", "s0"], [62, "#d62728", "s1"], [78, "#2ca02c", "s2"], [94, "#ff7f0e", "s3"],
      [110, "#9467bd", "s4"], [126, "#8c564b", "s5"], [142, "#1f77b4", "s6"],
    ]);
  });

  it("no points at all: empty axes, no NaN", () => {
    for (const logX of [true, false]) {
      const svg = lineChart("t", "x", "y", [], logX);
      expect(svg).not.toContain("NaN");
      expect(svg).not.toContain("Infinity");
      expect(svg.match(/<circle /g)).toBeNull();
      expect(xLabels(svg).length).toBe(2);
    }
  });
});
