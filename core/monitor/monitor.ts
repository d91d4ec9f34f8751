import type { Micros } from "../engine/time.js";
import type { Rng } from "../engine/rng.js";
import { backoffWithJitterUs, type Backoff } from "./backoff.js";
import { percentStateChange, pushResult, transitionWeights } from "./flap.js";
import { EntryHeap } from "./heap.js";
import { checkMonitorConfig, type MonitorConfig, type PoolConfig } from "./pools.js";

/** Pool index meaning "no pool": the entry is being added (as `from`) or released (as `to`). */
export const NO_POOL = 255;

export const OUTCOME_PASS = 0;
export const OUTCOME_FAIL = 1;
export const OUTCOME_TIMEOUT = 2;
export type Outcome = typeof OUTCOME_PASS | typeof OUTCOME_FAIL | typeof OUTCOME_TIMEOUT;
export const OUTCOME_NAMES = ["pass", "fail", "timeout"] as const;

export const MOVE_ADD = 0;
export const MOVE_RESULT = 1;
export const MOVE_RELEASE = 2;
export const MOVE_REMOVE = 3;
export type MoveReason = typeof MOVE_ADD | typeof MOVE_RESULT | typeof MOVE_RELEASE | typeof MOVE_REMOVE;
export const MOVE_REASON_NAMES = ["add", "result", "release", "remove"] as const;

export const FLAP_START = 0;
/** The percent state change fell to the low threshold. */
export const FLAP_STOP_LOW = 1;
/** The node passed K tests in a row; its history is cut to those passes. */
export const FLAP_STOP_PROVEN = 2;
/** The entry left monitoring while flapping. */
export const FLAP_STOP_GONE = 3;
export type FlapChange = typeof FLAP_START | typeof FLAP_STOP_LOW | typeof FLAP_STOP_PROVEN | typeof FLAP_STOP_GONE;
export const FLAP_CHANGE_NAMES = ["start", "stop-low", "stop-proven", "stop-gone"] as const;

/**
 * Effects of the monitor, all synchronous and numeric so the simulator allocates nothing per test.
 * An entry is one node's membership of one pool; `node` is the caller's id for the node.
 */
export interface MonitorPort {
  /** Run the test; report it with `testDone(now, entry, attempt, passed)`. */
  startTest(now: Micros, entry: number, node: number, pool: number, attempt: number): void;
  /** The test ran past its timeout and counts as failed: stop it (its late result is ignored). */
  abortTest(now: Micros, entry: number, node: number, attempt: number): void;
  tested(now: Micros, entry: number, node: number, pool: number, outcome: Outcome, durationUs: Micros): void;
  /** Every change of pool, including entering (from NO_POOL) and leaving (to NO_POOL). */
  moved(now: Micros, entry: number, node: number, from: number, to: number, reason: MoveReason): void;
  flapChanged(now: Micros, entry: number, node: number, change: FlapChange, percent: number): void;
}

/** What the store keeps of an entry; enough to resume it after a restart. */
export interface EntryState {
  readonly node: number;
  readonly pool: number;
  readonly passes: number;
  readonly failures: number;
  readonly dueUs: Micros;
  readonly flapping: boolean;
  readonly probation: boolean;
  readonly history: number;
  readonly historyLength: number;
}

const FREE = 0;
const WAITING = 1;
const TESTING = 2;
const FLAG_FLAPPING = 1;
const FLAG_PROBATION = 2;
const COUNTER_MAX = 0xffff_ffff;

/** Why the monitor could not be built: a configuration mistake, described in one line. */
export class MonitorConfigError extends Error {
  override readonly name = "MonitorConfigError";
}

export class Monitor {
  readonly config: MonitorConfig;
  private readonly pools: readonly PoolConfig[];
  private readonly onPassPool: Int16Array;
  private readonly onFailPool: Int16Array;
  private readonly weights: Float64Array;
  private readonly historyMask: number;

  private readonly state: Uint8Array;
  private readonly node: Int32Array;
  private readonly pool: Uint8Array;
  private readonly passes: Uint32Array;
  private readonly failures: Uint32Array;
  private readonly dueUs: Float64Array;
  private readonly startedUs: Float64Array;
  private readonly attempt: Uint32Array;
  private readonly flags: Uint8Array;
  private readonly history: Uint32Array;
  private readonly historyLength: Uint8Array;
  private readonly free: Int32Array;
  private freeCount: number;
  private readonly heapPos: Int32Array;
  private readonly waiting: EntryHeap[];
  private readonly flight: EntryHeap;

