import { describe, expect, it } from "vitest";
import { createRng } from "../../../core/engine/rng.js";
import { backoff } from "../../../core/monitor/backoff.js";
import { PROC_GAVE_UP, PROC_RUNNING, PROC_WAITING, Watchdog, defaultWatchdogConfig, type WatchdogPort, type WatchdogReport } from "../../../core/service/index.js";

const SEC = 1_000_000;

class Log implements WatchdogPort {
  starts: [number, number][] = [];
  stops: [number, number][] = [];
  reports: [number, WatchdogReport][] = [];
  gaveUps: [number, number, number][] = [];
  startProcess(now: number, proc: number): void {
    this.starts.push([now, proc]);
  }
  stopProcess(now: number, proc: number): void {
    this.stops.push([now, proc]);
  }
  report(now: number, r: WatchdogReport): void {
    this.reports.push([now, r]);
  }
  gaveUp(now: number, proc: number, failures: number): void {
    this.gaveUps.push([now, proc, failures]);
  }
}

function make(overrides = {}) {
  const log = new Log();
  const config = defaultWatchdogConfig(2, { restartBackoff: backoff("exponential", { stepUs: SEC, factor: 2, capUs: 8 * SEC }), failuresMax: 4, ...overrides });
  return { log, w: new Watchdog(config, log, createRng(1)) };
}

describe("watchdog", () => {
  it("starts every process and reports in at once, then every reportEvery", () => {
    const { log, w } = make();
    w.startAll(0);
    expect(log.starts).toEqual([[0, 0], [0, 1]]);
    expect(log.reports).toHaveLength(1);
    w.poll(59 * SEC);
    expect(log.reports).toHaveLength(1);
    w.poll(60 * SEC);
    expect(log.reports[1]?.[1]).toEqual({ running: 2, waiting: 0, gaveUp: 0, restarts: 0 });
  });

  it("restarts an exited process after a backoff that doubles with each failure in a row", () => {
    const { log, w } = make();
    w.startAll(0);
    let t = 0;
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      t += 1_000;
      w.exited(t, 0);
      expect(w.stateOf(0)).toBe(PROC_WAITING);
      const due = w.nextWakeUs();
      delays.push(due - t);
      w.poll(due);
      t = due;
      expect(w.stateOf(0)).toBe(PROC_RUNNING);
    }
    expect(delays).toEqual([SEC, 2 * SEC, 4 * SEC]);
    expect(log.starts.filter(([, p]) => p === 0)).toHaveLength(4);
    expect(w.restarts).toBe(3);
  });

  it("counts from one again after a stable run", () => {
    const { w } = make({ stableUs: 100 * SEC });
    w.startAll(0);
    w.exited(10, 0);
    w.poll(w.nextWakeUs());
    expect(w.failuresOf(0)).toBe(1);
    w.exited(500 * SEC, 0);
    expect(w.failuresOf(0)).toBe(1);
  });

  it("gives up after failuresMax in a row, says so, and reports it instead of stopping silently", () => {
    const { log, w } = make();
    w.startAll(0);
    let t = 0;
    for (let i = 0; i < 4; i++) {
      t += 10;
      w.exited(t, 1);
      if (w.stateOf(1) === PROC_WAITING) {
        t = w.nextWakeUs();
        w.poll(t);
      }
    }
    expect(w.stateOf(1)).toBe(PROC_GAVE_UP);
    expect(log.gaveUps).toEqual([[t, 1, 4]]);
    w.poll(t + 60 * SEC);
    expect(log.reports.at(-1)?.[1].gaveUp).toBe(1);
    // startAll (the sweep's restart) clears the give-up.
    w.startAll(t + 61 * SEC);
    expect(w.stateOf(1)).toBe(PROC_RUNNING);
  });

  it("kills and restarts a process that fails its check checkFailuresMax times in a row, not before", () => {
    const { log, w } = make({ checkFailuresMax: 3 });
    w.startAll(0);
    w.checked(1, 0, false);
    w.checked(2, 0, false);
    w.checked(3, 0, true);
    w.checked(4, 0, false);
    w.checked(5, 0, false);
    expect(w.stateOf(0)).toBe(PROC_RUNNING);
    w.checked(6, 0, false);
    expect(log.stops).toEqual([[6, 0]]);
    expect(w.stateOf(0)).toBe(PROC_WAITING);
  });

  it("ignores an exit of a process it stopped on purpose", () => {
    const { log, w } = make();
    w.startAll(0);
    w.stopAll(5);
    w.exited(6, 0);
    w.poll(100 * SEC);
    expect(log.starts).toHaveLength(2);
  });
});
