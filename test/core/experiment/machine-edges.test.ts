import { describe, expect, it } from "vitest";
import { SwapMachine, type SwapCommand, type SwapPlan } from "../../../core/experiment/index.js";
import { createRng } from "../../../core/engine/rng.js";
import { Driver, SEC, plan } from "./support.js";

type Cmd<T extends SwapCommand["type"]> = Extract<SwapCommand, { type: T }>;
const find = <T extends SwapCommand["type"]>(cmds: readonly SwapCommand[], type: T): Cmd<T> => cmds.find((c) => c.type === type) as Cmd<T>;

/** node0 loads two partitions, from img0 and img1; node1 loads img0 only. */
function twoImages(more: Parameters<typeof plan>[0] = {}): SwapPlan {
  const p = plan({ nodes: 2, images: 2, syncServer: null, ...more });
  return { ...p, nodes: [{ ...p.nodes[0]!, partitions: [{ partition: 1, image: 0, delta: null }, { partition: 2, image: 1, delta: null }] }, { ...p.nodes[1]!, partitions: [{ partition: 1, image: 0, delta: null }] }] };
}

describe("a node loading from two images", () => {
  it("waits until both are served, whichever comes first", () => {
    const d = new Driver("swapin", twoImages());
    d.machine.start(0);
    d.take();
    d.machine.imageServing(1 * SEC, 0, true);
    expect(d.types(d.take())).toEqual(["load:1@1"]);
    expect(d.machine.view(0).phase).toBe("waiting");
    d.machine.imageServing(2 * SEC, 1, true);
    expect(d.types(d.take())).toEqual(["load:0@0"]);
  });

  it("a swap failing while it waits gives its served image up, which then lingers and stops", () => {
    const d = new Driver("swapin", twoImages({ limits: { imageLingerUs: 100 * SEC } }));
    d.machine.start(0);
    d.take();
    d.machine.imageServing(1 * SEC, 0, true);
    const load1 = find(d.take(), "load");
    d.answer(load1, true);
    d.take();
    d.machine.cancel(2 * SEC, "stop");
    d.take();
    const img0 = (c: SwapCommand): boolean => c.type === "stop-image" && c.image === 0;
    d.runTimersUntil(2 * SEC + 100 * SEC - 1);
    expect(d.take().filter(img0)).toEqual([]);
    d.runTimersUntil(2 * SEC + 100 * SEC);
    expect(d.take().filter(img0)).toEqual([{ type: "stop-image", image: 0 }]);
  });

  it("an image still starting when the swap fails keeps its start deadline", () => {
    const d = new Driver("swapin", twoImages({ limits: { imageStartTimeoutUs: 30 * SEC, imageLingerUs: 1_000 * SEC } }));
    d.machine.start(0);
    d.take();
    d.machine.cancel(1 * SEC, "stop");
    d.take();
    expect(d.machine.nextWakeUs()).toBe(30 * SEC);
    d.runTimersUntil(30 * SEC);
    expect(d.take().filter((c) => c.type === "stop-image")).toEqual([{ type: "stop-image", image: 0 }, { type: "stop-image", image: 1 }]);
  });
});

describe("images lingering during a swap", () => {
  it("an image whose nodes have all loaded stops after the linger without failing the swap", () => {
    const p = plan({ nodes: 2, images: 2, syncServer: null, limits: { imageLingerUs: 10 * SEC } });
    const d = new Driver("swapin", p);
    d.machine.start(0);
    const loads = d.succeed(d.take());
    d.now = 1 * SEC;
    d.answer(loads[0]!, true);
    const boot = d.take();
    d.runTimersUntil(11 * SEC);
    expect(d.take()).toEqual([{ type: "stop-image", image: 0 }]);
    expect(d.kinds("swap.failing")).toEqual([]);
    d.settle([...boot, loads[1]!]);
    expect(d.machine.outcome?.ok).toBe(true);
  });

  it("an image served after its last user left lingers from then", () => {
    const d = new Driver("swapin", plan({ nodes: 2, images: 2, syncServer: null, limits: { imageLingerUs: 50 * SEC, imageStartTimeoutUs: 1_000 * SEC } }));
    d.machine.start(0);
    d.take();
    d.machine.cancel(1 * SEC, "stop");
    d.take();
    d.machine.imageServing(5 * SEC, 0, true);
    expect(d.machine.nextWakeUs()).toBe(55 * SEC);
    d.runTimersUntil(55 * SEC - 1);
    expect(d.take().filter((c) => c.type === "stop-image")).toEqual([]);
  });

  it("after a swap-in holds no deadline of a finished step: the next wake-up is the image's linger", () => {
    const d = new Driver("swapin", plan({ nodes: 1, syncServer: null, limits: { bootTimeoutUs: 10 * SEC, imageLingerUs: 1_000 * SEC } }));
    d.machine.start(0);
    d.settle();
    expect(d.machine.outcome?.ok).toBe(true);
    expect(d.machine.nextWakeUs()).toBe(1_000 * SEC);
    expect(d.machine.finished).toBe(false);
  });
});