  private paused = false;
  entries = 0;
  inFlight = 0;
  maxInFlight = 0;
  testsStarted = 0;
  testsFinished = 0;
  timeouts = 0;
  /** Results for a test that had already timed out, or for an entry no longer testing. */
  staleResults = 0;
  /** Passes that would have moved a node on flap probation into a pool that requires it proven. */
  heldBack = 0;
  moves = 0;

  constructor(
    config: MonitorConfig,
    private readonly port: MonitorPort,
    private readonly rng: Rng,
  ) {
    const problem = checkMonitorConfig(config);
    if (problem !== null) throw new MonitorConfigError(problem);
    this.config = config;
    this.pools = config.pools;
    const index = (name: string): number => this.pools.findIndex((p) => p.name === name);
    const target = (t: PoolConfig["onPass"]): number => (t === "stay" ? -1 : t === "release" ? NO_POOL : index(t.to));
    this.onPassPool = Int16Array.from(this.pools, (p) => target(p.onPass));
    this.onFailPool = Int16Array.from(this.pools, (p) => target(p.onFail));
    this.weights = transitionWeights(config.flap);
    this.historyMask = (1 << config.flap.historyStates) - 1;
    const n = config.entriesMax;
    this.state = new Uint8Array(n);
    this.node = new Int32Array(n);
    this.pool = new Uint8Array(n).fill(NO_POOL);
    this.passes = new Uint32Array(n);
    this.failures = new Uint32Array(n);
    this.dueUs = new Float64Array(n);
    this.startedUs = new Float64Array(n);
    this.attempt = new Uint32Array(n);
    this.flags = new Uint8Array(n);
    this.history = new Uint32Array(n);
    this.historyLength = new Uint8Array(n);
    this.free = new Int32Array(n);
    for (let i = 0; i < n; i++) this.free[i] = n - 1 - i;
    this.freeCount = n;
    this.heapPos = new Int32Array(n);
    this.waiting = this.pools.map(() => new EntryHeap(this.heapPos, n));
    this.flight = new EntryHeap(this.heapPos, config.window, config.window);
  }

  poolIndex(name: string): number {
    const i = this.pools.findIndex((p) => p.name === name);
    if (i < 0) throw new Error(`no pool named "${name}"`);
    return i;
  }

  poolName(pool: number): string {
    return pool === NO_POOL ? "-" : (this.pools[pool] as PoolConfig).name;
  }

  /** Adds a node to a pool (the entry pool by default); it is tested at once, after the entry jitter. */
  add(now: Micros, node: number, pool = this.poolIndex(this.config.entryPool)): number {
    const e = this.allocate(node);
    this.enter(now, e, pool, NO_POOL, MOVE_ADD);
    return e;
  }

  /** Brings back an entry saved by a previous run, due when it was due then. */
  restore(s: EntryState): number {
    if (s.pool >= this.pools.length) throw new Error(`restore: no pool ${s.pool}`);
    if (s.probation && (this.pools[s.pool] as PoolConfig).requiresProven) throw new Error("restore: a node on probation cannot be in a pool that requires it proven");
    const e = this.allocate(s.node);
    this.pool[e] = s.pool;
    this.passes[e] = s.passes;
    this.failures[e] = s.failures;
    this.flags[e] = (s.flapping ? FLAG_FLAPPING : 0) | (s.probation ? FLAG_PROBATION : 0);
    this.history[e] = s.history & this.historyMask;
    this.historyLength[e] = Math.min(s.historyLength, this.config.flap.historyStates);
    this.wait(e, s.dueUs);
    return e;
  }

  /** Takes an entry out of monitoring; a test in flight is aborted. */
  remove(now: Micros, e: number): void {
    this.assertLive(e);
    if (this.state[e] === TESTING) {
      this.flight.remove(e);
      this.inFlight--;
      this.port.abortTest(now, e, this.node[e] as number, this.attempt[e] as number);
    } else {
      (this.waiting[this.pool[e] as number] as EntryHeap).remove(e);
    }
    this.leave(now, e, MOVE_REMOVE);
  }

