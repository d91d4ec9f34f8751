import { describe, expect, it } from "vitest";
import { RESTART_GAVE_UP, RESTART_SILENT, Sweep, defaultSweepConfig, type SweepPort } from "../../../core/service/index.js";

const SEC = 1_000_000;
const MIN = 60 * SEC;

function make(nodes: number, reconcileMax = 1) {
  const restarts: [number, number, number][] = [];
  const reconciles: [number, number, number, number][] = [];
  const port: SweepPort = {
    restartNode: (now, node, reason) => restarts.push([now, node, reason]),
    reconcile: (now, node, from, to) => reconciles.push([now, node, from, to]),
  };
  const s = new Sweep(defaultSweepConfig(nodes, { reconcileMax }), port);
  for (let n = 0; n < nodes; n++) s.add(0, n, 1);
  s.start(0);
  return { s, restarts, reconciles };
}

describe("central sweep", () => {
  it("sweeps every five minutes and restarts only nodes whose watchdog went silent", () => {
    const { s, restarts } = make(3);
    expect(s.nextWakeUs()).toBe(5 * MIN);
    for (let t = MIN; t <= 10 * MIN; t += MIN) {
      s.reported(t, 0, false, 1);
      if (t <= 2 * MIN) s.reported(t, 1, false, 1);
      s.reported(t, 2, false, 1);
      if (t >= s.nextWakeUs()) s.poll(t);
    }
    // Node 1 last reported at 2 min; at the 10-minute sweep it had been silent 8 min.
    expect(restarts).toEqual([[10 * MIN, 1, RESTART_SILENT]]);
  });

  it("restarts a node whose watchdog reports a process it gave up on", () => {
    const { s, restarts } = make(2);
    s.reported(4 * MIN, 0, true, 1);
    s.reported(4 * MIN, 1, false, 1);
    s.poll(5 * MIN);
    expect(restarts).toEqual([[5 * MIN, 0, RESTART_GAVE_UP]]);
  });

  it("reconciles a node on another version, a few per sweep, never during a rollout", () => {
    const { s, reconciles } = make(3, 2);
    for (let n = 0; n < 3; n++) s.reported(4 * MIN, n, false, 0);
    s.rolloutActive = true;
    s.poll(5 * MIN);
    expect(reconciles).toEqual([]);
    s.rolloutActive = false;
    for (let n = 0; n < 3; n++) s.reported(9 * MIN, n, false, 0);
    s.poll(10 * MIN);
    expect(reconciles).toEqual([[10 * MIN, 0, 0, 1], [10 * MIN, 1, 0, 1]]);
  });
});

