import { describe, expect, it } from "vitest";
import { createRng } from "../../../core/engine/rng.js";
import { backoff } from "../../../core/monitor/backoff.js";
import {
  CODEEN_LIVENESS,
  LIVENESS_PEERS_MAX,
  PROCESSES_MAX,
  PeerLiveness,
  ROLLOUT_TARGETS_MAX,
  Rollout,
  SWEEP_NODES_MAX,
  Sweep,
  WATCHDOG_FAILURES_MAX,
  Watchdog,
  checkLivenessRule,
  checkRolloutConfig,
  checkSweepConfig,
  checkWatchdogConfig,
  defaultRolloutConfig,
  defaultSweepConfig,
  defaultWatchdogConfig,
  type RolloutPort,
  type SweepPort,
  type WatchdogPort,
} from "../../../core/service/index.js";

/**
 * Every limit a service's configuration has, at its edges: the last value accepted and the first
 * refused, each refusal naming the field and the value, and each machine refusing to be built
 * from a configuration its check refuses.
 */
const SEC = 1_000_000;
const nanBackoff = backoff("exponential", { stepUs: -1 });

describe("watchdog configuration", () => {
  const ok = defaultWatchdogConfig(1);
  it("keeps CrashLoopBackOff's shape: 1 s doubling to 5 min with half a second of jitter, reset after 10 min stable, give-up after 8", () => {
    expect(ok).toEqual({
      processes: 1,
      restartBackoff: { shape: "exponential", baseUs: 0, stepUs: SEC, factor: 2, capUs: 300 * SEC, jitterUs: SEC / 2 },
      failuresMax: 8,
      stableUs: 600 * SEC,
      checkFailuresMax: 3,
      reportEveryUs: 60 * SEC,
    });
    expect(defaultWatchdogConfig(3, { failuresMax: 2 })).toMatchObject({ processes: 3, failuresMax: 2 });
  });

  it("accepts every limit at its edge", () => {
    for (const c of [
      { processes: 1 },
      { processes: PROCESSES_MAX },
      { failuresMax: 1 },
      { failuresMax: WATCHDOG_FAILURES_MAX },
      { checkFailuresMax: 1 },
      { checkFailuresMax: 1_000 },
      { stableUs: 1 },
      { reportEveryUs: 1 },
    ]) {
      expect(checkWatchdogConfig({ ...ok, ...c }), JSON.stringify(c)).toBeNull();
    }
  });

  it("names each field out of range", () => {
    expect(checkWatchdogConfig({ ...ok, processes: 0 })).toBe(`processes: expected 1 to ${PROCESSES_MAX}, got 0`);
    expect(checkWatchdogConfig({ ...ok, processes: PROCESSES_MAX + 1 })).toBe(`processes: expected 1 to ${PROCESSES_MAX}, got ${PROCESSES_MAX + 1}`);
    expect(checkWatchdogConfig({ ...ok, processes: 1.5 })).toMatch(/^processes: .*got 1.5$/);
    expect(checkWatchdogConfig({ ...ok, restartBackoff: nanBackoff })).toMatch(/^restartBackoff\.stepUs: /);
    expect(checkWatchdogConfig({ ...ok, failuresMax: 0 })).toBe(`failuresMax: expected 1 to ${WATCHDOG_FAILURES_MAX}, got 0`);
    expect(checkWatchdogConfig({ ...ok, failuresMax: WATCHDOG_FAILURES_MAX + 1 })).toMatch(/^failuresMax: .*got 1001$/);
    expect(checkWatchdogConfig({ ...ok, failuresMax: 2.5 })).toMatch(/^failuresMax: /);
    expect(checkWatchdogConfig({ ...ok, checkFailuresMax: 0 })).toBe("checkFailuresMax: expected 1 to 1000, got 0");
    expect(checkWatchdogConfig({ ...ok, checkFailuresMax: 1_001 })).toBe("checkFailuresMax: expected 1 to 1000, got 1001");
    expect(checkWatchdogConfig({ ...ok, checkFailuresMax: 1.5 })).toMatch(/^checkFailuresMax: /);
    expect(checkWatchdogConfig({ ...ok, stableUs: 0 })).toBe("stableUs: expected whole microseconds above 0, got 0");
    expect(checkWatchdogConfig({ ...ok, stableUs: 0.5 })).toMatch(/^stableUs: /);
    expect(checkWatchdogConfig({ ...ok, reportEveryUs: 0 })).toBe("reportEveryUs: expected whole microseconds above 0, got 0");
    expect(checkWatchdogConfig({ ...ok, reportEveryUs: Infinity })).toMatch(/^reportEveryUs: /);
  });

  it("is not built from a refused configuration", () => {
    const port: WatchdogPort = { startProcess: () => {}, stopProcess: () => {}, report: () => {}, gaveUp: () => {} };
    expect(() => new Watchdog({ ...ok, processes: 0 }, port, createRng(1))).toThrow("watchdog config: processes: expected 1 to 64, got 0");
  });
});

