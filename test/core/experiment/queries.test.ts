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

describe("a swap-in's events, as the store keeps them", () => {
  it("records each phase, a failed boot (retried, with the default reason), boot time-outs and the failing swap, in order", () => {
    const d = new Driver("swapin", plan({ nodes: 2, syncServer: 1, limits: { bootTimeoutUs: 100 * SEC } }));
    d.machine.start(0);
    d.succeed(d.succeed(d.take()));
    d.now = 5 * SEC;
    d.machine.bootDone(d.now, 0, 1, false);
    expect(d.types(d.take())).toEqual(["abort:0@0", "boot:0@0"]);
    // node1's first boot times out at 100 s; node0's second, started at 5 s, at 105 s: no spare is left.
    d.runTimersUntil(105 * SEC);
    expect(d.types(d.take())).toEqual(["abort:1@1", "boot:1@1", "abort:0@0", "release:0@0", "abort:1@1", "release:1@1"]);
    const e = (kind: string, fields: Record<string, string | number | boolean>) => ({ kind, fields: { experiment: "exp1", ...fields } });
    const phase = (node: number, p: string, more: Record<string, string | number> = {}) => e("node.phase", { node: `node${node}`, pnode: node, phase: p, ...more });
    const failing = "1/2 nodes failed: node0: boot failed 2 times: boot timed out; no spare left";
    expect(d.events).toEqual([
      e("swap.start", { kind: "swapin", nodes: 2, spares: 0 }),
      phase(0, "waiting"),
      phase(1, "waiting"),
      e("image.serving", { image: "img0" }),
      phase(0, "loading"),
      phase(1, "loading"),
      phase(0, "booting"),
      phase(1, "booting"),
      e("node.step-failed", { node: "node0", pnode: 0, step: "boot", attempt: 1, reason: "boot failed" }),
      phase(0, "booting", { attempt: 2 }),
      e("node.step-failed", { node: "node1", pnode: 1, step: "boot", attempt: 1, reason: "boot timed out" }),
      phase(1, "booting", { attempt: 2 }),
      e("node.step-failed", { node: "node0", pnode: 0, step: "boot", attempt: 2, reason: "boot timed out" }),
      phase(0, "failed", { reason: "boot failed 2 times: boot timed out; no spare left" }),
      e("swap.failing", { reason: failing }),
      phase(0, "releasing"),
      phase(1, "releasing"),
    ]);
    expect(d.machine.view(0).reason).toBe("boot failed 2 times: boot timed out; no spare left");
    expect(d.machine.summary()).toMatchObject({ kind: "swapin", nodes: 2, ready: 0, failed: 1, retries: { boot: 2 }, milestones: { allLoadedSec: 0, allBootedSec: null, barrierSec: null, endSec: null } });
  });
});

describe("answers that come late, twice or out of turn", () => {
  /** A machine's state as the portal and the store would see it: commands, events, every view, the summary. */
  function snapshot(d: Driver): string {
    // Every report that arrives is counted, wanted or not; all else must stay as it was.
    const { reports: _counted, ...summary } = d.machine.summary();
    return JSON.stringify([d.commands, d.events, [0, 1].map((n) => d.machine.view(n)), summary, d.machine.nextWakeUs()]);
  }

  it("change nothing: a second image-serving, a report from a node not loading, stale or repeated load, boot and setup answers, a sync start nobody asked for, a release of a node not releasing", () => {
    const d = new Driver("swapin", plan({ nodes: 2, syncServer: 0 }));
    d.machine.start(0);
    const serve = d.take();
    d.answer(serve[0]!, true);
    const loads = d.take();
    d.now = 1 * SEC;
    d.answer(loads[0]!, true); // node0 boots; node1 still loads
    const boot0 = d.take().find((c) => c.type === "boot")!;
    const m = d.machine;
    const before = snapshot(d);
    m.imageServing(d.now, 0, true); // already serving
    m.imageServing(d.now, 0, false, "late failure");
    m.progress(d.now, 0, 5, 3); // node0 is booting, not loading
    m.loadDone(d.now, 0, 1, false, "late"); // node0's load already done
    m.loadDone(d.now, 1, 2, true); // no attempt 2 was started
    m.bootDone(d.now, 1, 1, true); // node1 is not booting
    m.bootDone(d.now, 0, 2, true); // wrong attempt
    m.setupDone(d.now, 0, 1, true); // node0 is not in setup
    m.syncStarted(d.now, true); // the sync server was never asked to start
    m.released(d.now, 1); // node1 is not releasing
    m.timer(d.now); // nothing due
    expect(snapshot(d)).toBe(before);
    expect(m.summary().reports).toBe(1);
    // The real answers still work afterwards.
    d.answer(boot0, true);
    expect(d.machine.view(0).phase).toBe("setup");
  });

  it("a reason on a passed setup, or an empty one on a failed setup, records no reason", () => {
    const d = new Driver("swapin", plan({ nodes: 1, syncServer: null, limits: { setupAttemptsMax: 3 } }));
    d.machine.start(0);
    const setup = d.succeed(d.succeed(d.succeed(d.take())))[0] as Extract<SwapCommand, { type: "setup" }>;
    d.machine.setupDone(d.now, 0, setup.attempt, false, "");
    expect(d.machine.view(0).reason).toBeNull();
  });

  it("retries the sync server once when it does not start, then fails the swap naming it", () => {
    const d = new Driver("swapin", plan({ nodes: 1, syncServer: 0 }));
    d.machine.start(0);
    const next = d.succeed(d.succeed(d.succeed(d.take())));
    const sync = next.find((c) => c.type === "start-sync")!;
    d.machine.syncStarted(d.now, false);
    expect(d.kinds("sync.failed")).toEqual([{ experiment: "exp1", node: "node0", attempt: 1, reason: "did not start" }]);
    const again = d.take().find((c) => c.type === "start-sync");
    expect(again).toEqual(sync);
    d.machine.syncStarted(d.now, false, "port in use");
    expect(d.kinds("sync.failed")[1]).toEqual({ experiment: "exp1", node: "node0", attempt: 2, reason: "port in use" });
    d.settle();
    expect(d.machine.outcome).toMatchObject({ ok: false, reason: "the sync server on node0 port in use" });
  });
});
