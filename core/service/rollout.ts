import type { Micros } from "../engine/time.js";
import type { Rng } from "../engine/rng.js";
import { backoff, backoffWithJitterUs, checkBackoff, type Backoff } from "../monitor/backoff.js";
import { batchFailed, batchSizes, checkBatchSteps, type BatchStep } from "./batches.js";

/**
 * A staged rollout to a list of target nodes (one node, a node set or a whole experiment): copy the
 * new files to every target first (nothing changes on a node yet), then batch by batch, on each
 * node stop, put the changed files in place and restart (or, for state that changes without a
 * restart, put it in place only), at most `maxParallel` at once. A node the rollout may have made
 * unavailable counts against `maxUnavailable` until it is healthy again, as do nodes known to be
 * down; no operation starts that would go over it. A batch whose failures exceed `maxFailPct` of it
 * (per batch, not cumulative), or failures in total above `maxFailTotal` (the creep that a per-batch
 * rule misses), or no progress for `progressDeadlineUs` (restarted by every node that becomes
 * healthy, as Nomad's) aborts the rollout: in-flight operations are awaited, then every node that
 * was changed is put back to the old files, with retries. Nodes are indices 0..targets-1. The
 * adapter must carry out one node's operations in the order they were issued (an agent serves a
 * connection's requests one after another), so a rollback never overtakes the apply it undoes.
 */
export interface RolloutConfig {
  readonly targets: number;
  readonly batches: readonly BatchStep[];
  readonly maxParallel: number;
  readonly maxFailPct: number;
  readonly maxFailTotal: number;
  readonly maxUnavailable: number;
  readonly progressDeadlineUs: Micros;
  /** A stage or apply not answered by then has failed (its late answer is ignored). */
  readonly opTimeoutUs: Micros;
  /** False: the change is state that is put in place without stopping the service. */
  readonly restart: boolean;
  readonly stageAttemptsMax: number;
  readonly rollbackAttemptsMax: number;
  readonly retryBackoff: Backoff;
}

export const ROLLOUT_TARGETS_MAX = 1 << 20;
const SEC = 1_000_000;

/** Kubernetes' and Nomad's defaults where they exist: deadline 10 min, one at a time; no failure tolerated. */
export function defaultRolloutConfig(targets: number, overrides: Partial<RolloutConfig> = {}): RolloutConfig {
  return {
    targets,
    batches: [1, "25%"],
    maxParallel: 1,
    maxFailPct: 0,
    maxFailTotal: 0,
    maxUnavailable: Math.max(1, Math.floor(targets / 4)),
    progressDeadlineUs: 600 * SEC,
    opTimeoutUs: 120 * SEC,
    restart: true,
    stageAttemptsMax: 3,
    rollbackAttemptsMax: 5,
    retryBackoff: backoff("exponential", { stepUs: 2 * SEC, factor: 2, capUs: 60 * SEC }),
    ...overrides,
  };
}

export function checkRolloutConfig(c: RolloutConfig): string | null {
  if (!Number.isInteger(c.targets) || c.targets < 1 || c.targets > ROLLOUT_TARGETS_MAX) return `targets: expected 1 to ${ROLLOUT_TARGETS_MAX}, got ${c.targets}`;
  const b = checkBatchSteps(c.batches);
  if (b !== null) return `batches: ${b}`;
  const whole = (name: string, v: number, min: number): string | null => (Number.isSafeInteger(v) && v >= min ? null : `${name}: expected a whole number of at least ${min}, got ${v}`);
  const problem =
    whole("maxParallel", c.maxParallel, 1) ??
    whole("maxFailTotal", c.maxFailTotal, 0) ??
    whole("maxUnavailable", c.maxUnavailable, 1) ??
    whole("progressDeadlineUs", c.progressDeadlineUs, 1) ??
    whole("opTimeoutUs", c.opTimeoutUs, 1) ??
    whole("stageAttemptsMax", c.stageAttemptsMax, 1) ??
    whole("rollbackAttemptsMax", c.rollbackAttemptsMax, 1);
  if (problem !== null) return problem;
  if (!Number.isFinite(c.maxFailPct) || c.maxFailPct < 0 || c.maxFailPct > 100) return `maxFailPct: expected 0 to 100, got ${c.maxFailPct}`;
  const r = checkBackoff(c.retryBackoff);
  return r === null ? null : `retryBackoff.${r}`;
}

