import { describe, expect, it } from "vitest";
import type { SwapCommand } from "../../../core/experiment/index.js";
import { Driver, SEC, plan } from "./support.js";

describe("swap-in", () => {
  it("serves the image, loads, boots, sets up and passes the boot barrier, then is active", () => {
    const d = new Driver("swapin", plan({ nodes: 3 }));
    d.machine.start(0);
    expect(d.types(d.take())).toEqual(["serve-image:0"]);
    d.machine.imageServing(0, 0, true);
    const loads = d.take();
    expect(d.types(loads)).toEqual(["load:0@0", "load:1@1", "load:2@2"]);
    const boots = d.succeed(loads);
    expect(d.types(boots)).toEqual(["boot:0@0", "boot:1@1", "boot:2@2"]);
    const next = d.succeed(boots);
    // node0 holds the sync server: it starts as soon as node0 is up; setups start in the pool.
    expect(d.types(next)).toEqual(["start-sync:0@0", "setup:0@0", "setup:1@1", "setup:2@2"]);
    d.succeed(next.filter((c) => c.type === "setup"));
    expect(d.machine.outcome).toBeNull();
    expect(d.machine.barrier).toEqual({ name: "boot", ready: 3, total: 3 });
    expect(d.kinds("barrier.passed")).toHaveLength(1);
    d.answer(next[0]!, true);
    expect(d.machine.outcome).toMatchObject({ ok: true, reason: "swapped in: 3/3 nodes ready" });
    expect(d.kinds("node.phase").filter((f) => f.phase === "ready")).toHaveLength(3);
  });

  it("says when the n-th node loaded and became ready, in the swap's own time, however late it is asked", () => {
    const d = new Driver("swapin", plan({ nodes: 3, syncServer: null }));
    d.now = 5 * SEC;
    d.machine.start(d.now);
    const loads = d.succeed(d.take());
    expect(loads).toHaveLength(3);
    expect(d.machine.nthDoneSec("loaded", 1)).toBeNull();
    d.now = 7 * SEC;
    d.answer(loads[2]!, true);
    d.now = 9.5 * SEC;
    d.answer(loads[0]!, true);
    d.now = 40 * SEC;
    expect(d.machine.nthDoneSec("loaded", 1)).toBe(2);
    expect(d.machine.nthDoneSec("loaded", 2)).toBe(4.5);
    expect(d.machine.nthDoneSec("loaded", 3)).toBeNull();
    d.answer(loads[1]!, true);
    expect(d.machine.nthDoneSec("loaded", 3)).toBe(35);
    expect(d.machine.nthDoneSec("ready", 1)).toBeNull();
    d.settle(d.take());
    expect(d.machine.nthDoneSec("ready", 3)).toBe(35);
  });

  it("retries a failed load once on the same node, then replaces the node with a spare", () => {
    const d = new Driver("swapin", plan({ nodes: 2, spares: 1, syncServer: null }));
    d.machine.start(0);
    const [l0, l1] = d.succeed(d.take());
    d.answer(l0!, false, "disk write error");
    expect(d.types(d.take())).toEqual(["abort:0@0", "load:0@0"]);
    d.answer({ ...(l0 as Extract<SwapCommand, { type: "load" }>), attempt: 2 }, false, "disk write error");
    const replaced = d.take();
    expect(d.types(replaced)).toEqual(["abort:0@0", "release:0@0", "load:0@2"]);
    expect(d.kinds("node.replaced")).toEqual([{ experiment: "exp1", node: "node0", from: 0, to: 2, reason: "load failed 2 times: disk write error" }]);
    d.settle([l1!, replaced[2]!]);
    expect(d.machine.outcome?.ok).toBe(true);
    expect(d.machine.summary()).toMatchObject({ replaced: 1, retries: { load: 1 } });
  });

  it("fails the swap-in with the node and the reason when no spare is left, and releases every node", () => {
    const d = new Driver("swapin", plan({ nodes: 3, syncServer: null }));
    d.machine.start(0);
    const loads = d.succeed(d.take());
    d.answer(loads[1]!, false, "no route");
    const retry = d.take().find((c) => c.type === "load")!;
    d.answer(retry, false, "no route");
    const after = d.take();
    expect(d.types(after)).toEqual(["abort:1@1", "abort:0@0", "release:0@0", "release:1@1", "abort:2@2", "release:2@2"]);
    expect(d.machine.outcome).toBeNull();
    d.succeed(after);
    expect(d.machine.outcome).toMatchObject({ ok: false, reason: "1/3 nodes failed: node1: load failed 2 times: no route; no spare left" });
    // A late answer for an aborted load changes nothing.
    d.answer(loads[0]!, true);
    expect(d.take()).toEqual([]);
  });

  it("judges a silent loading node wedged when heartbeats are on, and a report extends that deadline", () => {
    const d = new Driver("swapin", plan({ nodes: 1, syncServer: null, heartbeatUs: 2 * SEC, limits: { wedgedUs: 30 * SEC } }));
    d.machine.start(0);
    d.succeed(d.take());
    d.now = 20 * SEC;
    d.machine.progress(d.now, 0, 50 * 2 ** 20, 12);
    expect(d.machine.view(0)).toMatchObject({ phase: "loading", bytesWritten: 50 * 2 ** 20, secondsLeft: 12 });
    d.runTimersUntil(49 * SEC);
    expect(d.take()).toEqual([]);
    d.runTimersUntil(50 * SEC);
    expect(d.types(d.take())).toEqual(["abort:0@0", "load:0@0"]);
    expect(d.kinds("node.step-failed")[0]).toMatchObject({ step: "load", reason: "no progress report for 30 s (wedged)" });
  });

  it("without heartbeats a load gets Emulab's budget: 600 s plus 65 s per 100 MiB", () => {
    const d = new Driver("swapin", plan({ nodes: 1, syncServer: null }));
    d.machine.start(0);
    d.succeed(d.take());
    d.runTimersUntil(664 * SEC);
    expect(d.take()).toEqual([]);
    d.runTimersUntil(665 * SEC);
    expect(d.kinds("node.step-failed")[0]).toMatchObject({ reason: "load timed out" });
  });

  it("retries a failed setup with backoff through the setup pool, then replaces a node that keeps failing", () => {
    const d = new Driver("swapin", plan({ nodes: 2, spares: 1, syncServer: null, limits: { setupAttemptsMax: 3, setupRetryUs: 5 * SEC } }));
    d.machine.start(0);
    let setups = d.succeed(d.succeed(d.succeed(d.take())));
    expect(d.types(setups)).toEqual(["setup:0@0", "setup:1@1"]);
    d.answer(setups[0]!, true);
    for (let i = 0; i < 3; i++) {
      d.answer(setups.find((c) => "node" in c && c.node === 1)!, false, "exit 1: apt-get failed");
      d.runTimersUntil(d.now + 60 * SEC);
      setups = d.take();
      if (i < 2) expect(d.types(setups)).toEqual(["setup:1@1"]);
    }
    expect(d.types(setups)).toEqual(["abort:1@1", "release:1@1", "load:1@2"]);
    expect(d.kinds("node.replaced")[0]).toMatchObject({ reason: "setup failed 3 times (exit 1: apt-get failed)" });
    // Both nodes were loaded at 0 and node0 ready at 0; node1 given back at replacedAt. The milestones stay
    // where they were passed (the spare is not loaded yet), and the replacement is listed with its time.
    expect([d.machine.nthDoneSec("loaded", 2), d.machine.nthDoneSec("ready", 1), d.machine.nthDoneSec("ready", 2)]).toEqual([0, 0, null]);
    // The third failure came at 120 s (two retries 60 s apart), the last timer run went on to 180 s.
    const replacedAt = 120 * SEC;
    expect(d.machine.replacements).toEqual([{ node: "node1", atUs: replacedAt, why: "setup failed 3 times (exit 1: apt-get failed)" }]);
    expect(d.machine.secondsIn(replacedAt)).toBe(replacedAt / SEC);
    d.now += 7 * SEC;
    d.settle(setups);
    expect(d.machine.outcome).toMatchObject({ ok: true });
    expect(d.machine.summary().retries.setup).toBe(2);
    expect([d.machine.nthDoneSec("loaded", 2), d.machine.nthDoneSec("ready", 2)]).toEqual([0, d.now / SEC]);
    expect(d.machine.nthDoneSec("loaded", 3)).toBeNull();
  });

  it("lets a non-fatal node fail without failing the swap-in", () => {
    const d = new Driver("swapin", plan({ nodes: 3, syncServer: null, nonFatal: [2], limits: { bootAttemptsMax: 1 } }));
    d.machine.start(0);
    const boots = d.succeed(d.succeed(d.take()));
    d.answer(boots[2]!, false, "kernel panic");
    d.settle([...boots.slice(0, 2), ...d.take()]);
    expect(d.machine.outcome).toMatchObject({ ok: true, reason: "swapped in: 2/3 nodes ready; 1 non-fatal node down" });
    expect(d.machine.barrier).toEqual({ name: "boot", ready: 2, total: 2 });
  });

  it("boots nodes that load nothing without waiting for an image server", () => {
    const d = new Driver("swapin", plan({ nodes: 2, syncServer: null, partitionless: [0, 1] }));
    d.machine.start(0);
    expect(d.types(d.take())).toEqual(["boot:0@0", "boot:1@1"]);
  });

  it("keeps an idle image server for its linger time, then stops it", () => {
    const d = new Driver("swapin", plan({ nodes: 1, syncServer: null, limits: { imageLingerUs: 100 * SEC } }));
    d.machine.start(0);
    d.now = 10 * SEC;
    d.settle();
    expect(d.machine.outcome?.ok).toBe(true);
    expect(d.machine.finished).toBe(false);
    d.runTimersUntil(109 * SEC);
    expect(d.take()).toEqual([]);
    d.runTimersUntil(110 * SEC);
    expect(d.types(d.take())).toEqual(["stop-image:0"]);
    expect(d.machine.finished).toBe(true);
  });

  it("fails clearly when an image server never starts", () => {
    const d = new Driver("swapin", plan({ nodes: 2, syncServer: null }));
    d.machine.start(0);
    d.take();
    d.runTimersUntil(61 * SEC);
    d.settle();
    expect(d.machine.outcome).toMatchObject({ ok: false, reason: "image img0 could not be served: the server did not start in time" });
  });

  it("restarts the sync server on the spare that replaces its node", () => {
    const d = new Driver("swapin", plan({ nodes: 2, spares: 1, syncServer: 0, limits: { bootAttemptsMax: 1 } }));
    d.machine.start(0);
    const boots = d.succeed(d.succeed(d.take()));
    d.answer(boots[0]!, false, "no console");
    const replaced = d.take();
    expect(d.types(replaced)).toEqual(["abort:0@0", "release:0@0", "load:0@2"]);
    d.settle([...replaced, boots[1]!]);
    expect(d.machine.outcome?.ok).toBe(true);
    expect(d.commands).toEqual([]);
    expect(d.kinds("sync.up")).toHaveLength(1);
  });
});