describe("sweep configuration", () => {
  const ok = defaultSweepConfig(10);
  it("sweeps every 5 min, restarts after 5 min of silence, reconciles one node a sweep", () => {
    expect(ok).toEqual({ intervalUs: 300 * SEC, silentAfterUs: 300 * SEC, reconcileMax: 1, nodesMax: 10 });
    expect(defaultSweepConfig(4, { reconcileMax: 3 })).toMatchObject({ nodesMax: 4, reconcileMax: 3 });
  });

  it("accepts every limit at its edge and names each field out of range", () => {
    for (const c of [{ intervalUs: 1 }, { silentAfterUs: 1 }, { reconcileMax: 0 }, { nodesMax: 1 }, { nodesMax: SWEEP_NODES_MAX }]) {
      expect(checkSweepConfig({ ...ok, ...c }), JSON.stringify(c)).toBeNull();
    }
    expect(checkSweepConfig({ ...ok, intervalUs: 0 })).toBe("intervalUs: expected whole microseconds above 0, got 0");
    expect(checkSweepConfig({ ...ok, intervalUs: 1.5 })).toMatch(/^intervalUs: /);
    expect(checkSweepConfig({ ...ok, silentAfterUs: 0 })).toBe("silentAfterUs: expected whole microseconds above 0, got 0");
    expect(checkSweepConfig({ ...ok, reconcileMax: -1 })).toBe("reconcileMax: expected a whole number, got -1");
    expect(checkSweepConfig({ ...ok, reconcileMax: 0.5 })).toMatch(/^reconcileMax: /);
    expect(checkSweepConfig({ ...ok, nodesMax: 0 })).toBe(`nodesMax: expected 1 to ${SWEEP_NODES_MAX}, got 0`);
    expect(checkSweepConfig({ ...ok, nodesMax: SWEEP_NODES_MAX + 1 })).toMatch(/^nodesMax: /);
    expect(checkSweepConfig({ ...ok, nodesMax: 2.5 })).toMatch(/^nodesMax: /);
    const port: SweepPort = { restartNode: () => {}, reconcile: () => {} };
    expect(() => new Sweep({ ...ok, nodesMax: 0 }, port)).toThrow(`sweep config: nodesMax: expected 1 to ${SWEEP_NODES_MAX}, got 0`);
  });
});

describe("rollout configuration", () => {
  const ok = defaultRolloutConfig(8);
  it("has Kubernetes' and Nomad's defaults: one at a time, a canary of 1 then quarters, no failure tolerated, 10 min deadline", () => {
    expect(ok).toMatchObject({ targets: 8, batches: [1, "25%"], maxParallel: 1, maxFailPct: 0, maxFailTotal: 0, maxUnavailable: 2, progressDeadlineUs: 600 * SEC, opTimeoutUs: 120 * SEC, restart: true, stageAttemptsMax: 3, rollbackAttemptsMax: 5 });
    expect(ok.retryBackoff).toEqual({ shape: "exponential", baseUs: 0, stepUs: 2 * SEC, factor: 2, capUs: 60 * SEC, jitterUs: 0 });
    // A quarter of the targets may be unavailable, but never none.
    expect(defaultRolloutConfig(3).maxUnavailable).toBe(1);
    expect(defaultRolloutConfig(100).maxUnavailable).toBe(25);
    expect(defaultRolloutConfig(4, { maxParallel: 2 }).maxParallel).toBe(2);
  });

  it("accepts every limit at its edge", () => {
    for (const c of [
      { targets: 1 },
      { targets: ROLLOUT_TARGETS_MAX },
      { maxParallel: 1 },
      { maxFailTotal: 0 },
      { maxUnavailable: 1 },
      { progressDeadlineUs: 1 },
      { opTimeoutUs: 1 },
      { stageAttemptsMax: 1 },
      { rollbackAttemptsMax: 1 },
      { maxFailPct: 0 },
      { maxFailPct: 100 },
    ]) {
      expect(checkRolloutConfig({ ...ok, ...c }), JSON.stringify(c)).toBeNull();
    }
  });

  it("names each field out of range", () => {
    expect(checkRolloutConfig({ ...ok, targets: 0 })).toBe(`targets: expected 1 to ${ROLLOUT_TARGETS_MAX}, got 0`);
    expect(checkRolloutConfig({ ...ok, targets: ROLLOUT_TARGETS_MAX + 1 })).toMatch(/^targets: /);
    expect(checkRolloutConfig({ ...ok, targets: 1.5 })).toMatch(/^targets: /);
    expect(checkRolloutConfig({ ...ok, batches: [] })).toBe("batches: expected 1 to 100 steps, got 0");
    expect(checkRolloutConfig({ ...ok, maxParallel: 0 })).toBe("maxParallel: expected a whole number of at least 1, got 0");
    expect(checkRolloutConfig({ ...ok, maxParallel: 1.5 })).toMatch(/^maxParallel: /);
    expect(checkRolloutConfig({ ...ok, maxFailTotal: -1 })).toBe("maxFailTotal: expected a whole number of at least 0, got -1");
    expect(checkRolloutConfig({ ...ok, maxUnavailable: 0 })).toBe("maxUnavailable: expected a whole number of at least 1, got 0");
    expect(checkRolloutConfig({ ...ok, progressDeadlineUs: 0 })).toBe("progressDeadlineUs: expected a whole number of at least 1, got 0");
    expect(checkRolloutConfig({ ...ok, opTimeoutUs: 0 })).toBe("opTimeoutUs: expected a whole number of at least 1, got 0");
    expect(checkRolloutConfig({ ...ok, stageAttemptsMax: 0 })).toBe("stageAttemptsMax: expected a whole number of at least 1, got 0");
    expect(checkRolloutConfig({ ...ok, rollbackAttemptsMax: 0 })).toBe("rollbackAttemptsMax: expected a whole number of at least 1, got 0");
    expect(checkRolloutConfig({ ...ok, maxFailPct: -0.5 })).toBe("maxFailPct: expected 0 to 100, got -0.5");
    expect(checkRolloutConfig({ ...ok, maxFailPct: 100.5 })).toBe("maxFailPct: expected 0 to 100, got 100.5");
    expect(checkRolloutConfig({ ...ok, maxFailPct: NaN })).toMatch(/^maxFailPct: /);
    expect(checkRolloutConfig({ ...ok, retryBackoff: nanBackoff })).toMatch(/^retryBackoff\.stepUs: /);
    const port: RolloutPort = { stage: () => {}, apply: () => {}, stateChanged: () => {}, batchStarted: () => {}, batchSettled: () => {} };
    expect(() => new Rollout({ ...ok, maxParallel: 0 }, port, createRng(1))).toThrow("rollout config: maxParallel: expected a whole number of at least 1, got 0");
  });
});