  /** The load gate: while paused no new test starts; tests in flight finish. */
  setPaused(paused: boolean): void {
    this.paused = paused;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Times out overdue tests, then starts due entries while the window has room. */
  poll(now: Micros): void {
    while (this.flight.size > 0 && this.flight.topKey() <= now) {
      const e = this.flight.pop();
      this.timeouts++;
      this.port.abortTest(now, e, this.node[e] as number, this.attempt[e] as number);
      this.finish(now, e, OUTCOME_TIMEOUT);
    }
    if (this.paused) return;
    while (this.inFlight < this.config.window) {
      const p = this.duePool(now);
      if (p < 0) return;
      this.start(now, (this.waiting[p] as EntryHeap).pop());
    }
  }

  /** A test finished; a result for another attempt (one already timed out) is ignored. */
  testDone(now: Micros, e: number, attempt: number, passed: boolean): void {
    if (e < 0 || e >= this.state.length || this.state[e] !== TESTING || this.attempt[e] !== attempt) {
      this.staleResults++;
      return;
    }
    this.flight.remove(e);
    this.finish(now, e, passed ? OUTCOME_PASS : OUTCOME_FAIL);
  }

  /** When the monitor next needs `poll`: the earliest timeout, or the earliest due entry if the window has room. */
  nextWakeUs(): number {
    let wake = this.flight.topKey();
    if (this.paused || this.inFlight >= this.config.window) return wake;
    for (const heap of this.waiting) if (heap.topKey() < wake) wake = heap.topKey();
    return wake;
  }

  entryState(e: number): EntryState {
    this.assertLive(e);
    const flags = this.flags[e] as number;
    return {
      node: this.node[e] as number,
      pool: this.pool[e] as number,
      passes: this.passes[e] as number,
      failures: this.failures[e] as number,
      dueUs: this.dueUs[e] as number,
      flapping: (flags & FLAG_FLAPPING) !== 0,
      probation: (flags & FLAG_PROBATION) !== 0,
      history: this.history[e] as number,
      historyLength: this.historyLength[e] as number,
    };
  }

  /** True while `e` is an entry (not released or removed). */
  has(e: number): boolean {
    return e >= 0 && e < this.state.length && this.state[e] !== FREE;
  }

  isTesting(e: number): boolean {
    return this.state[e] === TESTING;
  }

  poolOf(e: number): number {
    return this.pool[e] as number;
  }

  isFlapping(e: number): boolean {
    return ((this.flags[e] as number) & FLAG_FLAPPING) !== 0;
  }

  isOnProbation(e: number): boolean {
    return ((this.flags[e] as number) & FLAG_PROBATION) !== 0;
  }

  /** When the entry became (or becomes) due for its next test. */
  dueUsOf(e: number): Micros {
    return this.dueUs[e] as number;
  }

  passStreak(e: number): number {
    return this.passes[e] as number;
  }

  /** Entries waiting in a pool, due or not. */
  waitingIn(pool: number): number {
    return (this.waiting[pool] as EntryHeap).size;
  }

  private allocate(node: number): number {
    if (this.freeCount === 0) throw new Error(`monitor full: entriesMax (${this.config.entriesMax}) entries`);
    const e = this.free[--this.freeCount] as number;
    this.node[e] = node;
    this.passes[e] = 0;
    this.failures[e] = 0;
    this.flags[e] = 0;
    this.history[e] = 0;
    this.historyLength[e] = 0;
    this.entries++;
    return e;
  }

  private assertLive(e: number): void {
    if (!(e >= 0 && e < this.state.length && this.state[e] !== FREE)) throw new Error(`no entry ${e}`);
  }

  /** The pool to start from: highest priority among those with a due entry, then earliest due. */
  private duePool(now: Micros): number {
    let best = -1;
    let bestKey = Infinity;
    for (let p = 0; p < this.waiting.length; p++) {
      const key = (this.waiting[p] as EntryHeap).topKey();
      if (key > now) continue;
      if (best < 0 || (this.pools[p] as PoolConfig).priority > (this.pools[best] as PoolConfig).priority || ((this.pools[p] as PoolConfig).priority === (this.pools[best] as PoolConfig).priority && key < bestKey)) {
        best = p;
        bestKey = key;
      }
    }
    return best;
  }

  private start(now: Micros, e: number): void {
    this.state[e] = TESTING;
    const attempt = ((this.attempt[e] as number) + 1) >>> 0;
    this.attempt[e] = attempt;
    this.startedUs[e] = now;
    this.flight.push(e, now + this.config.testTimeoutUs);
    this.inFlight++;
    if (this.inFlight > this.maxInFlight) this.maxInFlight = this.inFlight;
    this.testsStarted++;
    this.port.startTest(now, e, this.node[e] as number, this.pool[e] as number, attempt);
  }

  private finish(now: Micros, e: number, outcome: Outcome): void {
    this.inFlight--;
    this.testsFinished++;
    const passed = outcome === OUTCOME_PASS;
    if (passed) {
      this.passes[e] = Math.min(COUNTER_MAX, (this.passes[e] as number) + 1);
      this.failures[e] = 0;
    } else {
      this.failures[e] = Math.min(COUNTER_MAX, (this.failures[e] as number) + 1);
      this.passes[e] = 0;
    }
    const node = this.node[e] as number;
    const from = this.pool[e] as number;
    this.port.tested(now, e, node, from, outcome, now - (this.startedUs[e] as number));
    this.updateFlap(now, e, !passed);
    const to = (passed ? this.onPassPool : this.onFailPool)[from] as number;
    if (to === NO_POOL) return this.leave(now, e, MOVE_RELEASE);
    if (to >= 0 && to !== from) {
      if (!(this.pools[to] as PoolConfig).requiresProven || !this.isOnProbation(e)) return this.enter(now, e, to, from, MOVE_RESULT);
      this.heldBack++;
    }
    const pool = this.pools[from] as PoolConfig;
    this.retest(now, e, passed ? pool.passBackoff : pool.failBackoff, passed ? (this.passes[e] as number) : (this.failures[e] as number));
  }

  private retest(now: Micros, e: number, b: Backoff, count: number): void {
    this.wait(e, now + backoffWithJitterUs(b, count, this.rng));
  }

  private updateFlap(now: Micros, e: number, failed: boolean): void {
    const states = this.config.flap.historyStates;
    this.history[e] = pushResult(this.history[e] as number, failed, states);
    if ((this.historyLength[e] as number) < states) this.historyLength[e] = (this.historyLength[e] as number) + 1;
    const pct = percentStateChange(this.history[e] as number, this.historyLength[e] as number, this.weights);
    const node = this.node[e] as number;
    let flags = this.flags[e] as number;
    if ((flags & FLAG_FLAPPING) === 0 && pct >= this.config.flap.highPct) {
      flags |= FLAG_FLAPPING | FLAG_PROBATION;
      this.port.flapChanged(now, e, node, FLAP_START, pct);
    } else if ((flags & FLAG_FLAPPING) !== 0 && pct <= this.config.flap.lowPct) {
      flags &= ~FLAG_FLAPPING;
      this.port.flapChanged(now, e, node, FLAP_STOP_LOW, pct);
    }
    if ((flags & FLAG_PROBATION) !== 0 && (this.passes[e] as number) >= this.config.flap.passesToReturn) {
      // Proven: the evidence of flapping is spent, so the flag cannot come back stale on the next pass.
      flags &= ~FLAG_PROBATION;
      const kept = Math.min(this.config.flap.passesToReturn, states);
      this.history[e] = 0;
      this.historyLength[e] = kept;
      if ((flags & FLAG_FLAPPING) !== 0) {
        flags &= ~FLAG_FLAPPING;
        // An empty history has no state changes: 0%.
        this.port.flapChanged(now, e, node, FLAP_STOP_PROVEN, 0);
      }
    }
    this.flags[e] = flags;
  }

  private enter(now: Micros, e: number, to: number, from: number, reason: MoveReason): void {
    if (to < 0 || to >= this.pools.length) throw new Error(`no pool ${to}`);
    this.pool[e] = to;
    this.moves++;
    this.port.moved(now, e, this.node[e] as number, from, to, reason);
    const jitter = this.config.entryJitterUs;
    this.wait(e, now + (jitter > 0 ? this.rng.int(jitter + 1) : 0));
  }

  private wait(e: number, dueUs: Micros): void {
    this.state[e] = WAITING;
    this.dueUs[e] = dueUs;
    (this.waiting[this.pool[e] as number] as EntryHeap).push(e, dueUs);
  }

  private leave(now: Micros, e: number, reason: MoveReason): void {
    const node = this.node[e] as number;
    const from = this.pool[e] as number;
    if (this.isFlapping(e)) this.port.flapChanged(now, e, node, FLAP_STOP_GONE, 0);
    this.moves++;
    this.port.moved(now, e, node, from, NO_POOL, reason);
    this.state[e] = FREE;
    this.pool[e] = NO_POOL;
    this.flags[e] = 0;
    this.free[this.freeCount++] = e;
    this.entries--;
  }
}
