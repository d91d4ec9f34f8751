import { loadavg } from "node:os";
import { createRng } from "../../core/engine/rng.js";
import {
  FLAP_CHANGE_NAMES,
  MOVE_REASON_NAMES,
  Monitor,
  NO_POOL,
  OUTCOME_NAMES,
  backoffMaxUs,
  type FlapChange,
  type MonitorConfig,
  type MonitorPort,
  type MoveReason,
  type Outcome,
  type PoolConfig,
} from "../../core/monitor/index.js";
import { epochNowUs } from "../runtime/clock.js";
import { openMonitorStore, type MonitorNodeInput, type MonitorStore } from "../store/monitor.js";
import type { WriterClaim } from "../store/writers.js";
import type { StoredEventInput } from "../store/rows.js";
import { gateLine, nextDueLine, startLine, type MonitorLine } from "./lines.js";
import { startTest, type RunningTest, type TestDone, type TestSpec } from "./probe.js";

export interface RealMonitorOptions {
  readonly nodes: readonly string[];
  readonly test: TestSpec;
  readonly config: MonitorConfig;
  readonly dbPath: string;
  /** The load gate: no new test starts while the 1-minute load average is above this. */
  readonly loadMax: number;
  /** Stop once every listed node has finished a test since the start. */
  readonly once: boolean;
  /** Stop after this long, in milliseconds (unbounded if undefined). */
  readonly runForMs?: number;
  readonly seed: number;
  /** Each happening as a line (text and fields): start, tests, moves, the load gate, --once's end. */
  readonly log: (line: MonitorLine) => void;
  readonly warn: (line: string) => void;
  /** Wall clock in microseconds since the Unix epoch; a parameter so tests can check what is stored. */
  readonly clockUs?: () => number;
  readonly load?: () => number;
  /** How often a closed load gate is rechecked (LOAD_RECHECK_MS by default). */
  readonly loadRecheckMs?: number;
  /** Runs one test; the probe by default, a fake in tests. */
  readonly runTest?: (spec: TestSpec, node: string, done: TestDone) => RunningTest;
}

export interface RealMonitorSummary {
  nodes: number;
  resumed: number;
  added: number;
  corrupted: number;
  storedNotListed: number;
  testsRun: number;
  timeouts: number;
  moves: number;
  maxInFlight: number;
  pools: Record<string, number>;
}

/** While the gate is closed nothing else wakes the monitor, so it rechecks the load this often. */
export const LOAD_RECHECK_MS = 5_000;
/** The longest single timer; a later wake-up is reached in steps. */
const TIMER_MS_MAX = 60_000;

/**
 * The monitor machine bound to child processes (or TCP probes), the wall clock and the store. After
 * every input the changed node rows and their events are saved in one transaction, so a restarted
 * monitor resumes each node in its pool, with its counters and its next test time.
 */
export class RealMonitor implements MonitorPort {
  private readonly monitor: Monitor;
  private readonly store: MonitorStore;
  private readonly claim: WriterClaim;
  private readonly running = new Map<number, RunningTest>();
  private readonly tests: number[] = [];
  /** Why each entry's last test failed, for its line and its move event. */
  private readonly reasons: (string | undefined)[] = [];
  private readonly dirty = new Set<number>();
  private events: StoredEventInput[] = [];
  private readonly untested: Set<number>;
  private timer: NodeJS.Timeout | undefined;
  private stopTimer: NodeJS.Timeout | undefined;
  private finished: ((s: RealMonitorSummary) => void) | undefined;
  private failed: ((e: unknown) => void) | undefined;
  private stopped = false;
  private readonly summary: RealMonitorSummary;
  private readonly clockUs: () => number;
  private readonly load: () => number;

