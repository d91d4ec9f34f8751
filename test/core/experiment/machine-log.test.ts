import { describe, expect, it } from "vitest";
import { SwapMachine, type SwapCommand } from "../../../core/experiment/index.js";
import { createRng } from "../../../core/engine/rng.js";
import { Driver, SEC, plan } from "./support.js";

/**
 * The event log (what the store keeps and the portal shows) and the commands of swaps that go
 * wrong in ways the other tests do not pin: failed and timed-out saves, a forced release, image
 * servers that fail or never start, a spare, a non-fatal node lost, the process shutting down.
 */
type Fields = Record<string, string | number | boolean>;
const e = (kind: string, fields: Fields) => ({ kind, fields: { experiment: "exp1", ...fields } });
const phase = (node: number, p: string, more: Fields = {}) => e("node.phase", { node: `node${node}`, pnode: node, phase: p, ...more });

describe("a swap-out whose saves fail", () => {
  it("retries a failed save naming the reason (or 'failed'), keeps a node whose save keeps failing, forces a release that is never confirmed", () => {
    const d = new Driver("swapout", plan({ nodes: 3, syncServer: 0, saveDiskState: true, partitionless: [2], limits: { saveTimeoutUs: 50 * SEC, releaseTimeoutUs: 10 * SEC } }));
    d.machine.start(0);
    const first = d.take();
    expect(d.types(first)).toEqual(["stop-sync:0@0", "save:0@0", "save:1@1", "release:2@2"]);
    d.now = 1 * SEC;
    d.answer(first[1]!, false, "disk full");
    expect(d.types(d.take())).toEqual(["abort:0@0", "save:0@0"]);
    d.now = 2 * SEC;
    d.machine.saveDone(d.now, 1, 1, false, "");
    const retry = d.take();
    expect(retry[0]).toEqual({ type: "abort", node: 1, pnode: 1, why: "save failed" });
    expect(retry[1]).toMatchObject({ type: "save", node: 1, attempt: 2 });
    expect(d.commands).toEqual([]);
    // A late answer for the first attempt changes nothing.
    d.machine.saveDone(d.now, 1, 1, true);
    d.runTimersUntil(100 * SEC);
    // Both second saves time out: each is stopped before its node is kept, as a retried one is.
    expect(d.take()).toEqual([
      { type: "abort", node: 0, pnode: 0, why: "save save timed out" },
      { type: "abort", node: 1, pnode: 1, why: "save save timed out" },
    ]);
    const kept = "save failed 2 times: save timed out";
    expect(d.events).toEqual([
      e("swap.start", { kind: "swapout", nodes: 3, spares: 0 }),
      phase(0, "saving"),
      phase(1, "saving"),
      phase(2, "releasing"),
      e("node.step-failed", { node: "node0", pnode: 0, step: "save", attempt: 1, reason: "disk full" }),
      phase(0, "saving", { attempt: 2 }),
      e("node.step-failed", { node: "node1", pnode: 1, step: "save", attempt: 1, reason: "failed" }),
      phase(1, "saving", { attempt: 2 }),
      e("node.release-forced", { node: "node2", pnode: 2 }),
      phase(2, "released"),
      e("node.step-failed", { node: "node0", pnode: 0, step: "save", attempt: 2, reason: "save timed out" }),
      phase(0, "kept", { reason: kept }),
      e("node.step-failed", { node: "node1", pnode: 1, step: "save", attempt: 2, reason: "save timed out" }),
      phase(1, "kept", { reason: kept }),
      e("swap.end", { kind: "swapout", ok: false, reason: `node0: ${kept}; the node is kept with its disk, swap out again to retry`, seconds: 52 }),
    ]);
    expect(d.machine.summary()).toMatchObject({ failed: 2, retries: { save: 2 }, milestones: { endSec: 52 } });
  });

  it("aborts a save that timed out on its last attempt before keeping the node, as it does before a retry", () => {
    const d = new Driver("swapout", plan({ nodes: 1, syncServer: null, saveDiskState: true, limits: { loadAttemptsMax: 2, saveTimeoutUs: 50 * SEC } }));
    d.machine.start(0);
    expect(d.types(d.take())).toEqual(["save:0@0"]);
    d.runTimersUntil(50 * SEC);
    expect(d.types(d.take())).toEqual(["abort:0@0", "save:0@0"]);
    d.runTimersUntil(100 * SEC);
    expect(d.take()).toEqual([{ type: "abort", node: 0, pnode: 0, why: "save save timed out" }]);
    expect(d.machine.view(0)).toMatchObject({ phase: "kept", reason: "save failed 2 times: save timed out" });
    // The aborted save answering late changes nothing: the node stays kept.
    d.machine.saveDone(101 * SEC, 0, 2, true);
    expect(d.take()).toEqual([]);
    expect(d.machine.view(0).phase).toBe("kept");
  });

  it("a save that fails on its last attempt keeps the node, naming the reason and the attempts", () => {
    const d = new Driver("swapout", plan({ nodes: 1, syncServer: null, saveDiskState: true, limits: { loadAttemptsMax: 1 } }));
    d.machine.start(0);
    d.machine.saveDone(0, 0, 1, false, "");
    expect(d.machine.view(0)).toMatchObject({ phase: "kept", reason: "save failed 1 time: failed" });
    d.take();
    const d2 = new Driver("swapout", plan({ nodes: 1, syncServer: null, saveDiskState: true, limits: { loadAttemptsMax: 1 } }));
    d2.machine.start(0);
    d2.machine.saveDone(0, 0, 1, false, "no space");
    expect(d2.machine.view(0)).toMatchObject({ phase: "kept", reason: "save failed 1 time: no space" });
  });

  it("stopped while saving: the node being saved is kept, aborted, with the reason; the others are released", () => {
    const d = new Driver("swapout", plan({ nodes: 2, syncServer: null, saveDiskState: true, partitionless: [1] }));
    d.machine.start(0);
    d.take();
    d.now = 3 * SEC;
    d.machine.cancel(d.now, "interrupted");
    expect(d.take()).toEqual([{ type: "abort", node: 0, pnode: 0, why: "the swap-out was stopped" }]);
    expect(d.machine.view(0)).toMatchObject({ phase: "kept", reason: "not saved: the swap-out was stopped" });
    expect(d.machine.view(1).phase).toBe("releasing");
    d.machine.released(d.now, 1);
    expect(d.machine.outcome).toEqual({ ok: false, reason: "interrupted", atUs: 3 * SEC });
  });
});

