import { describe, expect, it } from "vitest";
import { ExperimentError, openExperimentStore } from "../../../real/store/index.js";
import { parseExperiment } from "../../../scenarios/experiment/schema.js";
import { runSwap } from "../../../scenarios/experiment/swap.js";
import { experimentTemplate } from "../../../scenarios/experiment/template.js";

function storeWith(nodes: number, changes: Record<string, unknown> = {}) {
  const store = openExperimentStore(":memory:");
  store.createFromSpec(parseExperiment(JSON.stringify({ ...experimentTemplate({ nodes, sim: true, name: "e" }), ...changes }), "e.json"));
  return store;
}

describe("a simulated swap-in", () => {
  it("loads every node over Frisbee, recovers crashes, flaky and bad nodes, passes the barrier and is active", async () => {
    const store = storeWith(40);
    const r = await runSwap({ store, name: "e", action: "swapin", world: "sim", seed: 7, heartbeatSec: 1 });
    expect(r).toMatchObject({ ok: true, state: "active", reason: "swapped in: 40/40 nodes ready" });
    expect(r.summary.replaced).toBe(1);
    expect(r.summary.retries.load).toBeGreaterThanOrEqual(1);
    const row = store.experiment("e")!;
    expect(row).toMatchObject({ state: "active", world: "sim" });
    expect(row.nodes.every((n) => n.ready && n.phase === "ready" && n.bytesWritten === n.imageBytes)).toBe(true);
    const progress = store.experimentEvents("e").filter((e) => e.kind === "FRISBEEPROGRESS");
    expect(progress.length).toBeGreaterThan(40);
    expect(Object.keys(progress[0]!.data)).toEqual(expect.arrayContaining(["TSTAMP", "SEQUENCE", "CHUNKS_RECV", "CHUNKS_DECOMP", "BYTES_WRITTEN", "MBYTES_WRITTEN", "node", "image"]));
    expect(store.experimentEvents("e").every((e) => e.runId === r.runId)).toBe(true);
  });

  it("replays: the same seed gives the same trace fingerprint", async () => {
    const a = await runSwap({ store: storeWith(12), name: "e", action: "swapin", world: "sim", seed: 3, heartbeatSec: 2 });
    const b = await runSwap({ store: storeWith(12), name: "e", action: "swapin", world: "sim", seed: 3, heartbeatSec: 2 });
    const c = await runSwap({ store: storeWith(12), name: "e", action: "swapin", world: "sim", seed: 4, heartbeatSec: 2 });
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(b.summary).toEqual(a.summary);
    expect(c.fingerprint).not.toBe(a.fingerprint);
  });

  it("replays whatever the pace: a swap watched live, in slices of wall time, gives the run of one at full speed", async () => {
    // The live swap's slices end where the wall clock says, so they differ from run to run; the
    // swap stops at its outcome, so where it ends, and its fingerprint, do not.
    const full = await runSwap({ store: storeWith(12), name: "e", action: "swapin", world: "sim", seed: 3, heartbeatSec: 2 });
    let ticks = 0;
    const live = await runSwap({ store: storeWith(12), name: "e", action: "swapin", world: "sim", seed: 3, heartbeatSec: 2, speed: 50, onTick: () => ticks++ });
    expect(ticks).toBeGreaterThan(2);
    expect(live.fingerprint).toBe(full.fingerprint);
    expect(live.events).toBe(full.events);
    expect(live.summary).toEqual(full.summary);
  });

  it("saves disk state at swap-out and lays each node's delta over its base at the next swap-in", async () => {
    const store = storeWith(8, { saveDiskState: true, sim: { loss: 0 } });
    await runSwap({ store, name: "e", action: "swapin", world: "sim", seed: 1 });
    const out = await runSwap({ store, name: "e", action: "swapout", world: "sim", seed: 1 });
    expect(out).toMatchObject({ ok: true, state: "swapped", reason: "swapped out: 8 nodes released, disks saved" });
    expect(store.partitions("e").every((p) => p.delta === `sim:e/${p.node}/1` && p.deltaBytes === Math.round(24 * 2 ** 20 * 0.05))).toBe(true);
    const again = await runSwap({ store, name: "e", action: "swapin", world: "sim", seed: 1 });
    expect(again.ok).toBe(true);
    // The writes counted: each partition gets its base once (Frisbee) and its delta over it, never the base twice.
    const writes = (r: typeof again) => (r.extra as { counters: { baseWrites: number; baseBytes: number; deltaWrites: number; deltaBytes: number } }).counters;
    const w = writes(again);
    expect(w.baseWrites).toBeGreaterThanOrEqual(8);
    expect(w.deltaWrites).toBe(w.baseWrites);
    expect(w.baseBytes).toBe(w.baseWrites * 24 * 2 ** 20);
    expect(w.deltaBytes).toBe(w.deltaWrites * Math.round(24 * 2 ** 20 * 0.05));
    // Fetching and writing the delta after the base makes every load longer than without one.
    const fresh = await runSwap({ store: storeWith(8, { sim: { loss: 0 } }), name: "e", action: "swapin", world: "sim", seed: 1 });
    expect(again.summary.phases.load.meanSec).toBeGreaterThan(fresh.summary.phases.load.meanSec);
    expect(writes(fresh)).toMatchObject({ deltaWrites: 0, deltaBytes: 0 });
    expect(writes(fresh).baseWrites).toBeGreaterThanOrEqual(8);
  });

  it("refuses a swap-out of an experiment that is not in, and a second swap-in while one runs, leaving the store as it was", async () => {
    const store = storeWith(4);
    await expect(runSwap({ store, name: "e", action: "swapout", world: "sim" })).rejects.toThrow(new ExperimentError("experiment e: cannot swap out: it has never been swapped in"));
    expect(store.experiment("e")?.state).toBe("new");
    const first = runSwap({ store, name: "e", action: "swapin", world: "sim", seed: 1, speed: 50 });
    await expect(runSwap({ store, name: "e", action: "swapin", world: "sim", seed: 2 })).rejects.toThrow("experiment e: cannot swap in: it is swapping in already; wait until it is active or has failed");
    expect((await first).ok).toBe(true);
    await expect(runSwap({ store, name: "e", action: "swapout", world: "real" })).rejects.toThrow("experiment e was swapped in in the simulator; swap it out with --sim");
    await expect(runSwap({ store, name: "nope", action: "swapin", world: "sim" })).rejects.toThrow("no experiment named nope");
  });

  it("ends an interrupted swap-in as failed, with the reason, and every node released", async () => {
    const store = storeWith(20);
    let ticks = 0;
    const r = await runSwap({ store, name: "e", action: "swapin", world: "sim", seed: 1, speed: 20, onTick: () => ticks++, cancelled: () => (ticks >= 1 ? "interrupted by SIGINT" : null) });
    expect(r).toMatchObject({ ok: false, state: "failed", reason: "interrupted by SIGINT" });
    expect(store.experiment("e")!.nodes.every((n) => n.phase === "released" && !n.ready)).toBe(true);
    const again = await runSwap({ store, name: "e", action: "swapin", world: "sim", seed: 1 });
    expect(again.state).toBe("active");
  });
});
