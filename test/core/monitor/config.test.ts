import { describe, expect, it } from "vitest";
import {
  BACKOFF_CAP_US_MAX,
  ENTRIES_MAX,
  FLAP_HISTORY_STATES_MAX,
  NAGIOS_FLAP,
  PASSES_TO_RETURN_MAX,
  POOLS_MAX,
  WINDOW_MAX,
  allNodesPool,
  backoff,
  badPool,
  checkBackoff,
  checkFlapConfig,
  checkMonitorConfig,
  deployedConfig,
  goodPool,
  setupPool,
  type MonitorConfig,
} from "../../../core/monitor/index.js";

/** The deployed pools as the original monitor ran them, and every configuration limit at its edge with the message it gives. */
const SEC = 1_000_000;
const JITTER = 120 * SEC;

describe("pools as deployed", () => {
  it("good: retest after min(1 h, 2 x passes x 600 s) + 0..120 s, a failure moves to bad, entry needs a proven node", () => {
    expect(goodPool()).toEqual({
      name: "good",
      priority: 0,
      onPass: "stay",
      onFail: { to: "bad" },
      passBackoff: { shape: "additive", baseUs: 0, stepUs: 1_200 * SEC, factor: 2, capUs: 3_600 * SEC, jitterUs: JITTER },
      failBackoff: { shape: "constant", baseUs: 0, stepUs: 0, factor: 2, capUs: BACKOFF_CAP_US_MAX, jitterUs: JITTER },
      requiresProven: true,
    });
    expect(goodPool({ priority: 3 }).priority).toBe(3);
  });

  it("bad: failures retest after min(12 h, failures^2 x 300 s), a held-back pass after 600 s, a pass moves to good", () => {
    expect(badPool()).toEqual({
      name: "bad",
      priority: 0,
      onPass: { to: "good" },
      onFail: "stay",
      passBackoff: { shape: "constant", baseUs: 600 * SEC, stepUs: 0, factor: 2, capUs: BACKOFF_CAP_US_MAX, jitterUs: JITTER },
      failBackoff: { shape: "quadratic", baseUs: 0, stepUs: 300 * SEC, factor: 2, capUs: 12 * 3_600 * SEC, jitterUs: JITTER },
      requiresProven: false,
    });
  });

  it("a setup pool goes first, releases a node once set up and retries failures from 1 min doubling to 1 h; an all-nodes pool checks every 6 h", () => {
    expect(setupPool("exp1")).toEqual({
      name: "exp1",
      priority: 10,
      onPass: "release",
      onFail: "stay",
      passBackoff: { shape: "constant", baseUs: 0, stepUs: 0, factor: 2, capUs: BACKOFF_CAP_US_MAX, jitterUs: 0 },
      failBackoff: { shape: "exponential", baseUs: 0, stepUs: 60 * SEC, factor: 2, capUs: 3_600 * SEC, jitterUs: JITTER },
      requiresProven: false,
    });
    expect(allNodesPool("all")).toEqual({
      name: "all",
      priority: 5,
      onPass: "stay",
      onFail: "stay",
      passBackoff: { shape: "constant", baseUs: 6 * 3_600 * SEC, stepUs: 0, factor: 2, capUs: BACKOFF_CAP_US_MAX, jitterUs: JITTER },
      failBackoff: { shape: "quadratic", baseUs: 0, stepUs: 300 * SEC, factor: 2, capUs: 3_600 * SEC, jitterUs: JITTER },
      requiresProven: false,
    });
    expect(setupPool("e", { priority: 1 }).priority).toBe(1);
    expect(allNodesPool("a", { priority: 1 }).priority).toBe(1);
  });

  it("the monitor as deployed: good then bad, a window of 40, a 600 s timeout, 0..120 s entry jitter, Nagios flap settings", () => {
    const c = deployedConfig();
    expect(c.pools.map((p) => p.name)).toEqual(["good", "bad"]);
    expect({ ...c, pools: undefined }).toEqual({ pools: undefined, entryPool: "good", window: 40, testTimeoutUs: 600 * SEC, entryJitterUs: JITTER, flap: NAGIOS_FLAP, entriesMax: 1 << 17 });
    expect(NAGIOS_FLAP).toEqual({ historyStates: 21, weightOldest: 0.75, weightNewest: 1.25, lowPct: 5, highPct: 20, passesToReturn: 5 });
    expect(checkMonitorConfig(c)).toBeNull();
    expect(deployedConfig({ window: 3 }).window).toBe(3);
  });
});