describe("image servers", () => {
  it("a server that fails to start fails the swap with the default reason; another one still starting is stopped when its time is up", () => {
    const d = new Driver("swapin", plan({ nodes: 2, images: 2, syncServer: null, limits: { imageStartTimeoutUs: 10 * SEC } }));
    d.machine.start(0);
    expect(d.types(d.take())).toEqual(["serve-image:0", "serve-image:1"]);
    d.machine.imageServing(1 * SEC, 0, false);
    expect(d.take()).toEqual([{ type: "stop-image", image: 0 }, { type: "release", node: 0, pnode: 0 }, { type: "release", node: 1, pnode: 1 }]);
    expect(d.machine.nextWakeUs()).toBe(10 * SEC);
    d.runTimersUntil(100 * SEC);
    expect(d.take()).toEqual([{ type: "stop-image", image: 1 }]);
    expect(d.machine.finished).toBe(true);
    expect(d.events).toEqual([
      e("swap.start", { kind: "swapin", nodes: 2, spares: 0 }),
      phase(0, "waiting"),
      phase(1, "waiting"),
      e("image.stopped", { image: "img0" }),
      e("swap.failing", { reason: "image img0 could not be served: the server did not start" }),
      phase(0, "releasing"),
      phase(1, "releasing"),
      e("image.stopped", { image: "img1" }),
      e("node.release-forced", { node: "node0", pnode: 0 }),
      phase(0, "released"),
      e("node.release-forced", { node: "node1", pnode: 1 }),
      phase(1, "released"),
      e("swap.end", { kind: "swapin", ok: false, reason: "image img0 could not be served: the server did not start", seconds: 61 }),
    ]);
  });

  it("a server that never says it started fails the swap 'in time'; the one serving is stopped at shutdown, and only it", () => {
    const d = new Driver("swapin", plan({ nodes: 2, images: 2, syncServer: null, limits: { imageStartTimeoutUs: 10 * SEC } }));
    d.machine.start(0);
    d.take();
    d.machine.imageServing(1 * SEC, 1, true);
    expect(d.types(d.take())).toEqual(["load:1@1"]);
    d.now = 10 * SEC - 1;
    d.machine.timer(d.now);
    expect(d.take()).toEqual([]);
    d.now = 10 * SEC;
    d.machine.timer(d.now);
    expect(d.take()).toEqual([
      { type: "stop-image", image: 0 },
      { type: "release", node: 0, pnode: 0 },
      { type: "abort", node: 1, pnode: 1, why: "the swap failed" },
      { type: "release", node: 1, pnode: 1 },
    ]);
    expect(d.kinds("swap.failing")).toEqual([{ experiment: "exp1", reason: "image img0 could not be served: the server did not start in time" }]);
    d.machine.shutdown(11 * SEC);
    expect(d.take()).toEqual([{ type: "stop-image", image: 1 }]);
    d.machine.shutdown(12 * SEC);
    expect(d.take()).toEqual([]);
    expect(d.kinds("image.stopped")).toEqual([{ experiment: "exp1", image: "img0" }, { experiment: "exp1", image: "img1" }]);
  });

  it("an image loaded by every node lingers for imageLingerUs after the last load, then stops; one needed again does not", () => {
    const d = new Driver("swapin", plan({ nodes: 1, syncServer: null, limits: { imageLingerUs: 30 * SEC } }));
    d.machine.start(0);
    const loads = d.succeed(d.take());
    d.now = 5 * SEC;
    d.answer(loads[0]!, true);
    expect(d.machine.nextWakeUs()).toBe(35 * SEC);
    d.settle();
    expect(d.machine.outcome?.ok).toBe(true);
    expect(d.machine.finished).toBe(false);
    d.runTimersUntil(35 * SEC - 1);
    expect(d.take()).toEqual([]);
    d.runTimersUntil(35 * SEC);
    expect(d.take()).toEqual([{ type: "stop-image", image: 0 }]);
    expect(d.machine.finished).toBe(true);
  });
});

