import { describe, expect, it } from "vitest";
import type { SwapCommand } from "../../../core/experiment/index.js";
import { Driver, SEC, plan } from "./support.js";

const MIB = 2 ** 20;

/**
 * What the portal and the progress lines read from a running swap-in: each node's view, the
 * seconds left, the nodes the barrier waits for and the setup pool's figures.
 */
describe("a swap-in's progress, as the portal reads it", () => {
  it("reports each node's load, the worst estimate, and the time left once a node has booted and set up", () => {
    const d = new Driver("swapin", plan({ nodes: 3, syncServer: null, heartbeatUs: 5 * SEC }));
    d.machine.start(0);
    expect(d.types(d.succeed(d.take()))).toEqual(["load:0@0", "load:1@1", "load:2@2"]);
    // No estimate yet: nothing is known.
    expect(d.machine.loadSecondsLeft()).toBeNull();
    expect(d.machine.secondsLeft()).toBeNull();
    expect(d.machine.view(1)).toEqual({ node: 1, name: "node1", pnode: 1, phase: "loading", attempt: 1, bytesWritten: 0, imageBytes: 100 * MIB, secondsLeft: null, lastReportUs: null, reason: null });

    d.now = 2 * SEC;
    d.machine.progress(d.now, 0, 10 * MIB, 12.3456);
    d.machine.progress(d.now, 1, 20 * MIB, 30);
    d.machine.progress(d.now, 2, 5 * MIB, null);
    expect(d.machine.view(0)).toMatchObject({ bytesWritten: 10 * MIB, secondsLeft: 12.346, lastReportUs: 2 * SEC });
    expect(d.machine.view(2)).toMatchObject({ bytesWritten: 5 * MIB, secondsLeft: null, lastReportUs: 2 * SEC });
    expect(d.machine.loadSecondsLeft()).toBe(30);
    expect(d.machine.waitingFor(10)).toEqual(["node0", "node1", "node2"]);
    expect(d.machine.waitingFor(2)).toEqual(["node0", "node1"]);
    expect(d.machine.waitingFor(0)).toEqual([]);
  });

  it("adds the mean boot and setup times seen so far to the load still to come, and says 0 once done", () => {
    const d = new Driver("swapin", plan({ nodes: 2, syncServer: null }));
    d.machine.start(0);
    const loads = d.succeed(d.take()) as Extract<SwapCommand, { type: "load" }>[];
    d.now = 10 * SEC;
    d.machine.progress(d.now, 1, MIB, 40);
    d.machine.loadDone(d.now, 0, loads[0]!.attempt, true);
    expect(d.machine.view(0)).toMatchObject({ phase: "booting", bytesWritten: 100 * MIB, secondsLeft: 0 });
    const boot = d.take().find((c) => c.type === "boot")!;
    d.now = 13 * SEC;
    d.answer(boot, true);
    expect(d.machine.secondsLeft()).toBeNull(); // booted, not set up yet
    const setup = d.take().find((c) => c.type === "setup")!;
    d.now = 20 * SEC;
    d.answer(setup, true);
    // node1 still loading with 40 s left; node0 took 3 s to boot and 7 s to set up.
    expect(d.machine.secondsLeft()).toBe(50);
    expect(d.machine.waitingFor(5)).toEqual(["node1"]);
    expect(d.machine.summary().phases).toEqual({
      load: { nodes: 1, meanSec: 10, maxSec: 10 },
      boot: { nodes: 1, meanSec: 3, maxSec: 3 },
      setup: { nodes: 1, meanSec: 7, maxSec: 7 },
    });
    d.settle([loads[1]!]);
    expect(d.machine.outcome?.ok).toBe(true);
    expect(d.machine.secondsLeft()).toBe(0);
    expect(d.machine.waitingFor(5)).toEqual([]);
  });

  it("shows the setup pool: its window, tests in flight and waiting, and the nodes failing in it", () => {
    const d = new Driver("swapin", plan({ nodes: 3, syncServer: null, limits: { setupWindow: 2, setupAttemptsMax: 3 } }));
    d.machine.start(0);
    const boots = d.succeed(d.succeed(d.take()));
    const setups = d.succeed(boots);
    expect(d.types(setups)).toEqual(["setup:0@0", "setup:1@1"]);
    expect(d.machine.setupFigures()).toMatchObject({ window: 2, inFlight: 2, waiting: 1, retried: 0, failing: [], flapping: [] });
    expect(d.machine.setupFigures().pool).toBe("setup:exp1");
    d.answer(setups[0]!, false, "no network");
    expect(d.machine.view(0).reason).toBe("setup: no network");
    const figures = d.machine.setupFigures();
    expect(figures.failing).toEqual([{ node: "node0", failures: 1 }]);
    expect(d.machine.setupFigures(0).failing).toEqual([]);
  });
});
