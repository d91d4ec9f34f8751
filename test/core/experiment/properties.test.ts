import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRng } from "../../../core/engine/rng.js";
import type { SwapCommand, SwapKind } from "../../../core/experiment/index.js";
import { Driver, SEC, plan } from "./support.js";

const RUNS = Number(process.env.EXPERIMENT_PROPERTY_RUNS ?? 60);

/**
 * A world that answers each command after a random delay with a random result, or never (a hung
 * node), and drives the timers. Whatever it does, the machine must reach an outcome, and never ask
 * for work that its own state forbids.
 */
function chaos(kind: SwapKind, seed: number, nodes: number, spares: number, failP: number, hangP: number): { d: Driver; steps: number; problems: string[] } {
  const p = plan({ nodes, spares, images: 2, saveDiskState: true, heartbeatUs: 2 * SEC, nonFatal: [nodes - 1], limits: { imageLingerUs: 5 * SEC, setupRetryUs: SEC } });
  const d = new Driver(kind, p, seed);
  const rng = createRng(seed).fork("world");
  const pending: { at: number; cmd: SwapCommand; ok: boolean }[] = [];
  const problems: string[] = [];
  const serving = new Set<number>();
  const released = new Set<number>();
  const look = (cmds: SwapCommand[]): void => {
    for (const c of cmds) {
      if (c.type === "serve-image") serving.add(c.image);
      if (c.type === "stop-image") serving.delete(c.image);
      if (c.type === "load" && !c.partitions.every((part) => serving.has(part.image))) problems.push(`load of node ${c.node} before its image is served`);
      if ((c.type === "load" || c.type === "boot" || c.type === "setup") && released.has(c.pnode)) problems.push(`${c.type} on released physical node ${c.pnode}`);
      if (c.type === "release") released.add(c.pnode);
      if ("attempt" in c && c.attempt > 100) problems.push(`attempt ${c.attempt}`);
      if (rng.chance(hangP) && c.type !== "release" && c.type !== "serve-image") continue;
      pending.push({ at: d.now + rng.int(30 * SEC), cmd: c, ok: !rng.chance(failP) });
    }
  };
  d.machine.start(0);
  let steps = 0;
  for (; steps < 200_000 && !d.machine.finished; steps++) {
    look(d.take());
    pending.sort((a, b) => a.at - b.at);
    const wake = d.machine.nextWakeUs();
    const next = pending[0];
    if (next === undefined && wake === Infinity) break;
    if (next !== undefined && next.at <= wake) {
      pending.shift();
      d.now = Math.max(d.now, next.at);
      d.answer(next.cmd, next.ok, "chaos");
      if (next.cmd.type === "load" && rng.chance(0.5)) d.machine.progress(d.now, next.cmd.node, 1, 3);
    } else {
      d.now = Math.max(d.now, wake);
      d.machine.timer(d.now);
    }
  }
  const b = d.machine.barrier;
  if (b.ready > b.total) problems.push(`barrier ${b.ready}/${b.total}`);
  return { d, steps, problems };
}

describe("the swap machine under a world that fails, hangs and answers late", () => {
  for (const kind of ["swapin", "swapout"] as const) {
    it(`always ends a ${kind} with an outcome and never asks for forbidden work`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 1e9 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 3 }), fc.double({ min: 0, max: 0.6, noNaN: true }), fc.double({ min: 0, max: 0.3, noNaN: true }), (seed, nodes, spares, failP, hangP) => {
          const { d, problems } = chaos(kind, seed, nodes, spares, failP, hangP);
          expect(problems).toEqual([]);
          expect(d.machine.outcome).not.toBeNull();
          expect(d.machine.finished).toBe(true);
          if (d.machine.outcome?.ok === true && kind === "swapin") expect(d.machine.barrier.ready).toBe(d.machine.barrier.total);
        }),
        { numRuns: RUNS },
      );
    });
  }

  it("replays exactly: the same seed and the same answers give the same events", () => {
    const a = chaos("swapin", 42, 8, 2, 0.3, 0.1).d.events;
    const b = chaos("swapin", 42, 8, 2, 0.3, 0.1).d.events;
    expect(b).toEqual(a);
    expect(a.length).toBeGreaterThan(20);
  });
});
