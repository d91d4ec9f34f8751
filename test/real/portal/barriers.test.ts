import { describe, expect, it } from "vitest";
import { portalBarriers, PORTAL_BARRIERS_MAX } from "../../../real/portal/barriers.js";
import type { ExperimentEvent } from "../../../real/store/index.js";

let id = 0;
const ev = (kind: string, data: Record<string, unknown>): ExperimentEvent => ({ id: ++id, runId: null, timeUs: id, host: "syncd", kind, data, experiment: "e1" });
const hosts = new Map([["127.9.0.1", "node0"], ["127.9.0.2", "node1"], ["127.9.0.3", "node2"]]);

describe("the portal's barriers", () => {
  it("lists the boot barrier from the swap's figures, with the nodes not ready yet", () => {
    expect(portalBarriers({ barrier: { name: "boot", ready: 1, total: 3, waitingFor: ["node1", "node2"] } }, [], hosts)).toEqual([
      { name: "boot", kind: "boot", generation: null, state: "waiting", arrived: 1, total: 3, expected: 2, waiting: ["node1", "node2"], code: null },
    ]);
    expect(portalBarriers({ barrier: { ready: 3, total: 3, waitingFor: [] } }, [], hosts)[0]).toMatchObject({ state: "released", expected: 0 });
    expect(portalBarriers({}, [], hosts)).toEqual([]);
  });

  it("follows each sync-server barrier to its latest generation: who arrived and waits (by node name), how many are still to come, the release code", () => {
    const events = [
      ev("sync.init", { name: "setup", generation: 1, count: 2, counter: 2, peer: 1, waits: true, from: "127.9.0.1" }),
      ev("sync.wait", { name: "setup", generation: 1, counter: 1, peer: 2, from: "127.9.0.2" }),
      ev("sync.wait", { name: "setup", generation: 1, counter: 0, peer: 3, from: "127.9.0.3" }),
      ev("sync.release", { name: "setup", generation: 1, code: 0, members: 3 }),
      ev("sync.init", { name: "setup", generation: 2, count: 2, counter: 2, peer: 4, waits: true, from: "127.9.0.3" }),
      ev("sync.wait", { name: "setup", generation: 2, counter: 1, peer: 5, from: "10.1.1.1" }),
      ev("sync.wait", { name: "done", generation: 1, counter: -1, peer: 6, from: "127.9.0.1" }),
      ev("sync.init", { name: "quiet", generation: 1, count: 1, counter: 1, peer: 7, waits: false }),
      ev("sync.release", { name: "failed", generation: 1, code: 3, members: 2 }),
      ev("sync.crash", { name: "x", peer: 8, policy: "tolerant" }),
    ];
    const b = portalBarriers({ barrier: { ready: 3, total: 3, waitingFor: [] } }, events, hosts);
    expect(b.map((x) => x.name)).toEqual(["boot", "setup", "done", "quiet", "failed"]);
    expect(b[1]).toEqual({ name: "setup", kind: "sync", generation: 2, state: "waiting", arrived: 2, total: 3, expected: 1, waiting: ["node2", "10.1.1.1"], code: null });
    // A waiter before its initializer: the server's counter is below zero; none is "still to come".
    expect(b[2]).toMatchObject({ state: "waiting", total: null, expected: 0, waiting: ["node0"] });
    // An initializer that does not wait is not a waiter.
    expect(b[3]).toMatchObject({ arrived: 0, total: 1, expected: 1, waiting: [] });
    expect(b[4]).toMatchObject({ state: "released", code: 3, waiting: [], expected: 0 });
    // Events of an older generation after a newer one change nothing.
    const late = portalBarriers({}, [...events, ev("sync.wait", { name: "setup", generation: 1, counter: 0, peer: 9, from: "127.9.0.1" })], hosts);
    expect(late[0]).toEqual(b[1]);
  });

  it("lists at most PORTAL_BARRIERS_MAX barriers, whatever the sync server holds", () => {
    const many = Array.from({ length: PORTAL_BARRIERS_MAX + 50 }, (_, i) => ev("sync.wait", { name: `b${i}`, generation: 1, counter: 0, peer: i }));
    expect(portalBarriers({}, many, hosts)).toHaveLength(PORTAL_BARRIERS_MAX);
  });
});
