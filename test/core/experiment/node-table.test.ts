import { describe, expect, it } from "vitest";
import { NodeTable, phaseFigures } from "../../../core/experiment/node-table.js";

describe("NodeTable: per-node swap state and the milestones it keeps", () => {
  it("starts empty: no node loaded or ready, no entry, every time 'not yet'", () => {
    const t = new NodeTable(3);
    expect([...t.entry]).toEqual([-1, -1, -1]);
    expect([...t.pnode]).toEqual([0, 1, 2]);
    for (const a of [t.lastReportUs, t.secondsLeft, t.loadStartUs, t.loadedUs, t.bootedUs, t.readyUs]) expect([...a].every(Number.isNaN)).toBe(true);
    expect(t.loadedReachedUs.length).toBe(4);
    expect([...t.loadedReachedUs].every(Number.isNaN)).toBe(true);
  });

  it("a node loaded twice counts once: the count's milestone keeps its first time, the node its last", () => {
    const t = new NodeTable(3);
    t.markLoaded(1, 10);
    t.markLoaded(1, 20);
    t.markLoaded(2, 30);
    expect([...t.loadedReachedUs].slice(1, 3)).toEqual([10, 30]);
    expect(Number.isNaN(t.loadedReachedUs[3] as number)).toBe(true);
    expect(t.loadedUs[1]).toBe(20);
    t.markReady(0, 40);
    t.markReady(0, 50);
    t.markReady(2, 60);
    expect([...t.readyReachedUs].slice(1, 3)).toEqual([40, 60]);
    expect(Number.isNaN(t.readyReachedUs[3] as number)).toBe(true);
    expect(t.readyUs[0]).toBe(50);
  });

  it("a node handed to a spare drops out of the counts, and a milestone once passed keeps its time", () => {
    const t = new NodeTable(3);
    t.markLoaded(0, 10);
    t.markReady(0, 15);
    t.markLoaded(1, 20);
    t.markReady(1, 25);
    t.lastReportUs[1] = 18;
    t.bytesWritten[1] = 1234;
    t.secondsLeft[1] = 2;
    t.loadStartUs[1] = 5;
    t.bootedUs[1] = 22;
    t.resetProgress(1);
    expect(t.bytesWritten[1]).toBe(0);
    for (const a of [t.lastReportUs, t.secondsLeft, t.loadStartUs, t.loadedUs, t.bootedUs, t.readyUs]) expect(Number.isNaN(a[1] as number)).toBe(true);
    // The count went back to 1: the spare's load is the second again (milestone 2 keeps 20), and a
    // third node makes the count 3 for the first time.
    t.markLoaded(1, 40);
    t.markReady(1, 45);
    expect([...t.loadedReachedUs].slice(1)).toEqual([10, 20, NaN]);
    expect([...t.readyReachedUs].slice(1)).toEqual([15, 25, NaN]);
    t.markLoaded(2, 50);
    t.markReady(2, 55);
    expect([...t.loadedReachedUs].slice(1)).toEqual([10, 20, 50]);
    expect([...t.readyReachedUs].slice(1)).toEqual([15, 25, 55]);
  });

  it("resetting a node that was never loaded or ready leaves the counts alone", () => {
    const t = new NodeTable(2);
    t.markLoaded(0, 10);
    t.markReady(0, 11);
    t.resetProgress(1);
    t.markLoaded(1, 20);
    t.markReady(1, 21);
    expect([...t.loadedReachedUs]).toEqual([NaN, 10, 20]);
    expect([...t.readyReachedUs]).toEqual([NaN, 11, 21]);
  });
});

describe("phaseFigures: mean and largest duration over the nodes that went through a phase", () => {
  it("skips nodes with either end missing, reports seconds to the millisecond", () => {
    const from = Float64Array.from([0, 1_000_000, NaN, 2_000_000]);
    const to = Float64Array.from([3_000_000, 2_500_000, 5_000_000, NaN]);
    expect(phaseFigures(from, to)).toEqual({ nodes: 2, meanSec: 2.25, maxSec: 3 });
  });
  it("the largest is the largest whatever its place, and the last node counts", () => {
    expect(phaseFigures(Float64Array.from([0, 0, 0]), Float64Array.from([1e6, 4e6, 2e6]))).toEqual({ nodes: 3, meanSec: 2.333, maxSec: 4 });
    expect(phaseFigures(Float64Array.from([0, 0]), Float64Array.from([1e6, 7e6]))).toEqual({ nodes: 2, meanSec: 4, maxSec: 7 });
  });
  it("no node through the phase: zeros, not NaN", () => {
    expect(phaseFigures(Float64Array.from([NaN]), Float64Array.from([1]))).toEqual({ nodes: 0, meanSec: 0, maxSec: 0 });
    expect(phaseFigures(new Float64Array(0), new Float64Array(0))).toEqual({ nodes: 0, meanSec: 0, maxSec: 0 });
  });
});