describe("swap-out", () => {
  it("saves each node's disk, then releases it", () => {
    const d = new Driver("swapout", plan({ nodes: 2, saveDiskState: true }));
    d.machine.start(0);
    const first = d.take();
    expect(d.types(first)).toEqual(["stop-sync:0@0", "save:0@0", "save:1@1"]);
    const releases = d.succeed(first);
    expect(d.types(releases)).toEqual(["release:0@0", "release:1@1"]);
    d.succeed(releases);
    expect(d.machine.outcome).toMatchObject({ ok: true, reason: "swapped out: 2 nodes released, disks saved" });
  });

  it("keeps a node whose disk cannot be saved and fails the swap-out, releasing the others", () => {
    const d = new Driver("swapout", plan({ nodes: 2, saveDiskState: true, syncServer: null }));
    d.machine.start(0);
    const saves = d.take();
    d.answer(saves[0]!, false, "disk read error");
    const retry = d.take().find((c) => c.type === "save")!;
    expect(retry).toMatchObject({ node: 0, attempt: 2 });
    d.answer(retry, false, "disk read error");
    d.answer(saves[1]!, true);
    d.settle();
    expect(d.machine.outcome).toMatchObject({ ok: false, reason: "node0: save failed 2 times: disk read error; the node is kept with its disk, swap out again to retry" });
    expect(d.machine.view(0).phase).toBe("kept");
    expect(d.machine.view(1).phase).toBe("released");
  });

  it("keeps nodes still saving when the swap-out is stopped", () => {
    const d = new Driver("swapout", plan({ nodes: 2, saveDiskState: true, syncServer: null }));
    d.machine.start(0);
    const saves = d.take();
    d.answer(saves[0]!, true);
    d.machine.cancel(d.now, "interrupted");
    d.settle();
    expect(d.machine.outcome).toMatchObject({ ok: false, reason: "interrupted" });
    expect([d.machine.view(0).phase, d.machine.view(1).phase]).toEqual(["released", "kept"]);
  });

  it("without saving disk state releases at once", () => {
    const d = new Driver("swapout", plan({ nodes: 2, syncServer: null }));
    d.machine.start(0);
    expect(d.types(d.take())).toEqual(["release:0@0", "release:1@1"]);
  });
});
