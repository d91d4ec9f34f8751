import type { Rng } from "../engine/rng.js";
import type { Micros } from "../engine/time.js";
import { backoff } from "../monitor/backoff.js";
import { NAGIOS_FLAP } from "../monitor/flap.js";
import { FLAP_START, FLAP_STOP_GONE, MOVE_RELEASE, Monitor, NO_POOL, OUTCOME_NAMES, OUTCOME_PASS, OUTCOME_TIMEOUT, type MonitorPort } from "../monitor/monitor.js";
import { setupPool } from "../monitor/pools.js";
import type { SwapPlan } from "./plan.js";

export interface SetupPoolPort {
  start(now: Micros, node: number, attempt: number): void;
  /** Stop the node's setup: it ran past its time (`timedOut`), or it was withdrawn from the pool. */
  abort(now: Micros, node: number, timedOut: boolean): void;
  tested(now: Micros, node: number, attempt: number, outcome: string): void;
  flapping(now: Micros, node: number, on: boolean, percent: number): void;
}

/** A node's setup passed (it is released from the pool), or the pool gave up on it. */
export interface SetupResult {
  readonly node: number;
  readonly entry: number;
  readonly passed: boolean;
  readonly attempts: number;
  /** The last attempt timed out and the pool has aborted it already. */
  readonly aborted: boolean;
}

/** The retry delay after failures doubles from the plan's first delay up to this. */
const SETUP_RETRY_CAP_US = 3_600 * 1_000_000;

/**
 * The experiment's setup pool: the node monitor's machine (core/monitor) with one dynamic setup
 * pool, as the original planned ("one per experiment being swapped in"). A node enters when it
 * has booted and is set up at once; a failure is retried after an exponential backoff; a pass
 * releases it. After `setupAttemptsMax` failures in a row the pool gives the node up, and the swap
 * machine replaces it or reports it. The window bounds setups in flight.
 */
export class SetupPool {
  private readonly monitor: Monitor;
  private readonly failures: Uint16Array;
  private readonly attempts: Uint16Array;
  private readonly results: SetupResult[] = [];
  private readonly givenUp: number[] = [];
  private readonly attemptsMax: number;
  /** Set while an entry is taken out: an abort then is a withdrawal, not a time-out. */
  private withdrawing = false;
  readonly name: string;
  /** Failed setups that were tried again. */
  retried = 0;

  constructor(plan: SwapPlan, rng: Rng, private readonly port: SetupPoolPort) {
    const l = plan.limits;
    const entries = plan.nodes.length;
    this.attemptsMax = l.setupAttemptsMax;
    this.failures = new Uint16Array(entries);
    this.attempts = new Uint16Array(entries);
    const pool = setupPool(`setup:${plan.experiment}`.slice(0, 64).replace(/[^A-Za-z0-9._:-]/g, "_"), {
      failBackoff: backoff("exponential", { stepUs: l.setupRetryUs, factor: 2, capUs: Math.max(l.setupRetryUs, SETUP_RETRY_CAP_US), jitterUs: Math.floor(l.setupRetryUs / 2) }),
    });
    this.name = pool.name;
    this.monitor = new Monitor(
      { pools: [pool], entryPool: pool.name, window: l.setupWindow, testTimeoutUs: Math.max(1, l.setupTimeoutUs), entryJitterUs: 0, flap: NAGIOS_FLAP, entriesMax: entries },
      this.monitorPort(),
      rng,
    );
  }

  get inFlight(): number {
    return this.monitor.inFlight;
  }

  /** Nodes waiting for a setup slot or a retry. */
  get waiting(): number {
    return this.monitor.waitingIn(0);
  }

  isFlapping(entry: number): boolean {
    return this.monitor.has(entry) && this.monitor.isFlapping(entry);
  }

  failuresOf(entry: number): number {
    return this.failures[entry] as number;
  }

  add(now: Micros, node: number): number {
    const entry = this.monitor.add(now, node);
    this.failures[entry] = 0;
    this.attempts[entry] = 0;
    this.settle(now);
    return entry;
  }

  done(now: Micros, entry: number, attempt: number, passed: boolean): void {
    if (entry < 0) return;
    this.monitor.testDone(now, entry, attempt, passed);
    this.settle(now);
  }

  remove(now: Micros, entry: number): void {
    if (!this.monitor.has(entry)) return;
    this.withdrawing = true;
    try {
      this.monitor.remove(now, entry);
    } finally {
      this.withdrawing = false;
    }
    this.settle(now);
  }

  poll(now: Micros): void {
    this.settle(now);
  }

  nextWakeUs(): Micros {
    return this.monitor.nextWakeUs();
  }

  takeResult(): SetupResult | null {
    return this.results.shift() ?? null;
  }

  /** Removes the entries given up during the monitor's last call (not from inside its callbacks), then starts due tests. */
  private settle(now: Micros): void {
    for (;;) {
      for (let e = this.givenUp.pop(); e !== undefined; e = this.givenUp.pop()) if (this.monitor.has(e)) this.monitor.remove(now, e);
      this.monitor.poll(now);
      if (this.givenUp.length === 0) return;
    }
  }

  private monitorPort(): MonitorPort {
    return {
      startTest: (now, entry, node, _pool, attempt) => {
        this.attempts[entry] = attempt;
        this.port.start(now, node, attempt);
      },
      abortTest: (now, _entry, node) => this.port.abort(now, node, !this.withdrawing),
      tested: (now, entry, node, _pool, outcome) => {
        this.port.tested(now, node, this.attempts[entry] as number, OUTCOME_NAMES[outcome]);
        if (outcome === OUTCOME_PASS) return;
        const failures = (this.failures[entry] as number) + 1;
        this.failures[entry] = failures;
        if (failures < this.attemptsMax) {
          this.retried++;
          return;
        }
        this.givenUp.push(entry);
        this.results.push({ node, entry, passed: false, attempts: failures, aborted: outcome === OUTCOME_TIMEOUT });
      },
      moved: (_now, entry, node, _from, to, reason) => {
        if (to === NO_POOL && reason === MOVE_RELEASE) this.results.push({ node, entry, passed: true, attempts: (this.failures[entry] as number) + 1, aborted: false });
      },
      flapChanged: (now, _entry, node, change, percent) => {
        if (change !== FLAP_STOP_GONE) this.port.flapping(now, node, change === FLAP_START, percent);
      },
    };
  }
}