  constructor(private readonly o: RealMonitorOptions) {
    this.clockUs = o.clockUs ?? epochNowUs;
    this.load = o.load ?? (() => loadavg()[0] ?? 0);
    this.store = openMonitorStore(o.dbPath);
    try {
      // Two monitors on one store would overwrite each other's node rows: the second is refused.
      this.claim = this.store.claimWriter(`testbed monitor, ${o.nodes.length} nodes`);
    } catch (error) {
      this.store.close();
      throw error;
    }
    if (this.claim.tookOverFrom !== null) o.warn(`${o.dbPath}: the monitor before this one (${this.claim.tookOverFrom}) stopped without letting go of the store; taking over`);
    this.monitor = new Monitor({ ...o.config, entriesMax: Math.max(1, o.nodes.length) }, this, createRng(o.seed).fork("monitor"));
    this.untested = new Set(o.nodes.map((_, i) => i));
    this.summary = { nodes: o.nodes.length, resumed: 0, added: 0, corrupted: 0, storedNotListed: 0, testsRun: 0, timeouts: 0, moves: 0, maxInFlight: 0, pools: {} };
    try {
      this.resume();
    } catch (error) {
      this.closeStore();
      throw error;
    }
  }

  /** Runs until stopped (or `once` / `runForMs` is reached); resolves with what happened. */
  run(): Promise<RealMonitorSummary> {
    return new Promise((resolve, reject) => {
      this.finished = resolve;
      this.failed = reject;
      if (this.o.runForMs !== undefined) this.stopTimer = setTimeout(() => this.stop(), this.o.runForMs);
      this.sayStart();
      this.step();
    });
  }

  /** Stops cleanly: tests in flight are killed; their nodes stay due and are tested first on restart. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.stopTimer);
    for (const t of this.running.values()) t.stop();
    this.running.clear();
    try {
      this.flush();
    } catch (error) {
      this.closeStore();
      this.failed?.(error);
      return;
    }
    this.closeStore();
    const s = this.summary;
    s.testsRun = this.monitor.testsFinished;
    s.timeouts = this.monitor.timeouts;
    s.maxInFlight = this.monitor.maxInFlight;
    s.pools = {};
    this.o.config.pools.forEach((p, i) => (s.pools[p.name] = this.monitor.waitingIn(i)));
    s.pools["testing"] = this.monitor.inFlight;
    this.finished?.(s);
  }

  private resume(): void {
    const poolNames = this.o.config.pools.map((p) => p.name);
    const { nodes: rows, corrupted } = this.store.loadNodes(poolNames);
    const index = new Map(this.o.nodes.map((name, i) => [name, i]));
    const now = this.clockUs();
    for (const bad of corrupted) {
      this.summary.corrupted++;
      const listed = bad.name !== null && index.has(bad.name);
      if (listed) this.store.quarantine(bad, now);
      this.o.warn(`${bad.problem}; ${listed ? `row kept as event monitor.corrupt-row, node ${bad.name} starts again in pool ${this.o.config.entryPool}` : "row left as it is (node not in the list)"}`);
    }
    const restored = new Set<string>();
    for (const row of rows) {
      const node = index.get(row.name);
      if (node === undefined) {
        this.summary.storedNotListed++;
        continue;
      }
      const pool = poolNames.indexOf(row.pool);
      if (row.probation && (this.o.config.pools[pool]?.requiresProven ?? false)) {
        const problem = `${this.store.path}: corrupted data in table monitor_nodes, row id ${row.id}, field probation: a node on flap probation cannot be in pool ${row.pool}`;
        this.store.quarantine({ id: row.id, name: row.name, problem, raw: { ...row } }, now);
        this.summary.corrupted++;
        this.o.warn(`${problem}; row kept as event monitor.corrupt-row, node ${row.name} starts again in pool ${this.o.config.entryPool}`);
        continue;
      }
      // A due time beyond the pool's longest backoff (a clock set back, a hand edit) is brought in to it.
      const p = this.o.config.pools[pool] as PoolConfig;
      const waitUsMax = Math.max(backoffMaxUs(p.passBackoff), backoffMaxUs(p.failBackoff), this.o.config.entryJitterUs);
      const e = this.monitor.restore({ node, pool, passes: row.passes, failures: row.failures, dueUs: Math.min(row.nextTestUs, now + waitUsMax), flapping: row.flapping, probation: row.probation, history: row.history, historyLength: row.historyLength });
      this.tests[e] = row.tests;
      restored.add(row.name);
      this.summary.resumed++;
    }
    if (this.summary.storedNotListed > 0) this.o.warn(`${this.store.path}: ${this.summary.storedNotListed} stored nodes are not in the node list: kept in the store, not tested`);
    this.o.nodes.forEach((name, node) => {
      if (restored.has(name)) return;
      const e = this.monitor.add(now, node);
      this.tests[e] = 0;
      this.summary.added++;
    });
    // Every listed node is in the store before the first test starts: a crash now forgets none.
    for (let e = 0; e < this.o.nodes.length; e++) this.dirty.add(e);
    this.flush();
  }

  private sayStart(): void {
    const now = this.clockUs();
    const pools: Record<string, number> = {};
    this.o.config.pools.forEach((p, i) => (pools[p.name] = this.monitor.waitingIn(i)));
    const test = this.o.test.kind === "tcp" ? `tcp:${this.o.test.port}` : `'${this.o.test.template}'`;
    const s = this.summary;
    const first = this.earliestDue(() => true);
    this.o.log(startLine(now, { nodes: s.nodes, resumed: s.resumed, added: s.added, pools, test, window: this.o.config.window, timeoutSec: this.o.config.testTimeoutUs / 1e6, loadMax: this.o.loadMax, firstDueUs: first.dueUs }));
  }

  /** The waiting entry due first among the nodes `which` accepts: its due time and node, or Infinity. */
  private earliestDue(which: (node: number) => boolean): { dueUs: number; node: number } {
    let best = { dueUs: Infinity, node: -1 };
    for (let e = 0; e < this.o.nodes.length; e++) {
      if (!this.monitor.has(e) || this.monitor.isTesting(e)) continue;
      const s = this.monitor.entryState(e);
      if (which(s.node) && s.dueUs < best.dueUs) best = { dueUs: s.dueUs, node: s.node };
    }
    return best;
  }

