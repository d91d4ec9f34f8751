import { describe, expect, it } from "vitest";
import { createRng } from "../../../core/engine/rng.js";
import { deployedConfig } from "../../../core/monitor/index.js";
import { runMonitorSim, type MonitorSimOptions } from "../../../sim/monitor/driver.js";
import { KIND_DEAD, KIND_FLAPPING, NodeModels, checkMix, defaultMix } from "../../../sim/monitor/models.js";
import { Samples } from "../../../sim/monitor/samples.js";

const SEC = 1_000_000;
const HOUR = 3_600 * SEC;
const DAY = 24 * HOUR;

function options(nodes: number, days: number, window = 40, seed = 1): MonitorSimOptions {
  return { nodes, durationUs: days * DAY, seed, config: deployedConfig({ window, entriesMax: nodes }), mix: defaultMix(nodes, days) };
}

describe("simulated monitor", () => {
  it("replays the same run from the same seed, and a different one from another", () => {
    const a = runMonitorSim(options(500, 1));
    const b = runMonitorSim(options(500, 1));
    const c = runMonitorSim(options(500, 1, 40, 2));
    const strip = (r: typeof a) => ({ ...r, wallSeconds: 0 });
    expect(strip(b)).toEqual(strip(a));
    expect(c.traceHash).not.toBe(a.traceHash);
  });

  it("keeps its invariants and measures detection, return, flappers and window use", () => {
    const r = runMonitorSim(options(2_000, 3, 20));
    expect(r.maxInFlight).toBe(20);
    expect(r.windowExceeded).toBe(0);
    expect(r.gapsOverCap).toBe(0);
    expect(r.unprovenReturns).toBe(0);
    expect(r.testsRun).toBeGreaterThan(1_000);
    expect(r.detectSec.count).toBeGreaterThan(0);
    expect(r.returnSec.count).toBeGreaterThan(0);
    expect(r.testsOnFlappers).toBeGreaterThan(0);
    expect(r.timeouts).toBeGreaterThan(0);
    expect(r.maxScheduledGapSec).toBeLessThanOrEqual(12 * 3_600 + 120);
  });

  it("runs more tests and waits less with a wider window", () => {
    const narrow = runMonitorSim(options(3_000, 1, 10));
    const wide = runMonitorSim(options(3_000, 1, 80));
    expect(wide.testsRun).toBeGreaterThan(narrow.testsRun);
    expect(wide.queueWaitSec.mean).toBeLessThan(narrow.queueWaitSec.mean);
    expect(wide.detectSec.mean).toBeLessThan(narrow.detectSec.mean);
  });

  it("starts no test while the load gate is closed", () => {
    const base = options(300, 1);
    const open = runMonitorSim(base);
    const gated = runMonitorSim({ ...base, overloads: [{ startUs: HOUR, endUs: DAY }] });
    expect(gated.testsStarted).toBeLessThan(open.testsStarted / 5);
  });

  it("spends the tests on flappers that a flapper needs, and no more than it must", () => {
    const r = runMonitorSim(options(1_000, 7));
    const flappers = r.nodeKinds["flapping"] as number;
    // A flapper is held in the bad pool with short retests: more tests than a stable node's, but bounded.
    expect(r.testsOnFlappers / flappers).toBeGreaterThan(r.testsRun / r.nodes);
    expect(r.testsOnFlappersPct).toBeLessThan(10);
  });
});