describe("liveness rule", () => {
  it("is CoDeeN's: a heartbeat a second, 2 misses of the last 32", () => {
    expect(CODEEN_LIVENESS).toEqual({ periodUs: SEC, windowSlots: 32, missesToAvoid: 2 });
  });

  it("accepts every limit at its edge and names each field out of range", () => {
    for (const r of [{ periodUs: 1 }, { windowSlots: 2, missesToAvoid: 2 }, { windowSlots: 1, missesToAvoid: 1 }, { missesToAvoid: 32 }]) {
      expect(checkLivenessRule({ ...CODEEN_LIVENESS, ...r }), JSON.stringify(r)).toBeNull();
    }
    expect(checkLivenessRule({ ...CODEEN_LIVENESS, periodUs: 0 })).toBe("periodUs: expected whole microseconds above 0, got 0");
    expect(checkLivenessRule({ ...CODEEN_LIVENESS, periodUs: 0.5 })).toMatch(/^periodUs: /);
    expect(checkLivenessRule({ ...CODEEN_LIVENESS, windowSlots: 0 })).toBe("windowSlots: expected 1 to 32, got 0");
    expect(checkLivenessRule({ ...CODEEN_LIVENESS, windowSlots: 33 })).toBe("windowSlots: expected 1 to 32, got 33");
    expect(checkLivenessRule({ ...CODEEN_LIVENESS, windowSlots: 2.5 })).toMatch(/^windowSlots: /);
    expect(checkLivenessRule({ ...CODEEN_LIVENESS, missesToAvoid: 0 })).toBe("missesToAvoid: expected 1 to windowSlots, got 0");
    expect(checkLivenessRule({ ...CODEEN_LIVENESS, windowSlots: 4, missesToAvoid: 5 })).toBe("missesToAvoid: expected 1 to windowSlots, got 5");
    expect(checkLivenessRule({ ...CODEEN_LIVENESS, missesToAvoid: 1.5 })).toMatch(/^missesToAvoid: /);
  });

  it("is not built from a refused rule or an impossible number of peers", () => {
    expect(() => new PeerLiveness({ ...CODEEN_LIVENESS, windowSlots: 0 }, 1)).toThrow("liveness rule: windowSlots: expected 1 to 32, got 0");
    expect(() => new PeerLiveness(CODEEN_LIVENESS, 0)).toThrow(`peersMax: expected 1 to ${LIVENESS_PEERS_MAX}, got 0`);
    expect(() => new PeerLiveness(CODEEN_LIVENESS, LIVENESS_PEERS_MAX + 1)).toThrow(/^peersMax: /);
    expect(() => new PeerLiveness(CODEEN_LIVENESS, 1.5)).toThrow(/^peersMax: /);
    expect(new PeerLiveness(CODEEN_LIVENESS, 1).peersMax).toBe(1);
    expect(new PeerLiveness(CODEEN_LIVENESS, LIVENESS_PEERS_MAX).peersMax).toBe(LIVENESS_PEERS_MAX);
  });
});