  private step(): void {
    if (this.stopped) return;
    try {
      const now = this.clockUs();
      this.gate(now);
      this.monitor.poll(now);
      this.flush();
      if (this.o.once && this.onceDone(now)) return this.stop();
      this.arm(now);
    } catch (error) {
      this.stopped = true;
      clearTimeout(this.stopTimer);
      for (const t of this.running.values()) t.stop();
      this.closeStore();
      this.failed?.(error);
    }
  }

  /** Opens or closes the load gate, saying so when it changes. */
  private gate(now: number): void {
    const load = this.load();
    const paused = load > this.o.loadMax;
    if (paused !== this.monitor.isPaused) this.o.log(gateLine(now, paused, load, this.o.loadMax, this.monitor.inFlight));
    this.monitor.setPaused(paused);
  }

  /**
   * `--once` is done when every listed node has been tested, or when nothing is in flight and the
   * nodes left are not due yet (a resumed store): it then says when the next is due rather than
   * wait for it in silence. While the load gate is shut it waits, having said so.
   */
  private onceDone(now: number): boolean {
    if (this.untested.size === 0) return true;
    if (this.monitor.inFlight > 0 || this.monitor.isPaused) return false;
    const next = this.earliestDue((n) => this.untested.has(n));
    if (next.dueUs <= now) return false;
    this.o.log(nextDueLine(now, this.untested.size, next.dueUs, this.o.nodes[next.node] as string));
    return true;
  }

  /** Lets go of the store (the writer's place first, so the next monitor may start) and closes it. */
  private closeStore(): void {
    try {
      this.claim.release();
    } catch {
      // a store that fails now is reported by what failed before; a stale claim is taken over later
    }
    this.store.close();
  }

  private arm(now: number): void {
    clearTimeout(this.timer);
    const wake = this.monitor.nextWakeUs();
    let ms = wake === Infinity ? TIMER_MS_MAX : Math.ceil((wake - now) / 1_000);
    if (this.monitor.isPaused) ms = Math.min(ms, this.o.loadRecheckMs ?? LOAD_RECHECK_MS);
    this.timer = setTimeout(() => this.step(), Math.max(0, Math.min(ms, TIMER_MS_MAX)));
  }