describe("the machine's default reasons and its own deadlines", () => {
  it("an answer without a reason gets the step's default", () => {
    const d = new Driver("swapin", plan({ nodes: 1, syncServer: null }));
    d.machine.start(0);
    d.machine.imageServing(0, 0, false);
    expect(d.machine.outcome).toBeNull();
    expect(d.kinds("swap.failing")).toEqual([{ experiment: "exp1", reason: "image img0 could not be served: the server did not start" }]);
    const l = new Driver("swapin", plan({ nodes: 1, syncServer: null }));
    l.machine.start(0);
    const load = find(l.succeed(l.take()), "load");
    l.machine.loadDone(0, 0, load.attempt, false);
    expect(l.kinds("node.step-failed")).toEqual([{ experiment: "exp1", node: "node0", pnode: 0, step: "load", attempt: 1, reason: "load failed" }]);
    const s = new Driver("swapin", plan({ nodes: 1, syncServer: null, limits: { setupAttemptsMax: 1 } }));
    s.machine.start(0);
    const setup = find(s.succeed(s.succeed(s.succeed(s.take()))), "setup");
    s.machine.setupDone(0, 0, setup.attempt, false);
    expect(s.take()).toEqual([{ type: "abort", node: 0, pnode: 0, why: "setup failed" }, { type: "release", node: 0, pnode: 0 }]);
    expect(s.machine.view(0).reason).toBe("setup failed 1 times (setup failed); no spare left");
    const o = new Driver("swapout", plan({ nodes: 1, syncServer: null, saveDiskState: true, limits: { loadAttemptsMax: 1 } }));
    o.machine.start(0);
    o.machine.saveDone(0, 0, 1, false);
    expect(o.machine.view(0).reason).toBe("save failed 1 time: failed");
  });

  it("a setup that gives up names its last reason", () => {
    const s = new Driver("swapin", plan({ nodes: 1, syncServer: null, limits: { setupAttemptsMax: 1 } }));
    s.machine.start(0);
    const setup = find(s.succeed(s.succeed(s.succeed(s.take()))), "setup");
    s.machine.setupDone(0, 0, setup.attempt, false, "no network");
    expect(s.machine.view(0).reason).toBe("setup failed 1 times (no network); no spare left");
  });

  it("a setup answer for a node not in setup records nothing", () => {
    const d = new Driver("swapin", plan({ nodes: 1, syncServer: null }));
    d.machine.start(0);
    d.take();
    d.machine.setupDone(0, 0, 1, false, "stray");
    expect(d.machine.view(0).reason).toBeNull();
  });

  it("a setup that runs past its time is aborted and logged as a time-out", () => {
    const d = new Driver("swapin", plan({ nodes: 1, syncServer: null, limits: { setupTimeoutUs: 10 * SEC, setupAttemptsMax: 2, setupRetryUs: 1 * SEC } }));
    d.machine.start(0);
    d.succeed(d.succeed(d.succeed(d.take())));
    d.runTimersUntil(10 * SEC - 1);
    expect(d.take()).toEqual([]);
    d.runTimersUntil(10 * SEC);
    expect(d.take()).toEqual([{ type: "abort", node: 0, pnode: 0, why: "setup timed out" }]);
    expect(d.kinds("setup.tested")).toEqual([{ experiment: "exp1", node: "node0", attempt: 1, outcome: "timeout" }]);
  });

  it("a last setup attempt that times out is aborted once, then the node is given up", () => {
    const d = new Driver("swapin", plan({ nodes: 1, syncServer: null, limits: { setupTimeoutUs: 10 * SEC, setupAttemptsMax: 1 } }));
    d.machine.start(0);
    d.succeed(d.succeed(d.succeed(d.take())));
    d.runTimersUntil(10 * SEC);
    // The pool aborted the test as it timed out; giving the node up must not abort it a second time.
    expect(d.take()).toEqual([{ type: "abort", node: 0, pnode: 0, why: "setup timed out" }, { type: "release", node: 0, pnode: 0 }]);
    expect(d.kinds("swap.failing")).toEqual([{ experiment: "exp1", reason: "1/1 nodes failed: node0: setup failed 1 times (setup failed); no spare left" }]);
  });

  it("a swap-in failing while another node is in setup aborts that node once", () => {
    const d = new Driver("swapin", plan({ nodes: 2, syncServer: null, limits: { bootAttemptsMax: 1 } }));
    d.machine.start(0);
    const boots = d.succeed(d.succeed(d.take()));
    d.answer(boots[0]!, true);
    expect(d.types(d.take())).toEqual(["setup:0@0"]);
    d.answer(boots[1]!, false, "no console");
    const out = d.take();
    expect(out.filter((c) => c.type === "abort")).toEqual([
      { type: "abort", node: 1, pnode: 1, why: "boot no console" },
      { type: "abort", node: 0, pnode: 0, why: "the swap failed" },
    ]);
    expect(d.types(out)).toEqual(["abort:1@1", "abort:0@0", "release:0@0", "release:1@1"]);
    expect(d.machine.setupFigures()).toMatchObject({ inFlight: 0, waiting: 0 });
  });

  it("starts the sync server when its own node boots, not another, and retries it when it does not answer in time", () => {
    const d = new Driver("swapin", plan({ nodes: 2, syncServer: 1, limits: { syncStartTimeoutUs: 20 * SEC } }));
    d.machine.start(0);
    const boots = d.succeed(d.succeed(d.take()));
    d.now = 3 * SEC;
    d.answer(boots[0]!, true);
    expect(d.types(d.take())).toEqual(["setup:0@0"]);
    d.answer(boots[1]!, true);
    expect(d.types(d.take())).toEqual(["start-sync:1@1", "setup:1@1"]);
    d.runTimersUntil(23 * SEC - 1);
    expect(d.take()).toEqual([]);
    d.runTimersUntil(23 * SEC);
    expect(d.types(d.take())).toEqual(["start-sync:1@1"]);
    expect(d.kinds("sync.failed")).toEqual([{ experiment: "exp1", node: "node1", attempt: 1, reason: "did not start in time" }]);
  });

  it("passes the boot barrier once, when the last node is ready, though the sync server comes up later", () => {
    const d = new Driver("swapin", plan({ nodes: 1, syncServer: 0 }));
    d.now = 10 * SEC;
    d.machine.start(d.now);
    const next = d.succeed(d.succeed(d.succeed(d.take())));
    const sync = find(next, "start-sync");
    d.now = 12 * SEC;
    d.succeed(next.filter((c) => c.type === "setup"));
    d.now = 15 * SEC;
    d.machine.timer(d.now);
    d.answer(sync, true);
    expect(d.kinds("barrier.passed")).toHaveLength(1);
    expect(d.machine.summary().milestones).toEqual({ allLoadedSec: 0, allBootedSec: 0, barrierSec: 2, endSec: 5 });
    expect(d.kinds("swap.end")).toEqual([{ experiment: "exp1", kind: "swapin", ok: true, reason: "swapped in: 1/1 nodes ready", seconds: 5 }]);
  });

  it("a sync server's node failing fails the swap even when marked non-fatal", () => {
    const d = new Driver("swapin", plan({ nodes: 2, syncServer: 1, nonFatal: [1], limits: { loadAttemptsMax: 1 } }));
    d.machine.start(0);
    const loads = d.succeed(d.take());
    d.answer(loads[1]!, false, "bad");
    expect(d.kinds("swap.failing")).toEqual([{ experiment: "exp1", reason: "1/2 nodes failed: node1: load failed 1 time: bad; no spare left" }]);
  });

  it("stopped during setup, the node in setup is aborted once", () => {
    const d = new Driver("swapin", plan({ nodes: 1, syncServer: null }));
    d.machine.start(0);
    d.succeed(d.succeed(d.succeed(d.take())));
    d.machine.cancel(1 * SEC, "stop");
    // The setup pool withdraws its test and aborts it, once: nothing is left running.
    expect(d.take()).toEqual([
      { type: "abort", node: 0, pnode: 0, why: "the swap failed" },
      { type: "release", node: 0, pnode: 0 },
    ]);
    expect(d.machine.setupFigures()).toMatchObject({ inFlight: 0, waiting: 0 });
  });
});

