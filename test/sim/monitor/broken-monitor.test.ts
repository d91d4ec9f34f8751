import { describe, expect, it, vi } from "vitest";
import { deployedConfig } from "../../../core/monitor/index.js";
import { runMonitorSim, type MonitorSimOptions } from "../../../sim/monitor/driver.js";
import { defaultMix } from "../../../sim/monitor/models.js";

/**
 * The simulated monitor's three invariant counters (README, "plan monitor": windowExceeded,
 * gapsOverCap, unprovenReturns), each made to fail by a monitor broken on purpose. The driver
 * judges from what it sees (tests in flight, due times against the last test's end, passes before
 * a return), not from the monitor's own word, so a broken monitor must show up in the counters.
 */
const broken = vi.hoisted(() => ({ how: "none" as "none" | "window" | "gap" | "probation" }));
const DAY_US = 86_400e6;

vi.mock("../../../core/monitor/index.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../../core/monitor/index.js")>();
  type Config = ConstructorParameters<typeof real.Monitor>[0];
  class BrokenMonitor extends real.Monitor {
    constructor(config: Config, ...rest: [never, never]) {
      // "window": the monitor runs twice the window it was given.
      super(broken.how === "window" ? { ...config, window: config.window * 2 } : config, ...rest);
      const self = this as unknown as { wait(e: number, dueUs: number): void };
      const wait = self.wait.bind(this);
      // "gap": every next test is due a day later than the backoff said (the longest backoff is 12 h).
      if (broken.how === "gap") self.wait = (e, dueUs) => wait(e, dueUs + DAY_US);
    }
    // "probation": a flapper may return to a pool that requires it proven at once.
    override isOnProbation(e: number): boolean {
      return broken.how === "probation" ? false : super.isOnProbation(e);
    }
  }
  return { ...real, Monitor: BrokenMonitor };
});

function options(nodes: number, days: number, window: number): MonitorSimOptions {
  return { nodes, durationUs: days * 86_400e6, seed: 1, config: deployedConfig({ window, entriesMax: nodes }), mix: defaultMix(nodes, days) };
}

describe("the simulated monitor's invariant counters, on a monitor broken on purpose", () => {
  it("are all 0 on the monitor as built (the same run through the mock)", () => {
    broken.how = "none";
    const r = runMonitorSim(options(1_000, 7, 20));
    expect([r.windowExceeded, r.gapsOverCap, r.unprovenReturns]).toEqual([0, 0, 0]);
    expect(r.flapStarts).toBeGreaterThan(0);
  });

  it("count windowExceeded when the monitor runs more tests at once than its window", () => {
    broken.how = "window";
    const r = runMonitorSim(options(1_000, 1, 20));
    expect(r.maxInFlight).toBeGreaterThan(20);
    expect(r.windowExceeded).toBe(1);
  });

  it("count gapsOverCap when a test is scheduled beyond its pool's longest backoff", () => {
    broken.how = "gap";
    const r = runMonitorSim(options(300, 4, 20));
    expect(r.gapsOverCap).toBeGreaterThan(0);
    expect(r.windowExceeded).toBe(0);
  });

  it("count unprovenReturns when a flapper returns without its run of passes", () => {
    broken.how = "probation";
    const r = runMonitorSim(options(1_000, 7, 20));
    expect(r.unprovenReturns).toBeGreaterThan(0);
    expect(r.windowExceeded + r.gapsOverCap).toBe(0);
  });
});
