import { describe, expect, it } from "vitest";
import { frisbeePlanChart, swapChart } from "../../../core/chart/plans.js";
import { lineChart } from "../../../core/chart/svg.js";

const legend = (svg: string): string[] => [...svg.matchAll(/<text x="\d+" y="\d+" fill="[^"]+">([^<]+)<\/text>/g)].map((m) => m[1] as string);

describe("the planners' charts, for plans and for stored runs alike", () => {
  it("swap chart: per group, swap-out then swap-in against nodes, on a log axis", () => {
    const svg = swapChart([
      { kind: "swapin", group: "1%", nodes: 10, seconds: 30 },
      { kind: "swapout", group: "1%", nodes: 10, seconds: 5 },
      { kind: "swapout", group: "1%", nodes: 100, seconds: 9 },
      { kind: "swapin", group: "5%", nodes: 100, seconds: 60 },
    ]);
    expect(svg).toContain("Disk state: swap-out and swap-in time against nodes");
    // A group with no swap-out has no empty swap-out line.
    expect(legend(svg)).toEqual(["swap-out, 1%", "swap-in, 1%", "swap-in, 5%"]);
    expect(svg).toBe(
      lineChart(
        "Disk state: swap-out and swap-in time against nodes",
        "nodes",
        "time (s)",
        [
          { label: "swap-out, 1%", points: [{ x: 10, y: 5 }, { x: 100, y: 9 }] },
          { label: "swap-in, 1%", points: [{ x: 10, y: 30 }] },
          { label: "swap-in, 5%", points: [{ x: 100, y: 60 }] },
        ],
        true,
      ),
    );
  });

  it("frisbee chart: one line per loss rate, mean runtime against clients", () => {
    const svg = frisbeePlanChart([
      { clients: 1, loss: 0, runtimeSecMean: 2 },
      { clients: 10, loss: 0, runtimeSecMean: 3 },
      { clients: 10, loss: 0.01, runtimeSecMean: 4 },
    ]);
    expect(svg).toContain("Frisbee: mean client runtime against clients");
    expect(legend(svg)).toEqual(["loss 0", "loss 0.01"]);
    expect(svg.match(/<circle /g)).toHaveLength(3);
    expect(svg).toBe(
      lineChart(
        "Frisbee: mean client runtime against clients",
        "clients",
        "runtime (s)",
        [
          { label: "loss 0", points: [{ x: 1, y: 2 }, { x: 10, y: 3 }] },
          { label: "loss 0.01", points: [{ x: 10, y: 4 }] },
        ],
        true,
      ),
    );
  });
});
