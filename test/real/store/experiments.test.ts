import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diskStateNode, ExperimentError, openDiskImageStore, openExperimentStore, SiteVariableError } from "../../../real/store/index.js";
import { parseExperiment } from "../../../scenarios/experiment/schema.js";

const dir = mkdtempSync(join(tmpdir(), "testbed-exp-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spec = parseExperiment(
  JSON.stringify({
    name: "exp1",
    nodes: [{ name: "node", count: 3, image: "std" }],
    images: { std: { size: "8MiB", data: "24MiB" } },
    syncServer: "node1",
  }),
  "exp1.json",
);

describe("the experiment store", () => {
  it("keeps an experiment file's nodes, partitions and state, and lists it", () => {
    const store = openExperimentStore(":memory:");
    store.createFromSpec(spec);
    const row = store.experiment("exp1")!;
    expect(row).toMatchObject({ name: "exp1", state: "new", syncServer: "node1", saveDiskState: false, world: null });
    expect(row.spec).toEqual(spec);
    expect(row.nodes.map((n) => n.node)).toEqual(["node0", "node1", "node2"]);
    expect(store.partitions("exp1")).toEqual([0, 1, 2].map((i) => ({ node: `node${i}`, partition: 1, image: "std", delta: null, deltaBytes: null, savedAt: null })));
    expect(store.listExperiments()).toMatchObject([{ name: "exp1", state: "new", nodes: 3, ready: 0 }]);
    expect(store.syncServerOf("exp1")).toEqual({ node: "node1", host: "node1" });
    expect(() => store.createFromSpec(spec)).toThrow("experiment exp1 already exists");
  });

  it("moves only through the transition table and says why not", () => {
    const store = openExperimentStore(":memory:");
    store.createFromSpec(spec);
    expect(() => store.transition("exp1", "swapout")).toThrow(new ExperimentError("experiment exp1: cannot swap out: it has never been swapped in"));
    expect(store.transition("exp1", "swapin", "", "sim")).toBe("swapping-in");
    expect(() => store.transition("exp1", "swapin")).toThrow("experiment exp1: cannot swap in: it is swapping in already; wait until it is active or has failed");
    expect(() => store.deleteExperiment("exp1")).toThrow("experiment exp1: cannot delete: it is swapping in already");
    expect(store.transition("exp1", "swapin-done", "swapped in: 3/3 nodes ready")).toBe("active");
    expect(store.experiment("exp1")).toMatchObject({ state: "active", reason: "swapped in: 3/3 nodes ready", world: "sim" });
    expect(store.transition("exp1", "swapout")).toBe("swapping-out");
    expect(store.transition("exp1", "swapout-done")).toBe("swapped");
    store.deleteExperiment("exp1");
    expect(store.experiment("exp1")).toBeUndefined();
    expect(store.partitions("exp1")).toEqual([]);
  });

  it("drops a deleted experiment's saved disk records, and only its own, so that image gc may collect them", () => {
    const path = join(dir, "disks.db");
    const experiments = openExperimentStore(path);
    const disks = openDiskImageStore(path);
    try {
      // exp1's own node, another experiment whose name starts with exp1, one with a LIKE wildcard, and a bare node
      const other = parseExperiment(JSON.stringify({ name: "exp10", nodes: [{ name: "node", count: 1, image: "std" }], images: { std: { size: "8MiB", data: "24MiB" } } }), "exp10.json");
      experiments.createFromSpec(spec);
      experiments.createFromSpec(other);
      disks.addImage({ digest: "d1", imageId: "i1", path: "/images/std.ndz", bytes: 1 });
      const nodes = [diskStateNode("exp1", "node0"), diskStateNode("exp1", "node1"), diskStateNode("exp10", "node0"), diskStateNode("exp_", "node0"), "node0"];
      for (const node of nodes) disks.recordLoad(node, 1, "d1");
      disks.recordSave(diskStateNode("exp1", "node0"), 1, { path: "/deltas/exp1-node0.ndz", digest: "x", base: "d1", kind: "delta", deltaId: "x", bytes: 10, dataBytes: 5 });
      expect(disks.unreferenced().deltas).toEqual([]);
      experiments.deleteExperiment("exp1");
      expect(disks.nodeDisks().map((d) => d.node)).toEqual(["exp10/node0", "exp_/node0", "node0"]);
      expect(disks.unreferenced().deltas).toEqual([{ path: "/deltas/exp1-node0.ndz", bytes: 10 }]);
    } finally {
      experiments.close();
      disks.close();
    }
  });

  it("lets exactly one of two processes start a swap-in at once", () => {
    const path = join(dir, "race.db");
    const a = openExperimentStore(path);
    const b = openExperimentStore(path);
    a.createFromSpec(spec);
    const outcomes = [a, b].map((s) => {
      try {
        return s.transition("exp1", "swapin");
      } catch (error) {
        return (error as Error).message;
      }
    });
    expect(outcomes).toEqual(["swapping-in", "experiment exp1: cannot swap in: it is swapping in already; wait until it is active or has failed"]);
    a.close();
    b.close();
  });

  it("records progress, ready bits and events, finds nodes by address and ties events to the swap's run", () => {
    const store = openExperimentStore(":memory:");
    store.createFromSpec(spec);
    store.setNodeHosts("exp1", new Map([["node0", "127.0.9.1"], ["node1", "127.0.9.2"], ["node2", "127.0.9.3"]]));
    expect(store.nodeByHost("127.0.9.2")).toBe("unknown");
    store.transition("exp1", "swapin");
    expect(store.nodeByHost("127.0.9.2")).toEqual({ experiment: "exp1", node: "node1" });
    const from = store.lastEventId();
    const node = { phase: "loading", pnode: "p1", attempt: 1, bytesWritten: 1000, imageBytes: 4000, secondsLeft: 3.5, lastReportUs: 2_000_000, ready: false, reason: "" };
    store.saveProgress("exp1", { clockUs: 2_500_000, secondsLeft: 9, progress: { barrier: { ready: 0, total: 3 } }, nodes: [{ node: "node1", ...node }], events: [{ timeUs: 2_000_000, host: "node1", kind: "FRISBEEPROGRESS", data: { BYTES_WRITTEN: 1000 } }] });
    const row = store.experiment("exp1")!;
    expect(row).toMatchObject({ clockUs: 2_500_000, secondsLeft: 9, progress: { barrier: { ready: 0, total: 3 } } });
    expect(row.nodes[1]).toMatchObject({ node: "node1", host: "127.0.9.2", ...node });
    store.setReady("exp1", "node0");
    expect(store.readyCount("exp1")).toEqual({ ready: 1, total: 3 });
    const events = store.experimentEvents("exp1");
    expect(events).toMatchObject([{ kind: "FRISBEEPROGRESS", host: "node1", runId: null, experiment: "exp1", data: { BYTES_WRITTEN: 1000 } }]);
    const runId = store.recordSwapRun("exp1", { kind: "swapin", scenario: "exp1", seed: "1", fingerprint: "f", events: 1, simSeconds: 3, wallSeconds: 0.1, ok: true, results: {}, createdAt: new Date().toISOString() }, from);
    expect(store.experimentEvents("exp1")[0]?.runId).toBe(runId);
    store.setDelta("exp1", "node2", 1, "deltas/exp1/node2-1.ndz", 12345);
    expect(store.partitions("exp1")[2]).toMatchObject({ delta: "deltas/exp1/node2-1.ndz", deltaBytes: 12345 });
  });

  it("keeps site variables: known names only, checked values, defaults when unset", () => {
    const store = openExperimentStore(":memory:");
    expect(store.sitevars.get("images/frisbee/heartbeat")).toMatchObject({ value: "0", isDefault: true });
    store.sitevars.set("images/frisbee/heartbeat", "5");
    expect(store.sitevars.get("images/frisbee/heartbeat")).toMatchObject({ value: "5", isDefault: false });
    expect(() => store.sitevars.set("images/frisbee/heartbeat", "-1")).toThrow(new SiteVariableError('site variable images/frisbee/heartbeat: expected whole seconds from 0 to 3600, got "-1"'));
    expect(() => store.sitevars.set("images/frisbe/heartbeat", "1")).toThrow(/^no site variable named "images\/frisbe\/heartbeat" \(known: images\/frisbee\/heartbeat\)$/);
    store.sitevars.unset("images/frisbee/heartbeat");
    expect(store.sitevars.list()).toMatchObject([{ name: "images/frisbee/heartbeat", value: "0", isDefault: true }]);
  });
});