describe("central sweep: edges", () => {
  it("sweeps at the interval exactly, not before, and restarts a node silent for more than silentAfter, not exactly that", () => {
    const { s, restarts } = make(2);
    s.poll(5 * MIN - 1);
    expect(s.sweeps).toBe(0);
    s.reported(0, 0, false, 1);
    s.poll(5 * MIN);
    // Both nodes were added at 0: silent exactly 5 min is not yet too long.
    expect(s.sweeps).toBe(1);
    expect(restarts).toEqual([]);
    expect(s.nextWakeUs()).toBe(10 * MIN);
    s.reported(5 * MIN, 1, false, 1);
    s.poll(10 * MIN);
    expect(restarts).toEqual([[10 * MIN, 0, RESTART_SILENT]]);
    expect(s.restarts).toBe(1);
  });

  it("gives a restarted node a full silence period before restarting it again", () => {
    const { s, restarts } = make(1);
    s.poll(5 * MIN + 1);
    expect(restarts).toEqual([[5 * MIN + 1, 0, RESTART_SILENT]]);
    expect(s.lastReportOf(0)).toBe(5 * MIN + 1);
    s.poll(10 * MIN + 1);
    expect(restarts).toHaveLength(1);
    s.poll(15 * MIN + 2);
    expect(restarts).toHaveLength(2);
  });

  it("restarts a gave-up node once: the restart clears the give-up until the node reports it again", () => {
    const { s, restarts } = make(1);
    s.reported(MIN, 0, true, 1);
    s.poll(5 * MIN);
    s.poll(10 * MIN);
    expect(restarts).toEqual([[5 * MIN, 0, RESTART_GAVE_UP]]);
    s.reported(11 * MIN, 0, true, 1);
    s.poll(15 * MIN);
    expect(restarts).toHaveLength(2);
    s.reported(16 * MIN, 0, false, 1);
    s.poll(20 * MIN);
    expect(restarts).toHaveLength(2);
  });

  it("takes silence before a give-up, and a restart before a reconcile", () => {
    const { s, restarts, reconciles } = make(2, 5);
    s.reported(MIN, 0, true, 0);
    s.reported(6 * MIN, 1, true, 0);
    s.poll(10 * MIN);
    expect(restarts).toEqual([[10 * MIN, 0, RESTART_SILENT], [10 * MIN, 1, RESTART_GAVE_UP]]);
    expect(reconciles).toEqual([]);
  });

  it("ignores a report older than the last one, and reports of nodes it was never given", () => {
    const { s, restarts } = make(2);
    s.reported(4 * MIN, 0, false, 1);
    s.reported(2 * MIN, 0, true, 0);
    expect(s.lastReportOf(0)).toBe(4 * MIN);
    s.reported(4 * MIN, 0, false, 1);
    s.poll(5 * MIN);
    expect(restarts).toEqual([]);
    const lone = new Sweep(defaultSweepConfig(3), { restartNode: (now, node, reason) => restarts.push([now, node, reason]), reconcile: () => {} });
    lone.add(0, 0, 1);
    lone.start(0);
    lone.reported(MIN, 2, true, 1);
    lone.poll(5 * MIN);
    lone.poll(20 * MIN);
    // Node 2 was never added: neither its report nor its silence counts.
    expect(restarts.filter(([, n]) => n === 2)).toEqual([]);
    expect(lone.lastReportOf(2)).toBe(0);
    expect(restarts.filter(([, n]) => n === 0)).toHaveLength(1);
  });

  it("does not reconcile a node that has not said its version, nor ask one twice", () => {
    const { s, reconciles } = make(3, 3);
    s.reported(MIN, 0, false, 1);
    s.reported(MIN, 1, false, 2);
    s.poll(5 * MIN);
    // Node 2 never reported a version; node 0 runs the wanted one.
    expect(reconciles).toEqual([[5 * MIN, 1, 2, 1]]);
    expect(s.reconciles).toBe(1);
    s.reported(6 * MIN, 0, false, 1);
    s.reported(6 * MIN, 2, false, 1);
    s.poll(10 * MIN);
    expect(reconciles).toHaveLength(1);
    // Node 1 reports the old version again: the change did not take, so it is asked again.
    s.reported(11 * MIN, 1, false, 2);
    s.poll(15 * MIN);
    expect(reconciles).toEqual([[5 * MIN, 1, 2, 1], [15 * MIN, 1, 2, 1]]);
  });

  it("reconciles towards the version wanted now, and none when reconcileMax is 0", () => {
    const { s, reconciles } = make(2, 1);
    s.setWanted(1, 7);
    expect(s.wantedOf(1)).toBe(7);
    expect(s.wantedOf(0)).toBe(1);
    s.reported(MIN, 0, false, 1);
    s.reported(MIN, 1, false, 1);
    s.poll(5 * MIN);
    expect(reconciles).toEqual([[5 * MIN, 1, 1, 7]]);
    const none = make(2, 0);
    none.s.reported(MIN, 0, false, 3);
    none.s.poll(5 * MIN);
    expect(none.reconciles).toEqual([]);
  });

  it("counts a node added twice once, keeps its wanted version up to date, and gives it a fresh silence period", () => {
    const { s, restarts } = make(1);
    s.add(4 * MIN, 0, 2);
    expect(s.wantedOf(0)).toBe(2);
    s.poll(5 * MIN);
    s.poll(9 * MIN);
    expect(restarts).toEqual([]);
    expect(s.sweeps).toBe(1);
  });

  it("takes a second report of the same instant (the later one to arrive) as the node's word", () => {
    const { s, restarts } = make(1);
    s.reported(4 * MIN, 0, false, 1);
    s.reported(4 * MIN, 0, true, 1);
    s.poll(5 * MIN);
    expect(restarts).toEqual([[5 * MIN, 0, RESTART_GAVE_UP]]);
  });

  it("never reconciles a node that has not reported, whatever version it is wanted on", () => {
    const reconciles: number[] = [];
    const s = new Sweep(defaultSweepConfig(2, { reconcileMax: 2 }), { restartNode: () => {}, reconcile: (_now, node) => reconciles.push(node) });
    s.add(0, 0, 2);
    s.add(0, 1, 2);
    s.start(0);
    s.reported(MIN, 0, false, 2);
    s.reported(MIN, 1, false, 2);
    s.poll(5 * MIN);
    expect(reconciles).toEqual([]);
    // Node 1 was never heard from again, and restarted; it is not reconciled before it says its version.
    const quiet = new Sweep(defaultSweepConfig(2, { reconcileMax: 2 }), { restartNode: () => {}, reconcile: (_now, node) => reconciles.push(node) });
    quiet.add(0, 0, 2);
    quiet.add(4 * MIN, 1, 2);
    quiet.start(0);
    quiet.reported(MIN, 0, false, 2);
    quiet.poll(5 * MIN);
    expect(reconciles).toEqual([]);
  });
});