export const N_PENDING = 0;
export const N_STAGING = 1;
export const N_STAGED = 2;
export const N_STAGE_FAILED = 3;
export const N_APPLYING = 4;
export const N_DONE = 5;
export const N_FAILED = 6;
export const N_RB_WAIT = 7;
export const N_RB_APPLYING = 8;
export const N_RB_DONE = 9;
export const N_RB_FAILED = 10;
export const NODE_PHASE_NAMES = ["pending", "staging", "staged", "stage-failed", "applying", "done", "failed", "rollback-wait", "rolling-back", "rolled-back", "rollback-failed"] as const;

export type RolloutState = "new" | "staging" | "switching" | "aborting" | "rolling-back" | "done" | "rolled-back" | "rollback-incomplete";
export const FINAL_STATES: readonly RolloutState[] = ["done", "rolled-back", "rollback-incomplete"];

export interface RolloutPort {
  /** Copy the new files to the node; nothing on it changes yet. Answer with `staged`. */
  stage(now: Micros, node: number, op: number): void;
  /** Stop, put the new (or, `toNew` false, the old) files in place, restart, verify. Answer with `applied`. */
  apply(now: Micros, node: number, toNew: boolean, op: number): void;
  stateChanged(now: Micros, state: RolloutState, reason: string): void;
  /** A batch has started (index, first target, size). */
  batchStarted(now: Micros, batch: number, first: number, size: number): void;
  /** A batch has settled with this many failures. */
  batchSettled(now: Micros, batch: number, failed: number): void;
}

export class Rollout {
  readonly sizes: number[];
  private readonly phase: Uint8Array;
  private readonly op: Uint32Array;
  private readonly attempts: Uint8Array;
  private readonly deadlineUs: Float64Array;
  private readonly dueUs: Float64Array;
  /** The node got an apply (it may hold the new files, or be stopped). */
  private readonly changed: Uint8Array;
  /** The rollout may have made the node unavailable, and has not seen it healthy since. */
  private readonly unavailable: Uint8Array;
  private readonly down: Uint8Array;
  private unavailableCount = 0;
  private downCount = 0;
  private inFlight = 0;
  private opSeq = 0;
  private batch = -1;
  private batchFirst = 0;
  private batchNext = 0;
  private lastProgressUs = 0;
  /** Dues at or before the last poll are waiting for capacity, which only an answer or a time-out frees. */
  private lastPollUs = -1;
  state: RolloutState = "new";
  reason = "";
  failedTotal = 0;
  staleAnswers = 0;
  /** Most nodes the rollout held unavailable (with the known-down ones) at once. */
  maxUnavailableSeen = 0;

  constructor(
    readonly config: RolloutConfig,
    private readonly port: RolloutPort,
    private readonly rng: Rng,
  ) {
    const problem = checkRolloutConfig(config);
    if (problem !== null) throw new Error(`rollout config: ${problem}`);
    const n = config.targets;
    this.sizes = batchSizes(n, config.batches);
    this.phase = new Uint8Array(n);
    this.op = new Uint32Array(n);
    this.attempts = new Uint8Array(n);
    this.deadlineUs = new Float64Array(n).fill(Infinity);
    this.dueUs = new Float64Array(n).fill(Infinity);
    this.changed = new Uint8Array(n);
    this.unavailable = new Uint8Array(n);
    this.down = new Uint8Array(n);
  }

  phaseOf(node: number): number {
    return this.phase[node] as number;
  }

