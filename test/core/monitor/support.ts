import { createRng, type Rng } from "../../../core/engine/rng.js";
import {
  FLAP_START,
  MOVE_RESULT,
  Monitor,
  NO_POOL,
  type FlapChange,
  type MonitorConfig,
  type MonitorPort,
  type MoveReason,
  type Outcome,
} from "../../../core/monitor/index.js";

export interface Behaviour {
  /** Chance a test passes. */
  readonly passP: number;
  /** Chance a test never reports (hangs until the timeout). */
  readonly hangP: number;
  readonly durationUsMax: number;
}

export interface Move {
  readonly timeUs: number;
  readonly entry: number;
  readonly node: number;
  readonly from: number;
  readonly to: number;
  readonly reason: MoveReason;
}

/**
 * A tiny world for the monitor: tests finish after a random time with a random result (or hang),
 * and a checker records every effect and the invariants the issue asks for.
 */
export class Harness implements MonitorPort {
  readonly monitor: Monitor;
  readonly moves: Move[] = [];
  readonly problems: string[] = [];
  private readonly pending: { at: number; entry: number; attempt: number; passed: boolean }[] = [];
  private readonly lastEndUs = new Map<number, number>();
  private readonly flagged = new Set<number>();
  private readonly rng: Rng;
  readonly starts: { timeUs: number; entry: number; dueUs: number; lastEndUs: number | undefined; pool: number }[] = [];
  readonly aborts: { timeUs: number; entry: number; startedUs: number }[] = [];
  private readonly startedAt = new Map<number, number>();
  now = 0;
  maxInFlight = 0;
  gateClosedEver = false;

  constructor(
    readonly config: MonitorConfig,
    private readonly behaviours: readonly Behaviour[],
    seed: number,
  ) {
    const root = createRng(seed);
    this.rng = root.fork("world");
    this.monitor = new Monitor(config, this, root.fork("monitor"));
  }

  startTest(now: number, entry: number, node: number, pool: number, attempt: number): void {
    this.maxInFlight = Math.max(this.maxInFlight, this.monitor.inFlight);
    if (this.monitor.inFlight > this.config.window) this.problems.push(`window exceeded at ${now}`);
    if (this.monitor.isOnProbation(entry) && this.config.pools[pool]?.requiresProven) this.problems.push(`entry ${entry} tested in a proven-only pool while on probation`);
    this.starts.push({ timeUs: now, entry, dueUs: this.monitor.dueUsOf(entry), lastEndUs: this.lastEndUs.get(entry), pool });
    this.startedAt.set(entry, now);
    const b = this.behaviours[node] as Behaviour;
    if (this.rng.chance(b.hangP)) return;
    this.pending.push({ at: now + 1 + this.rng.int(b.durationUsMax), entry, attempt, passed: this.rng.chance(b.passP) });
  }

  abortTest(now: number, entry: number): void {
    this.aborts.push({ timeUs: now, entry, startedUs: this.startedAt.get(entry) ?? -1 });
  }

  tested(now: number, entry: number, _node: number, _pool: number, _outcome: Outcome, durationUs: number): void {
    if (durationUs > this.config.testTimeoutUs) this.problems.push(`test of entry ${entry} ran ${durationUs} us, past its timeout`);
    this.lastEndUs.set(entry, now);
  }

  moved(now: number, entry: number, node: number, from: number, to: number, reason: MoveReason): void {
    this.moves.push({ timeUs: now, entry, node, from, to, reason });
    if (reason === MOVE_RESULT && to !== NO_POOL && this.config.pools[to]?.requiresProven) {
      const streak = this.monitor.passStreak(entry);
      if (this.flagged.has(entry) && streak < this.config.flap.passesToReturn) this.problems.push(`entry ${entry} returned to ${to} after ${streak} passes while flagged`);
      if (this.monitor.isFlapping(entry)) this.problems.push(`entry ${entry} entered a proven-only pool still flapping`);
      this.flagged.delete(entry);
    }
  }

  flapChanged(_now: number, entry: number, _node: number, change: FlapChange): void {
    if (change === FLAP_START) this.flagged.add(entry);
  }

  /** Runs until `untilUs`, closing the load gate over the given spans. */
  run(untilUs: number, gateSpans: readonly [number, number][] = []): void {
    const toggles = gateSpans.flatMap(([a, b]) => [{ at: a, closed: true }, { at: b, closed: false }]).sort((x, y) => x.at - y.at);
    this.monitor.poll(this.now);
    for (let steps = 0; steps < 1_000_000; steps++) {
      this.pending.sort((a, b) => a.at - b.at || a.entry - b.entry);
      const next = Math.min(this.pending[0]?.at ?? Infinity, this.monitor.nextWakeUs(), toggles[0]?.at ?? Infinity);
      if (next > untilUs) return;
      this.now = Math.max(this.now, next);
      while (toggles.length > 0 && (toggles[0] as { at: number }).at <= this.now) {
        const t = toggles.shift() as { closed: boolean };
        this.monitor.setPaused(t.closed);
        if (t.closed) this.gateClosedEver = true;
      }
      while (this.pending.length > 0 && (this.pending[0] as { at: number }).at <= this.now) {
        const r = this.pending.shift() as { entry: number; attempt: number; passed: boolean };
        this.monitor.testDone(this.now, r.entry, r.attempt, r.passed);
      }
      this.monitor.poll(this.now);
    }
    throw new Error("harness: too many steps");
  }
}