describe("monitor configuration limits", () => {
  const ok = deployedConfig();
  const check = (c: Partial<MonitorConfig>): string | null => checkMonitorConfig({ ...ok, ...c });

  it("accepts every limit at its edge", () => {
    for (const c of [
      { window: 1 },
      { window: WINDOW_MAX },
      { testTimeoutUs: 1 },
      { entryJitterUs: 0 },
      { entriesMax: 1 },
      { entriesMax: ENTRIES_MAX },
      { pools: Array.from({ length: POOLS_MAX }, (_, i) => goodPool({ name: `p${i}`, onFail: "stay" })), entryPool: "p0" },
      { pools: [goodPool({ name: "a".repeat(64), onFail: "stay", priority: -1_000 }), badPool({ onPass: "release", priority: 1_000 })], entryPool: "a".repeat(64) },
      { pools: [goodPool({ name: "x:1.b_c-d", onFail: "stay" })], entryPool: "x:1.b_c-d" },
    ]) {
      expect(check(c), JSON.stringify(c).slice(0, 80)).toBeNull();
    }
  });

  it("names the first thing wrong, with the pool's index", () => {
    expect(check({ pools: [] })).toBe(`pools: expected 1 to ${POOLS_MAX}, got 0`);
    expect(check({ pools: Array.from({ length: POOLS_MAX + 1 }, (_, i) => goodPool({ name: `p${i}`, onFail: "stay" })), entryPool: "p0" })).toBe(`pools: expected 1 to ${POOLS_MAX}, got 65`);
    expect(check({ pools: [goodPool(), badPool({ name: "b d" })] })).toBe('pools[1].name: expected letters, digits, . _ : -, got "b d"');
    expect(check({ pools: [goodPool(), badPool({ name: "-bad" })] })).toBe('pools[1].name: expected letters, digits, . _ : -, got "-bad"');
    expect(check({ pools: [goodPool({ name: "a".repeat(65) })] })).toMatch(/^pools\[0\]\.name: expected letters/);
    expect(check({ pools: [goodPool(), badPool(), goodPool()] })).toBe('pools[2].name: duplicate pool "good"');
    expect(check({ pools: [goodPool(), badPool({ priority: 1_001 })] })).toBe("pools[1].priority: expected a whole number from -1000 to 1000");
    expect(check({ pools: [goodPool(), badPool({ priority: -1_001 })] })).toBe("pools[1].priority: expected a whole number from -1000 to 1000");
    expect(check({ pools: [goodPool(), badPool({ priority: 0.5 })] })).toBe("pools[1].priority: expected a whole number from -1000 to 1000");
    expect(check({ pools: [goodPool(), badPool({ passBackoff: backoff("constant", { baseUs: -1 }) })] })).toMatch(/^pools\[1\]\.passBackoff\.baseUs: /);
    expect(check({ pools: [goodPool(), badPool({ failBackoff: backoff("constant", { jitterUs: -1 }) })] })).toMatch(/^pools\[1\]\.failBackoff\.jitterUs: /);
    expect(check({ pools: [goodPool(), badPool({ onPass: { to: "gold" } })] })).toBe('pools[1].onPass: no pool named "gold"');
    expect(check({ pools: [goodPool({ onFail: { to: "worse" } }), badPool()] })).toBe('pools[0].onFail: no pool named "worse"');
    expect(check({ entryPool: "new" })).toBe('entryPool: no pool named "new"');
    expect(check({ window: 0 })).toBe(`window: expected a whole number from 1 to ${WINDOW_MAX}, got 0`);
    expect(check({ window: WINDOW_MAX + 1 })).toBe(`window: expected a whole number from 1 to ${WINDOW_MAX}, got ${WINDOW_MAX + 1}`);
    expect(check({ window: 1.5 })).toMatch(/^window: /);
    expect(check({ testTimeoutUs: 0 })).toBe("testTimeoutUs: expected positive whole microseconds, got 0");
    expect(check({ testTimeoutUs: 0.5 })).toMatch(/^testTimeoutUs: /);
    expect(check({ entryJitterUs: -1 })).toBe("entryJitterUs: expected whole microseconds, got -1");
    expect(check({ entryJitterUs: 0.5 })).toMatch(/^entryJitterUs: /);
    expect(check({ entriesMax: 0 })).toBe(`entriesMax: expected a whole number from 1 to ${ENTRIES_MAX}, got 0`);
    expect(check({ entriesMax: ENTRIES_MAX + 1 })).toMatch(/^entriesMax: /);
    expect(check({ entriesMax: 1.5 })).toMatch(/^entriesMax: /);
    expect(check({ flap: { ...NAGIOS_FLAP, passesToReturn: 0 } })).toBe(`flap.passesToReturn: expected a whole number from 1 to ${PASSES_TO_RETURN_MAX}, got 0`);
  });
});