describe("loads: estimates, budgets and silence", () => {
  it("the worst estimate is the largest, in any order, and a node past loading counts no more", () => {
    const d = new Driver("swapin", plan({ nodes: 3, syncServer: null, heartbeatUs: 5 * SEC }));
    d.machine.start(0);
    const loads = d.succeed(d.take());
    d.machine.progress(1, 0, 1, 30);
    d.machine.progress(1, 1, 1, 10);
    expect(d.machine.loadSecondsLeft()).toBe(30);
    d.answer(loads[0]!, true);
    d.answer(loads[1]!, true);
    // Both have loaded (0 s left each); node2 has sent no estimate.
    expect(d.machine.loadSecondsLeft()).toBeNull();
  });

  it("without heartbeats a load past its budget 'timed out'; with them, one reporting to the end of its budget too", () => {
    for (const heartbeatUs of [0, 5 * SEC]) {
      const d = new Driver("swapin", plan({ nodes: 1, syncServer: null, heartbeatUs, limits: { loadBaseUs: 20 * SEC, loadPer100MiBUs: 0 } }));
      d.machine.start(0);
      d.succeed(d.take());
      for (let t = 4 * SEC; t < 20 * SEC; t += 4 * SEC) d.machine.progress(t, 0, t, 5);
      d.runTimersUntil(20 * SEC);
      expect(d.kinds("node.step-failed"), `heartbeat ${heartbeatUs}`).toEqual([{ experiment: "exp1", node: "node0", pnode: 0, step: "load", attempt: 1, reason: "load timed out" }]);
    }
  });

  it("a silent node is wedged after three heartbeats when that is longer than wedgedUs", () => {
    const d = new Driver("swapin", plan({ nodes: 1, syncServer: null, heartbeatUs: 5 * SEC, limits: { wedgedUs: 1 * SEC } }));
    d.machine.start(0);
    d.succeed(d.take());
    d.runTimersUntil(15 * SEC - 1);
    expect(d.kinds("node.step-failed")).toEqual([]);
    d.runTimersUntil(15 * SEC);
    expect(d.kinds("node.step-failed")).toEqual([{ experiment: "exp1", node: "node0", pnode: 0, step: "load", attempt: 1, reason: "no progress report for 15 s (wedged)" }]);
  });
});

