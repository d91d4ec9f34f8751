import { describe, expect, it } from "vitest";
import { parseStartPattern, readStartPattern } from "../../scenarios/start.js";
import { errorOf, smallScenario } from "./support.js";

describe("start patterns, read in one place", () => {
  it("reads the three forms", () => {
    expect(readStartPattern("simultaneous")).toEqual({ kind: "simultaneous" });
    expect(readStartPattern("clustered:4:10s")).toEqual({ kind: "clustered", clusters: 4, everyUs: 10_000_000 });
    expect(readStartPattern("uniform:1.5s")).toEqual({ kind: "uniform", overUs: 1_500_000 });
  });

  it("says that S needs a unit, offering the form with one", () => {
    expect(readStartPattern("clustered:4:10")).toBe('"clustered:4:10": S, the time between clusters, needs a unit (e.g. clustered:4:10s)');
    expect(readStartPattern("uniform:30")).toBe('"uniform:30": S, the time the starts spread over, needs a unit (e.g. uniform:30s)');
  });

  it("names what is wrong with K, S or the whole pattern", () => {
    expect(readStartPattern("clustered:0:1s")).toMatch(/K, the number of clusters, must be a whole number from 1/);
    expect(readStartPattern("clustered:x:1s")).toMatch(/K, the number of clusters/);
    expect(readStartPattern("clustered:4:soon")).toMatch(/S, the time between clusters, must be a duration such as 10s or 500ms, not "soon"/);
    expect(readStartPattern("eventually")).toMatch(/^"eventually" is not a start pattern; expected simultaneous, clustered:K:S .*uniform:S/);
    expect(parseStartPattern("clustered:4:10")).toBeNull();
  });

  it("gives a scenario file the same message, at the field", () => {
    const doc = {
      ...smallScenario(),
      workloads: [],
      frisbee: { servers: [{ host: "server", image: { compressed: "4MiB" } }], clients: [{ hosts: "client*", start: "clustered:2:5" }] },
    };
    expect(errorOf(doc)).toBe('x.json: frisbee.clients[0].start: "clustered:2:5": S, the time between clusters, needs a unit (e.g. clustered:2:5s)');
  });
});