  get finished(): boolean {
    return FINAL_STATES.includes(this.state);
  }

  get currentBatch(): number {
    return this.batch;
  }

  /** Nodes counted unavailable now: those the rollout may have taken down, and those known down. */
  get unavailableNow(): number {
    return this.unavailableCount + this.downCount;
  }

  /**
   * The node is known to be down (or back up) for reasons of its own. Returns true when a node came
   * back, which may free room for a waiting operation: the caller then polls.
   */
  setDown(node: number, isDown: boolean): boolean {
    const v = isDown ? 1 : 0;
    if (this.down[node] === v) return false;
    this.down[node] = v;
    if (this.unavailable[node] === 0) this.downCount += isDown ? 1 : -1;
    return !isDown;
  }

  start(now: Micros): void {
    if (this.state !== "new") return;
    this.lastProgressUs = now;
    this.setState(now, "staging", "");
    this.poll(now);
  }

  staged(now: Micros, node: number, op: number, ok: boolean): void {
    if (this.phase[node] !== N_STAGING || this.op[node] !== op) {
      this.staleAnswers++;
      return;
    }
    this.endOp(node);
    if (ok) {
      this.phase[node] = N_STAGED;
      this.lastProgressUs = now;
    } else this.stageFailed(now, node);
    this.poll(now);
  }

  applied(now: Micros, node: number, op: number, ok: boolean): void {
    const p = this.phase[node];
    if ((p !== N_APPLYING && p !== N_RB_APPLYING) || this.op[node] !== op) {
      this.staleAnswers++;
      return;
    }
    this.endOp(node);
    if (p === N_APPLYING) this.applyDone(now, node, ok);
    else this.rollbackDone(now, node, ok);
    this.poll(now);
  }

  nextWakeUs(): Micros {
    if (this.finished || this.state === "new") return Infinity;
    // The progress deadline, unless a poll at or after it could not act on it: rolling back with an
    // operation still out, the rollout gives up only once that operation ends (its answer or its
    // own deadline wakes it); waking at the passed deadline again would wake it forever at one time.
    const progressUs = this.lastProgressUs + this.config.progressDeadlineUs;
    let wake = this.state === "aborting" || progressUs <= this.lastPollUs ? Infinity : progressUs;
    for (let n = 0; n < this.config.targets; n++) {
      const d = this.deadlineUs[n] as number;
      if (d < wake) wake = d;
      const due = this.dueUs[n] as number;
      if (due < wake && due > this.lastPollUs) wake = due;
    }
    return wake;
  }

  /** Time-outs, the progress deadline, and whatever operations may start now. */
  poll(now: Micros): void {
    if (this.finished || this.state === "new") return;
    this.lastPollUs = now;
    this.expire(now);
    if ((this.state === "staging" || this.state === "switching") && now - this.lastProgressUs >= this.config.progressDeadlineUs) {
      this.abort(now, `progress deadline: nothing became healthy for ${this.config.progressDeadlineUs / SEC} s`);
    }
    if (this.state === "staging") this.pumpStaging(now);
    if (this.state === "switching") this.pumpSwitching(now);
    if (this.state === "aborting" && this.inFlight === 0) this.beginRollback(now);
    if (this.state === "rolling-back" && this.inFlight === 0 && now - this.lastProgressUs >= this.config.progressDeadlineUs) this.giveUpRollback();
    if (this.state === "rolling-back") this.pumpRollback(now);
  }

  private expire(now: Micros): void {
    for (let n = 0; n < this.config.targets; n++) {
      if ((this.deadlineUs[n] as number) > now) continue;
      const p = this.phase[n];
      this.endOp(n);
      this.op[n] = (this.op[n] as number) + 1; // a late answer is now stale
      if (p === N_STAGING) this.stageFailed(now, n);
      else if (p === N_APPLYING) this.applyDone(now, n, false);
      else if (p === N_RB_APPLYING) this.rollbackDone(now, n, false);
    }
  }