describe("what the portal reads after nodes fail", () => {
  it("the barrier waits for no failed node, and milestones leave failed nodes out, in the swap's own time", () => {
    const d = new Driver("swapin", plan({ nodes: 3, syncServer: null, nonFatal: [2], limits: { bootAttemptsMax: 1 } }));
    d.now = 100 * SEC;
    d.machine.start(d.now);
    const loads = d.succeed(d.take());
    d.now = 110 * SEC;
    d.answer(loads[1]!, true);
    d.now = 120 * SEC;
    d.answer(loads[0]!, true);
    const boots = d.take().filter((c) => c.type === "boot");
    d.now = 150 * SEC;
    d.answer(loads[2]!, true);
    d.answer(find(d.take(), "boot"), false, "no");
    expect(d.machine.waitingFor(5)).toEqual(["node0", "node1"]);
    expect(d.machine.summary().milestones.allLoadedSec).toBe(20);
    d.now = 160 * SEC;
    d.settle(boots);
    expect(d.machine.summary().milestones).toEqual({ allLoadedSec: 20, allBootedSec: 60, barrierSec: 60, endSec: 60 });
  });
});

describe("more of the swap's rules", () => {
  it("a failed save being retried shows its reason; once the swap-out is failing, a failed save is not retried", () => {
    const d = new Driver("swapout", plan({ nodes: 2, syncServer: null, saveDiskState: true }));
    d.machine.start(0);
    d.take();
    d.machine.saveDone(0, 0, 1, false, "disk full");
    expect(d.machine.view(0)).toMatchObject({ phase: "saving", attempt: 2, reason: "save: disk full" });
    d.machine.saveDone(0, 0, 2, false, "disk full");
    expect(d.machine.view(0).phase).toBe("kept");
    d.take();
    d.machine.saveDone(0, 1, 1, false, "");
    // Stopped like any failed save, and not tried again.
    expect(d.take()).toEqual([{ type: "abort", node: 1, pnode: 1, why: "save failed" }]);
    expect(d.machine.view(1)).toMatchObject({ phase: "kept", reason: "save failed 1 time: failed" });
  });

  it("a swap-out with saves says so when it ends", () => {
    const d = new Driver("swapout", plan({ nodes: 2, syncServer: null, saveDiskState: true }));
    d.machine.start(0);
    d.settle();
    expect(d.machine.outcome).toMatchObject({ ok: true, reason: "swapped out: 2 nodes released, disks saved" });
  });

  it("stopped twice, it fails once with the first reason; a node already released is not released again", () => {
    const d = new Driver("swapout", plan({ nodes: 2, syncServer: null, saveDiskState: true, partitionless: [1] }));
    d.machine.start(0);
    d.machine.released(0, 1);
    d.take();
    d.machine.cancel(1, "first");
    d.machine.cancel(2, "second");
    expect(d.take()).toEqual([{ type: "abort", node: 0, pnode: 0, why: "the swap-out was stopped" }]);
    expect(d.kinds("swap.failing")).toEqual([{ experiment: "exp1", reason: "first" }]);
    expect(d.machine.outcome).toMatchObject({ ok: false, reason: "first" });
    // Stopped again while its nodes are still being released.
    const i = new Driver("swapin", plan({ nodes: 1, syncServer: null }));
    i.machine.start(0);
    i.succeed(i.take());
    i.machine.cancel(1, "first");
    i.take();
    i.machine.cancel(2, "second");
    expect(i.take()).toEqual([]);
    i.machine.released(3, 0);
    expect(i.kinds("swap.failing")).toEqual([{ experiment: "exp1", reason: "first" }]);
    expect(i.machine.outcome).toMatchObject({ ok: false, reason: "first" });
  });

  it("refuses an input that arrives while another is handled (an event sink calling back)", () => {
    let d: Driver | null = null;
    const p = plan({ nodes: 1, syncServer: null });
    const machine = new SwapMachine("swapin", p, { command: () => {} }, { emit: () => void d?.machine.timer(0) }, createRng(1));
    d = { machine } as unknown as Driver;
    expect(() => machine.start(0)).toThrow("swap machine: an input arrived while another was being handled (the port must not call back synchronously)");
  });

  it("starts the sync server again on the spare that replaces its node after it was started", () => {
    const d = new Driver("swapin", plan({ nodes: 1, spares: 1, syncServer: 0, limits: { setupAttemptsMax: 1, syncStartTimeoutUs: 30 * SEC } }));
    d.machine.start(0);
    const next = d.succeed(d.succeed(d.succeed(d.take())));
    expect(d.types(next)).toEqual(["start-sync:0@0", "setup:0@0"]);
    d.answer(next[1]!, false, "broken");
    const spare = d.take();
    expect(d.types(spare)).toEqual(["abort:0@0", "release:0@0", "load:0@1"]);
    expect(d.machine.nextWakeUs()).not.toBe(30 * SEC);
    const boot = d.succeed([spare[2]!]);
    expect(d.types(d.succeed(boot))).toEqual(["start-sync:0@1", "setup:0@1"]);
    expect(d.kinds("sync.failed")).toEqual([]);
  });
});
