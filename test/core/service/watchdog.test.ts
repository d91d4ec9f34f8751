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

describe("watchdog: what a user relies on, edge by edge", () => {
  it("restarts at the due time exactly, not a microsecond before, and says when it next wakes", () => {
    const { log, w } = make();
    w.startAll(0);
    expect(w.nextRestartUs()).toBe(Infinity);
    expect(w.nextWakeUs()).toBe(60 * SEC);
    w.exited(100, 0);
    expect(w.nextRestartUs()).toBe(100 + SEC);
    expect(w.nextWakeUs()).toBe(100 + SEC);
    w.poll(100 + SEC - 1);
    expect(w.stateOf(0)).toBe(PROC_WAITING);
    expect(w.restarts).toBe(0);
    w.poll(100 + SEC);
    expect(w.stateOf(0)).toBe(PROC_RUNNING);
    expect(log.starts.at(-1)).toEqual([100 + SEC, 0]);
    expect(w.nextRestartUs()).toBe(Infinity);
  });

  it("wakes for the earliest of several restarts, and for the report when it comes first", () => {
    const { w } = make({ reportEveryUs: 3 * SEC });
    w.startAll(0);
    w.exited(0, 0);
    w.exited(0, 0);
    w.exited(500_000, 1);
    expect(w.nextRestartUs()).toBe(SEC);
    expect(w.nextWakeUs()).toBe(SEC);
    w.poll(SEC);
    expect(w.stateOf(0)).toBe(PROC_RUNNING);
    expect(w.stateOf(1)).toBe(PROC_WAITING);
    expect(w.nextRestartUs()).toBe(500_000 + SEC);
    w.poll(500_000 + SEC);
    // Nothing waits now, so the report at 3 s is next.
    expect(w.nextRestartUs()).toBe(Infinity);
    expect(w.nextWakeUs()).toBe(3 * SEC);
    w.exited(2 * SEC, 0);
    w.exited(2 * SEC + 1, 1);
    // Both at their second failure: 2 s away, after the report.
    expect(w.nextRestartUs()).toBe(4 * SEC);
    expect(w.nextWakeUs()).toBe(3 * SEC);
  });

  it("counts running, waiting and given-up processes in its report, and all-running only when every one runs", () => {
    const { log, w } = make({ processes: 3, failuresMax: 1 });
    w.startAll(0);
    expect(w.allRunning).toBe(true);
    expect(w.summary()).toEqual({ running: 3, waiting: 0, gaveUp: 0, restarts: 0 });
    w.exited(5, 2);
    expect(w.stateOf(2)).toBe(PROC_GAVE_UP);
    expect(w.allRunning).toBe(false);
    expect(w.summary()).toEqual({ running: 2, waiting: 0, gaveUp: 1, restarts: 0 });
    w.poll(60 * SEC);
    expect(log.reports.at(-1)).toEqual([60 * SEC, { running: 2, waiting: 0, gaveUp: 1, restarts: 0 }]);
    const two = make({ processes: 3 });
    two.w.startAll(0);
    two.w.exited(1, 0);
    expect(two.w.allRunning).toBe(false);
    expect(two.w.summary()).toEqual({ running: 2, waiting: 1, gaveUp: 0, restarts: 0 });
    two.w.poll(two.w.nextRestartUs());
    expect(two.w.summary()).toEqual({ running: 3, waiting: 0, gaveUp: 0, restarts: 1 });
    expect(two.w.allRunning).toBe(true);
  });

  it("gives up at once when failuresMax is 1, and reports the give-up as it happens", () => {
    const { log, w } = make({ failuresMax: 1 });
    w.startAll(0);
    w.exited(7, 0);
    expect(w.stateOf(0)).toBe(PROC_GAVE_UP);
    expect(log.gaveUps).toEqual([[7, 0, 1]]);
    expect(w.nextRestartUs()).toBe(Infinity);
    w.poll(1_000 * SEC);
    expect(log.starts.filter(([, p]) => p === 0)).toHaveLength(1);
    // An exit or a check of a process it gave up on changes nothing.
    w.exited(8, 0);
    w.checked(9, 0, false);
    expect(log.gaveUps).toHaveLength(1);
    expect(log.stops).toEqual([]);
  });

  it("resets the count after a run of exactly stableUs, and not after one microsecond less", () => {
    const { w } = make({ stableUs: 100 * SEC });
    w.startAll(0);
    w.exited(1, 0);
    const restartedAt = w.nextRestartUs();
    w.poll(restartedAt);
    w.exited(restartedAt + 100 * SEC - 1, 0);
    expect(w.failuresOf(0)).toBe(2);
    const again = w.nextRestartUs();
    w.poll(again);
    w.exited(again + 100 * SEC, 0);
    expect(w.failuresOf(0)).toBe(1);
  });

  it("ignores an exit of a process that is waiting for its restart", () => {
    const { w } = make();
    w.startAll(0);
    w.exited(1, 0);
    const due = w.nextRestartUs();
    w.exited(2, 0);
    expect(w.failuresOf(0)).toBe(1);
    expect(w.nextRestartUs()).toBe(due);
  });

  it("ignores checks of a process that is not running, and starts each restarted process with a clean check count", () => {
    const { log, w } = make({ checkFailuresMax: 2 });
    w.startAll(0);
    w.checked(1, 0, false);
    w.exited(2, 0);
    w.checked(3, 0, false);
    w.checked(4, 0, false);
    expect(w.stateOf(0)).toBe(PROC_WAITING);
    expect(log.stops).toEqual([]);
    w.poll(w.nextRestartUs());
    // The failure counted before the exit does not carry over to the new run.
    w.checked(SEC + 10, 0, false);
    expect(w.stateOf(0)).toBe(PROC_RUNNING);
    w.checked(SEC + 11, 0, false);
    expect(log.stops).toEqual([[SEC + 11, 0]]);
    expect(w.failuresOf(0)).toBe(2);
  });

  it("stops a process at its first failed check when checkFailuresMax is 1, and counts it as a failure", () => {
    const { log, w } = make({ checkFailuresMax: 1 });
    w.startAll(0);
    w.checked(5, 1, true);
    expect(log.stops).toEqual([]);
    w.checked(6, 1, false);
    expect(log.stops).toEqual([[6, 1]]);
    expect(w.failuresOf(1)).toBe(1);
    expect(w.nextRestartUs()).toBe(6 + SEC);
  });

  it("startAll stops what still runs before starting it again, clears every count, and reports at once", () => {
    const { log, w } = make({ failuresMax: 2 });
    w.startAll(0);
    w.exited(1, 0);
    w.poll(w.nextRestartUs());
    w.exited(2 * SEC, 0);
    expect(w.stateOf(0)).toBe(PROC_GAVE_UP);
    w.startAll(10 * SEC);
    // Process 1 was running and is stopped first; process 0 had been given up, so nothing to stop.
    expect(log.stops).toEqual([[10 * SEC, 1]]);
    expect(log.starts.slice(-2)).toEqual([[10 * SEC, 0], [10 * SEC, 1]]);
    expect(w.failuresOf(0)).toBe(0);
    expect(log.reports.at(-1)?.[0]).toBe(10 * SEC);
    expect(w.nextWakeUs()).toBe(70 * SEC);
    // Counting starts again from one: the next failure does not give up.
    w.exited(11 * SEC, 0);
    expect(w.stateOf(0)).toBe(PROC_WAITING);
  });

  it("stopAll stops only what runs, and nothing waiting is restarted afterwards", () => {
    const { log, w } = make();
    w.startAll(0);
    w.exited(1, 0);
    w.stopAll(5);
    expect(log.stops).toEqual([[5, 1]]);
    expect(w.stateOf(0)).toBe(0);
    expect(w.stateOf(1)).toBe(0);
    // Stopped on purpose is neither running, waiting nor given up.
    expect(w.summary()).toEqual({ running: 0, waiting: 0, gaveUp: 0, restarts: 0 });
    expect(w.nextRestartUs()).toBe(Infinity);
    w.poll(100 * SEC);
    expect(log.starts).toHaveLength(2);
    expect(w.restarts).toBe(0);
  });

  it("draws each restart's jitter (0 to half a second by default) from the seeded stream", () => {
    const delays = (seed: number): number[] => {
      const log = new Log();
      const w = new Watchdog(defaultWatchdogConfig(1, { failuresMax: 6 }), log, createRng(seed));
      w.startAll(0);
      const out: number[] = [];
      let t = 0;
      for (let i = 0; i < 5; i++) {
        w.exited(t, 0);
        const due = w.nextRestartUs();
        out.push(due - t);
        w.poll(due);
        t = due;
      }
      return out;
    };
    const a = delays(3);
    expect(delays(3)).toEqual(a);
    expect(delays(4)).not.toEqual(a);
    a.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(2 ** i * SEC);
      expect(d).toBeLessThanOrEqual(2 ** i * SEC + SEC / 2);
    });
  });
});