describe("spares and non-fatal nodes", () => {
  it("replaces a node on a spare, loses a non-fatal one when no spare is left, and says so at the end", () => {
    const d = new Driver("swapin", plan({ nodes: 3, spares: 1, syncServer: 1, nonFatal: [2], limits: { loadAttemptsMax: 1 } }));
    d.machine.start(0);
    const loads = d.succeed(d.take());
    d.now = 1 * SEC;
    d.answer(loads[1]!, false, "bad disk");
    const again = d.take();
    expect(d.types(again)).toEqual(["abort:1@1", "release:1@1", "load:1@3"]);
    expect(again[0]).toEqual({ type: "abort", node: 1, pnode: 1, why: "load bad disk" });
    // The spare starts afresh: nothing the first physical node did counts for it.
    expect(d.machine.view(1)).toMatchObject({ pnode: 3, phase: "loading", reason: "load: bad disk" });
    d.answer(loads[2]!, false, "bad disk");
    expect(d.types(d.take())).toEqual(["abort:2@2"]);
    d.settle([loads[0]!, again[2]!]);
    expect(d.machine.outcome).toMatchObject({ ok: true, reason: "swapped in: 2/3 nodes ready; 1 non-fatal node down" });
    expect(d.kinds("node.replaced")).toEqual([{ experiment: "exp1", node: "node1", from: 1, to: 3, reason: "load failed 1 time: bad disk" }]);
    expect(d.kinds("node.down-nonfatal")).toEqual([{ experiment: "exp1", node: "node2", reason: "load failed 1 time: bad disk; no spare left" }]);
    expect(d.kinds("barrier.count")).toEqual([
      { experiment: "exp1", barrier: "boot", node: "node0", ready: 1, total: 2 },
      { experiment: "exp1", barrier: "boot", node: "node1", ready: 2, total: 2 },
    ]);
    expect(d.kinds("barrier.passed")).toEqual([{ experiment: "exp1", barrier: "boot", ready: 2, total: 2 }]);
    expect(d.machine.summary()).toMatchObject({ ready: 2, failed: 1, replaced: 1 });
  });

  it("two non-fatal nodes down are counted in the plural; past the replacement limit a node fails though spares are left", () => {
    const d = new Driver("swapin", plan({ nodes: 3, spares: 2, syncServer: null, nonFatal: [1, 2], limits: { loadAttemptsMax: 1, replacementsMax: 1 } }));
    d.machine.start(0);
    const loads = d.succeed(d.take());
    d.answer(loads[1]!, false, "x");
    const spare = d.take().find((c) => c.type === "load")!;
    d.answer(spare, false, "y");
    expect(d.machine.view(1)).toMatchObject({ phase: "failed", reason: "load failed 1 time: y; replacement limit reached" });
    d.answer(loads[2]!, false, "z");
    d.settle([loads[0]!]);
    expect(d.machine.outcome).toMatchObject({ ok: true, reason: "swapped in: 1/3 nodes ready; 2 non-fatal nodes down" });
  });
});

describe("the machine refuses a bad plan", () => {
  it("names the plan's first problem", () => {
    const bad = { ...plan({ nodes: 1 }), syncServer: 5 };
    expect(() => new SwapMachine("swapin", bad, { command: (_c: SwapCommand) => {} }, { emit: () => {} }, createRng(1))).toThrow(/^swap plan: /);
  });
});
