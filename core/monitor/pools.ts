import { backoff, checkBackoff, type Backoff } from "./backoff.js";
import { NAGIOS_FLAP, checkFlapConfig, type FlapConfig } from "./flap.js";
import { US_PER_SEC, type Micros } from "../engine/time.js";

/**
 * Every kind of pool (good, bad, a per-experiment setup pool, an all-nodes pool) is this one type;
 * only the configuration differs. After each test the result picks a target: stay in the pool and
 * retest after the pool's backoff, move to another pool (where the entry is tested at once), or be
 * released from monitoring.
 */
export type PoolTarget = "stay" | "release" | { readonly to: string };

export interface PoolConfig {
  readonly name: string;
  /** When several pools have entries due, the higher priority starts first. */
  readonly priority: number;
  readonly onPass: PoolTarget;
  readonly onFail: PoolTarget;
  /** Retest delay after a pass, counted in consecutive passes. */
  readonly passBackoff: Backoff;
  /** Retest delay after a failure, counted in consecutive failures. */
  readonly failBackoff: Backoff;
  /** A node on flap probation may not enter this pool until it passes K tests in a row. */
  readonly requiresProven: boolean;
}

export interface MonitorConfig {
  readonly pools: readonly PoolConfig[];
  /** Where `add` puts an entry unless told otherwise. */
  readonly entryPool: string;
  /** Tests in flight at once, across all pools. */
  readonly window: number;
  readonly testTimeoutUs: Micros;
  /** An entry entering a pool is tested after 0..entryJitterUs (the original: 0..120 s). */
  readonly entryJitterUs: Micros;
  readonly flap: FlapConfig;
  /** Entries the monitor can hold; sizes its typed arrays. */
  readonly entriesMax: number;
}

export const POOLS_MAX = 64;
export const WINDOW_MAX = 100_000;
export const ENTRIES_MAX = 1 << 22;
export const POOL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

const SEC = US_PER_SEC;
const JITTER_US = 120 * SEC;

/** The deployed good pool: pass retests after min(1 h, 2 x passes x 600 s) + 0..120 s; a failure moves to bad. */
export function goodPool(overrides: Partial<PoolConfig> = {}): PoolConfig {
  return {
    name: "good",
    priority: 0,
    onPass: "stay",
    onFail: { to: "bad" },
    passBackoff: backoff("additive", { stepUs: 1_200 * SEC, capUs: 3_600 * SEC, jitterUs: JITTER_US }),
    failBackoff: backoff("constant", { jitterUs: JITTER_US }),
    requiresProven: true,
    ...overrides,
  };
}

/** The deployed bad pool: failures retest after min(12 h, failures^2 x 300 s) + 0..120 s; a pass moves to good. */
export function badPool(overrides: Partial<PoolConfig> = {}): PoolConfig {
  return {
    name: "bad",
    priority: 0,
    onPass: { to: "good" },
    onFail: "stay",
    // Only a node held back on flap probation stays here after a pass: retest it soon.
    passBackoff: backoff("constant", { baseUs: 600 * SEC, jitterUs: JITTER_US }),
    failBackoff: backoff("quadratic", { stepUs: 300 * SEC, capUs: 12 * 3_600 * SEC, jitterUs: JITTER_US }),
    requiresProven: false,
    ...overrides,
  };
}

/** A setup pool for one experiment: set up at once, retried with backoff on failure, released when up. */
export function setupPool(name: string, overrides: Partial<PoolConfig> = {}): PoolConfig {
  return {
    name,
    priority: 10,
    onPass: "release",
    onFail: "stay",
    passBackoff: backoff("constant", {}),
    failBackoff: backoff("exponential", { stepUs: 60 * SEC, factor: 2, capUs: 3_600 * SEC, jitterUs: JITTER_US }),
    requiresProven: false,
    ...overrides,
  };
}

/** An all-nodes pool extending a long-running service to every node: checked rarely, retried on failure. */
export function allNodesPool(name: string, overrides: Partial<PoolConfig> = {}): PoolConfig {
  return {
    name,
    priority: 5,
    onPass: "stay",
    onFail: "stay",
    passBackoff: backoff("constant", { baseUs: 6 * 3_600 * SEC, jitterUs: JITTER_US }),
    failBackoff: backoff("quadratic", { stepUs: 300 * SEC, capUs: 3_600 * SEC, jitterUs: JITTER_US }),
    requiresProven: false,
    ...overrides,
  };
}

/** The monitor as deployed: good and bad pools, a window of 40, setup timeout 600 s. */
export function deployedConfig(overrides: Partial<MonitorConfig> = {}): MonitorConfig {
  return {
    pools: [goodPool(), badPool()],
    entryPool: "good",
    window: 40,
    testTimeoutUs: 600 * SEC,
    entryJitterUs: JITTER_US,
    flap: NAGIOS_FLAP,
    entriesMax: 1 << 17,
    ...overrides,
  };
}

function targetName(t: PoolTarget): string | null {
  return typeof t === "object" ? t.to : null;
}

/** A description of the first thing wrong with a configuration, or null. */
export function checkMonitorConfig(c: MonitorConfig): string | null {
  if (c.pools.length === 0 || c.pools.length > POOLS_MAX) return `pools: expected 1 to ${POOLS_MAX}, got ${c.pools.length}`;
  const names = new Set<string>();
  for (const [i, p] of c.pools.entries()) {
    if (!POOL_NAME_PATTERN.test(p.name)) return `pools[${i}].name: expected letters, digits, . _ : -, got "${p.name}"`;
    if (names.has(p.name)) return `pools[${i}].name: duplicate pool "${p.name}"`;
    names.add(p.name);
    if (!Number.isInteger(p.priority) || Math.abs(p.priority) > 1_000) return `pools[${i}].priority: expected a whole number from -1000 to 1000`;
    for (const [field, b] of [["passBackoff", p.passBackoff], ["failBackoff", p.failBackoff]] as const) {
      const problem = checkBackoff(b);
      if (problem !== null) return `pools[${i}].${field}.${problem}`;
    }
  }
  for (const [i, p] of c.pools.entries()) {
    for (const [field, t] of [["onPass", p.onPass], ["onFail", p.onFail]] as const) {
      const to = targetName(t);
      if (to !== null && !names.has(to)) return `pools[${i}].${field}: no pool named "${to}"`;
    }
  }
  if (!names.has(c.entryPool)) return `entryPool: no pool named "${c.entryPool}"`;
  if (!Number.isInteger(c.window) || c.window < 1 || c.window > WINDOW_MAX) return `window: expected a whole number from 1 to ${WINDOW_MAX}, got ${c.window}`;
  if (!Number.isSafeInteger(c.testTimeoutUs) || c.testTimeoutUs < 1) return `testTimeoutUs: expected positive whole microseconds, got ${c.testTimeoutUs}`;
  if (!Number.isSafeInteger(c.entryJitterUs) || c.entryJitterUs < 0) return `entryJitterUs: expected whole microseconds, got ${c.entryJitterUs}`;
  if (!Number.isInteger(c.entriesMax) || c.entriesMax < 1 || c.entriesMax > ENTRIES_MAX) return `entriesMax: expected a whole number from 1 to ${ENTRIES_MAX}, got ${c.entriesMax}`;
  const flap = checkFlapConfig(c.flap);
  return flap === null ? null : `flap.${flap}`;
}