  private pumpStaging(now: Micros): void {
    const n = this.config.targets;
    for (let i = 0; i < n && this.inFlight < this.config.maxParallel; i++) {
      const p = this.phase[i];
      if (p === N_PENDING || (p === N_STAGE_FAILED && this.attempts[i]! < this.config.stageAttemptsMax && (this.dueUs[i] as number) <= now)) {
        this.phase[i] = N_STAGING;
        this.attempts[i] = this.attempts[i]! + 1;
        this.dueUs[i] = Infinity;
        this.issue(now, i, () => this.port.stage(now, i, this.op[i] as number));
      }
    }
    for (let i = 0; i < n; i++) {
      const p = this.phase[i];
      if (p === N_PENDING || p === N_STAGING || (p === N_STAGE_FAILED && this.attempts[i]! < this.config.stageAttemptsMax)) return;
    }
    this.setState(now, "switching", "");
    this.lastProgressUs = now;
    this.nextBatch(now);
  }

  private nextBatch(now: Micros): void {
    this.batch++;
    if (this.batch >= this.sizes.length) {
      this.setState(now, "done", this.failedTotal === 0 ? "" : `${this.failedTotal} targets not updated`);
      return;
    }
    this.batchFirst = this.batchNext = this.sizes.slice(0, this.batch).reduce((a, b) => a + b, 0);
    this.port.batchStarted(now, this.batch, this.batchFirst, this.sizes[this.batch] as number);
  }

  private pumpSwitching(now: Micros): void {
    for (;;) {
      const size = this.sizes[this.batch] as number;
      const end = this.batchFirst + size;
      while (this.batchNext < end && this.inFlight < this.config.maxParallel) {
        const i = this.batchNext;
        if (this.phase[i] === N_STAGE_FAILED) {
          this.batchNext++;
          this.failedTotal++;
          continue;
        }
        if (!this.affordable(i)) break;
        this.batchNext++;
        this.phase[i] = N_APPLYING;
        this.changed[i] = 1;
        this.markUnavailable(i);
        this.issue(now, i, () => this.port.apply(now, i, true, this.op[i] as number));
      }
      const failed = this.failuresIn(this.batchFirst, this.batchNext);
      const where = `batch ${this.batch + 1} of ${this.sizes.length}`;
      if (batchFailed(failed, size, this.config.maxFailPct)) {
        this.abort(now, `${where}: ${failed} of ${size} targets failed, more than ${this.config.maxFailPct}% of the batch`);
        return;
      }
      if (this.failedTotal > this.config.maxFailTotal) {
        this.abort(now, `${where}: ${this.failedTotal} failures in all, more than ${this.config.maxFailTotal}`);
        return;
      }
      if (this.batchNext < end || this.inFlight > 0) return;
      this.port.batchSettled(now, this.batch, failed);
      this.nextBatch(now);
      if (this.state !== "switching") return;
    }
  }

  private pumpRollback(now: Micros): void {
    let pending = false;
    for (let i = 0; i < this.config.targets; i++) {
      const p = this.phase[i];
      if (p === N_RB_APPLYING) pending = true;
      if (p !== N_RB_WAIT) continue;
      pending = true;
      if ((this.dueUs[i] as number) > now || this.inFlight >= this.config.maxParallel || !this.affordable(i)) continue;
      this.phase[i] = N_RB_APPLYING;
      this.attempts[i] = this.attempts[i]! + 1;
      this.dueUs[i] = Infinity;
      this.markUnavailable(i);
      this.issue(now, i, () => this.port.apply(now, i, false, this.op[i] as number));
    }
    if (pending) return;
    let failed = 0;
    for (let i = 0; i < this.config.targets; i++) if (this.phase[i] === N_RB_FAILED) failed++;
    if (failed === 0) this.setState(now, "rolled-back", this.reason);
    else this.setState(now, "rollback-incomplete", `${this.reason}; ${failed} targets could not be rolled back`);
  }