describe("backoff limits", () => {
  const ok = backoff("exponential", { stepUs: 1 });
  it("defaults to no base, step or jitter, doubling, capped at 30 days", () => {
    expect(backoff("additive", {})).toEqual({ shape: "additive", baseUs: 0, stepUs: 0, factor: 2, capUs: BACKOFF_CAP_US_MAX, jitterUs: 0 });
    expect(BACKOFF_CAP_US_MAX).toBe(30 * 86_400 * SEC);
  });

  it("accepts every field at its edges and names each one out of range", () => {
    for (const f of [{ baseUs: 0 }, { baseUs: BACKOFF_CAP_US_MAX }, { stepUs: BACKOFF_CAP_US_MAX }, { capUs: 0 }, { jitterUs: BACKOFF_CAP_US_MAX }, { factor: 1 }, { factor: 1_000 }]) {
      expect(checkBackoff({ ...ok, ...f }), JSON.stringify(f)).toBeNull();
    }
    const range = `expected whole microseconds from 0 to ${BACKOFF_CAP_US_MAX}`;
    expect(checkBackoff({ ...ok, baseUs: -1 })).toBe(`baseUs: ${range}, got -1`);
    expect(checkBackoff({ ...ok, stepUs: BACKOFF_CAP_US_MAX + 1 })).toBe(`stepUs: ${range}, got ${BACKOFF_CAP_US_MAX + 1}`);
    expect(checkBackoff({ ...ok, capUs: 1.5 })).toBe(`capUs: ${range}, got 1.5`);
    expect(checkBackoff({ ...ok, jitterUs: NaN })).toBe(`jitterUs: ${range}, got NaN`);
    expect(checkBackoff({ ...ok, factor: 0.99 })).toBe("factor: expected a number from 1 to 1000, got 0.99");
    expect(checkBackoff({ ...ok, factor: 1_000.5 })).toBe("factor: expected a number from 1 to 1000, got 1000.5");
    expect(checkBackoff({ ...ok, factor: Infinity })).toBe("factor: expected a number from 1 to 1000, got Infinity");
    expect(checkBackoff({ ...ok, shape: "linear" as never })).toBe('shape: expected one of constant, additive, quadratic, exponential, got "linear"');
  });
});

describe("flap detection limits", () => {
  const check = (f: Partial<typeof NAGIOS_FLAP>): string | null => checkFlapConfig({ ...NAGIOS_FLAP, ...f });
  it("accepts every field at its edges", () => {
    for (const f of [{ historyStates: 3 }, { historyStates: FLAP_HISTORY_STATES_MAX }, { passesToReturn: 1 }, { passesToReturn: PASSES_TO_RETURN_MAX }, { lowPct: 0 }, { highPct: 125 }, { weightOldest: 1e-9 }]) {
      expect(check(f), JSON.stringify(f)).toBeNull();
    }
  });

  it("names each field out of range", () => {
    expect(check({ historyStates: 2 })).toBe(`historyStates: expected a whole number from 3 to ${FLAP_HISTORY_STATES_MAX}, got 2`);
    expect(check({ historyStates: 31 })).toBe(`historyStates: expected a whole number from 3 to ${FLAP_HISTORY_STATES_MAX}, got 31`);
    expect(check({ historyStates: 20.5 })).toMatch(/^historyStates: /);
    expect(check({ weightOldest: 0 })).toBe("weights: expected positive numbers, got 0 and 1.25");
    expect(check({ weightNewest: -1 })).toBe("weights: expected positive numbers, got 0.75 and -1");
    expect(check({ weightNewest: 0 })).toBe("weights: expected positive numbers, got 0.75 and 0");
    expect(check({ weightNewest: NaN })).toMatch(/^weights: /);
    expect(check({ weightOldest: Infinity })).toMatch(/^weights: /);
    expect(check({ weightNewest: Infinity })).toMatch(/^weights: /);
    expect(check({ lowPct: -1 })).toBe("thresholds: expected 0 <= lowPct <= highPct, got -1 / 20");
    expect(check({ lowPct: 30 })).toBe("thresholds: expected 0 <= lowPct <= highPct, got 30 / 20");
    // The most a percent state change can reach is 100 x the larger weight.
    expect(check({ highPct: 125.5 })).toBe("thresholds: expected 0 <= lowPct <= highPct, got 5 / 125.5");
    expect(check({ weightOldest: 2, highPct: 200 })).toBeNull();
    expect(check({ lowPct: NaN })).toMatch(/^thresholds: /);
    expect(check({ lowPct: 20 })).toBe("thresholds: lowPct and highPct must differ, or the flag would toggle on every result");
    expect(check({ passesToReturn: 0 })).toBe(`passesToReturn: expected a whole number from 1 to ${PASSES_TO_RETURN_MAX}, got 0`);
    expect(check({ passesToReturn: PASSES_TO_RETURN_MAX + 1 })).toMatch(/^passesToReturn: /);
    expect(check({ passesToReturn: 1.5 })).toMatch(/^passesToReturn: /);
  });
});
