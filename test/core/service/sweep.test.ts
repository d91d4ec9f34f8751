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