  /**
   * Nodes still waiting to be rolled back when the rollback has made no progress for a deadline (the
   * unavailability budget is held by nodes it could not restore, or known-down ones): left for the
   * controller to reconcile, and the rollout ends incomplete rather than never.
   */
  private giveUpRollback(): void {
    for (let i = 0; i < this.config.targets; i++) if (this.phase[i] === N_RB_WAIT) this.phase[i] = N_RB_FAILED;
  }

  private failuresIn(first: number, end: number): number {
    let failed = 0;
    for (let i = first; i < end; i++) if (this.phase[i] === N_FAILED || this.phase[i] === N_STAGE_FAILED) failed++;
    return failed;
  }

  /** Would starting an operation on node i keep the unavailable count within the limit? */
  private affordable(i: number): boolean {
    if (!this.config.restart || this.unavailable[i] === 1 || this.down[i] === 1) return true;
    return this.unavailableNow + 1 <= this.config.maxUnavailable;
  }

  private markUnavailable(i: number): void {
    if (!this.config.restart || this.unavailable[i] === 1) return;
    this.unavailable[i] = 1;
    this.unavailableCount++;
    if (this.down[i] === 1) this.downCount--;
    if (this.unavailableNow > this.maxUnavailableSeen) this.maxUnavailableSeen = this.unavailableNow;
  }

  private markHealthy(i: number): void {
    if (this.unavailable[i] === 0) return;
    this.unavailable[i] = 0;
    this.unavailableCount--;
    if (this.down[i] === 1) this.downCount++;
  }

  private issue(now: Micros, i: number, send: () => void): void {
    this.op[i] = ++this.opSeq;
    this.deadlineUs[i] = now + this.config.opTimeoutUs;
    this.inFlight++;
    send();
  }

  private endOp(i: number): void {
    if (this.deadlineUs[i] === Infinity) return;
    this.deadlineUs[i] = Infinity;
    this.inFlight--;
  }

  private stageFailed(now: Micros, i: number): void {
    this.phase[i] = N_STAGE_FAILED;
    this.dueUs[i] = this.attempts[i]! < this.config.stageAttemptsMax ? now + backoffWithJitterUs(this.config.retryBackoff, this.attempts[i]!, this.rng) : Infinity;
  }

  private applyDone(now: Micros, i: number, ok: boolean): void {
    if (ok) {
      this.phase[i] = N_DONE;
      this.markHealthy(i);
      this.lastProgressUs = now;
    } else {
      this.phase[i] = N_FAILED;
      this.failedTotal++;
    }
  }

  private rollbackDone(now: Micros, i: number, ok: boolean): void {
    if (ok) {
      this.phase[i] = N_RB_DONE;
      this.markHealthy(i);
      this.lastProgressUs = now;
    } else if (this.attempts[i]! < this.config.rollbackAttemptsMax) {
      this.phase[i] = N_RB_WAIT;
      this.dueUs[i] = now + backoffWithJitterUs(this.config.retryBackoff, this.attempts[i]!, this.rng);
    } else this.phase[i] = N_RB_FAILED;
  }

  private abort(now: Micros, reason: string): void {
    this.reason = reason;
    for (let i = 0; i < this.config.targets; i++) this.dueUs[i] = Infinity;
    this.setState(now, "aborting", reason);
    if (this.inFlight === 0) this.beginRollback(now);
  }

  private beginRollback(now: Micros): void {
    this.setState(now, "rolling-back", this.reason);
    this.lastProgressUs = now;
    for (let i = 0; i < this.config.targets; i++) {
      if (this.changed[i] === 0) continue;
      this.phase[i] = N_RB_WAIT;
      this.attempts[i] = 0;
      this.dueUs[i] = now;
    }
  }

  private setState(now: Micros, state: RolloutState, reason: string): void {
    this.state = state;
    this.reason = reason;
    this.port.stateChanged(now, state, reason);
  }
}