  private flush(): void {
    if (this.dirty.size === 0 && this.events.length === 0) return;
    const now = this.clockUs();
    const rows: MonitorNodeInput[] = [];
    for (const e of this.dirty) {
      if (!this.monitor.has(e)) continue;
      const s = this.monitor.entryState(e);
      rows.push({
        name: this.o.nodes[s.node] as string,
        pool: this.monitor.poolName(s.pool),
        passes: s.passes,
        failures: s.failures,
        nextTestUs: Math.max(0, Math.round(s.dueUs)),
        flapping: s.flapping,
        probation: s.probation,
        history: s.history,
        historyLength: s.historyLength,
        tests: this.tests[e] ?? 0,
        updatedUs: now,
      });
    }
    this.store.save(rows, this.events);
    this.dirty.clear();
    this.events = [];
  }

  startTest(_now: number, e: number, node: number, _pool: number, attempt: number): void {
    const name = this.o.nodes[node] as string;
    this.running.set(e, (this.o.runTest ?? startTest)(this.o.test, name, (passed, reason) => {
      this.running.delete(e);
      if (this.stopped) return;
      this.reasons[e] = passed ? undefined : (reason ?? "failed");
      this.monitor.testDone(this.clockUs(), e, attempt, passed);
      this.step();
    }));
  }

  abortTest(_now: number, e: number): void {
    this.running.get(e)?.stop();
    this.running.delete(e);
  }

  tested(now: number, e: number, node: number, pool: number, outcome: Outcome, durationUs: number): void {
    this.tests[e] = (this.tests[e] ?? 0) + 1;
    this.untested.delete(node);
    this.dirty.add(e);
    const name = this.o.nodes[node] as string;
    const result = OUTCOME_NAMES[outcome];
    if (result === "timeout") this.reasons[e] = `no result within --timeout ${this.o.config.testTimeoutUs / 1e6} s; killed`;
    if (result === "pass") this.reasons[e] = undefined;
    const reason = this.reasons[e];
    const seconds = Math.round(durationUs / 1e4) / 100;
    const text = `${name}: ${result} in ${seconds.toFixed(2)} s (pool ${this.monitor.poolName(pool)})${reason === undefined ? "" : `: ${reason}`}`;
    this.o.log({ kind: "tested", timeUs: now, node: name, text, fields: { result, seconds, pool: this.monitor.poolName(pool), reason: reason ?? null } });
  }

  moved(now: number, e: number, node: number, from: number, to: number, reason: MoveReason): void {
    const name = this.o.nodes[node] as string;
    this.summary.moves++;
    if (to !== NO_POOL) this.dirty.add(e);
    const [fromName, toName, why] = [this.monitor.poolName(from), this.monitor.poolName(to), MOVE_REASON_NAMES[reason]];
    // A move after a failed test keeps the test's own reason (exit status and stderr, ECONNREFUSED) in the store.
    const detail = this.reasons[e];
    this.events.push({ timeUs: now, host: name, kind: "monitor.move", data: { from: fromName, to: toName, reason: why, ...(detail === undefined ? {} : { detail }) } });
    if (from !== NO_POOL) this.o.log({ kind: "move", timeUs: now, node: name, text: `${name}: ${fromName} -> ${toName}`, fields: { from: fromName, to: toName, reason: why } });
  }

  flapChanged(now: number, e: number, node: number, change: FlapChange, percent: number): void {
    const name = this.o.nodes[node] as string;
    this.dirty.add(e);
    this.events.push({ timeUs: now, host: name, kind: "monitor.flap", data: { change: FLAP_CHANGE_NAMES[change], percent: Math.round(percent * 100) / 100 } });
    const pct = Math.round(percent * 10) / 10;
    this.o.log({ kind: "flap", timeUs: now, node: name, text: `${name}: flapping ${FLAP_CHANGE_NAMES[change]} (${pct.toFixed(1)}% state change)`, fields: { change: FLAP_CHANGE_NAMES[change], percent: pct } });
  }
}