describe("node behaviour models", () => {
  const mix = defaultMix(30, 1);

  it("takes a dead node down at its time and up at its repair", () => {
    const m = new NodeModels(30, DAY, { ...mix, deadPct: 100, flakyPct: 0, flapPct: 0, slowPct: 0, siteOutages: 0 }, createRng(1));
    expect(m.kind.every((k) => k === KIND_DEAD)).toBe(true);
    for (let n = 0; n < 30; n++) {
      let down = -1;
      for (let t = 0; t < 3 * DAY && down < 0; t += 60 * SEC) if (m.downSinceUs(n, t) >= 0) down = m.downSinceUs(n, t);
      expect(down).toBeGreaterThanOrEqual(0);
      let up = -1;
      for (let t = down; t < 3 * DAY && up < 0; t += 60 * SEC) up = m.upSinceUs(n, t);
      expect(up - down).toBeGreaterThanOrEqual(HOUR);
      expect(up - down).toBeLessThanOrEqual(24 * HOUR);
    }
  });

  it("flaps a periodic node half the time", () => {
    const m = new NodeModels(5, DAY, { ...mix, deadPct: 0, flakyPct: 0, flapPct: 100, slowPct: 0, siteOutages: 0 }, createRng(2));
    expect(m.kind.every((k) => k === KIND_FLAPPING)).toBe(true);
    let down = 0;
    const samples = 10_000;
    for (let i = 0; i < samples; i++) if (m.downSinceUs(0, Math.floor((i * 7 * DAY) / samples)) >= 0) down++;
    expect(down / samples).toBeGreaterThan(0.4);
    expect(down / samples).toBeLessThan(0.6);
  });

  it("takes every node of a site down together in a site outage, for 1 to 12 hours, and brings them back", () => {
    const m = new NodeModels(9, DAY, { ...mix, deadPct: 0, flakyPct: 0, flapPct: 0, slowPct: 0, siteOutages: 20 }, createRng(3));
    let downSamples = 0;
    const step = 10 * 60 * SEC;
    for (let t = 0; t < DAY; t += step) {
      for (let site = 0; site < 3; site++) {
        const states = [0, 1, 2].map((i) => m.downSinceUs(site * 3 + i, t));
        expect(new Set(states).size).toBe(1);
        if (states[0]! >= 0) downSamples++;
      }
    }
    // 20 outages of 1-12 h over 3 sites and a day: most of the sampled site-hours are down, not none.
    expect(downSamples).toBeGreaterThan(0.3 * 3 * (DAY / step));
    // Each down period of node 0 lasts 1 to 12 hours (outages may overlap), and the node comes back up after it.
    const single = new NodeModels(3, DAY, { ...mix, deadPct: 0, flakyPct: 0, flapPct: 0, slowPct: 0, siteOutages: 1 }, createRng(4));
    let start = -1;
    let end = -1;
    for (let t = 0; t < 2 * DAY; t += 60 * SEC) {
      const since = single.downSinceUs(0, t);
      if (since >= 0 && start < 0) start = since;
      if (since < 0 && start >= 0 && end < 0) end = single.upSinceUs(0, t);
    }
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end - start).toBeGreaterThanOrEqual(HOUR);
    expect(end - start).toBeLessThanOrEqual(12 * HOUR);
  });

  it("counts a site outage as a failure the monitor must detect", () => {
    const quiet = { ...options(300, 2), mix: { ...defaultMix(300, 2), deadPct: 0, flakyPct: 0, flapPct: 0, slowPct: 0, siteOutages: 0 } };
    const calm = runMonitorSim(quiet);
    expect(calm.detectSec.count).toBe(0);
    const outages = runMonitorSim({ ...quiet, mix: { ...quiet.mix, siteOutages: 5 } });
    expect(outages.detectSec.count).toBeGreaterThan(0);
  });

  it("refuses kind percentages that add up to more than 100", () => {
    expect(checkMix({ ...mix, flakyPct: 99 })).toMatch(/add up/);
    expect(checkMix(mix)).toBeNull();
  });
});

describe("Samples", () => {
  it("reports count, mean and max exactly, and percentiles within 1%", () => {
    const s = new Samples();
    for (let i = 1; i <= 1_000; i++) s.add(i);
    const r = s.summary(3);
    expect(r.count).toBe(1_000);
    expect(r.mean).toBeCloseTo(500.5);
    expect(r.max).toBe(1_000);
    expect(Math.abs(r.p50 - 500) / 500).toBeLessThan(0.011);
    expect(Math.abs(r.p95 - 950) / 950).toBeLessThan(0.011);
  });
});
