import type { Micros } from "../engine/time.js";
import type { Rng } from "../engine/rng.js";
import { backoff, backoffWithJitterUs, checkBackoff, type Backoff } from "../monitor/backoff.js";

/**
 * The watchdog on each node: a declared set of processes, each kept running. A process that exits,
 * or fails its liveness check `checkFailuresMax` times in a row, is restarted after the monitor's
 * backoff, counted in consecutive failures; a run of `stableUs` resets the count. After
 * `failuresMax` failures in a row it gives up on the process, and says so in every report rather
 * than stopping silently (systemd's start limit stops silently; users were caught by it). The
 * watchdog itself reports in every `reportEveryUs`, which is what the central sweep watches.
 */
export interface WatchdogConfig {
  readonly processes: number;
  readonly restartBackoff: Backoff;
  readonly failuresMax: number;
  readonly stableUs: Micros;
  readonly checkFailuresMax: number;
  readonly reportEveryUs: Micros;
}

export const PROCESSES_MAX = 64;
const SEC = 1_000_000;
/** Failures in a row before giving up, at most (a larger limit is a typo: restarts would go on for days). */
export const WATCHDOG_FAILURES_MAX = 1_000;

/** 1 s doubling to 5 min (Kubernetes' CrashLoopBackOff shape from a shorter start), a stable run of 10 min resets it, give up after 8. */
export function defaultWatchdogConfig(processes: number, overrides: Partial<WatchdogConfig> = {}): WatchdogConfig {
  return {
    processes,
    restartBackoff: backoff("exponential", { stepUs: SEC, factor: 2, capUs: 300 * SEC, jitterUs: SEC / 2 }),
    failuresMax: 8,
    stableUs: 600 * SEC,
    checkFailuresMax: 3,
    reportEveryUs: 60 * SEC,
    ...overrides,
  };
}

export function checkWatchdogConfig(c: WatchdogConfig): string | null {
  if (!Number.isInteger(c.processes) || c.processes < 1 || c.processes > PROCESSES_MAX) return `processes: expected 1 to ${PROCESSES_MAX}, got ${c.processes}`;
  const b = checkBackoff(c.restartBackoff);
  if (b !== null) return `restartBackoff.${b}`;
  if (!Number.isInteger(c.failuresMax) || c.failuresMax < 1 || c.failuresMax > WATCHDOG_FAILURES_MAX) return `failuresMax: expected 1 to ${WATCHDOG_FAILURES_MAX}, got ${c.failuresMax}`;
  if (!Number.isInteger(c.checkFailuresMax) || c.checkFailuresMax < 1 || c.checkFailuresMax > 1_000) return `checkFailuresMax: expected 1 to 1000, got ${c.checkFailuresMax}`;
  for (const [name, v] of [["stableUs", c.stableUs], ["reportEveryUs", c.reportEveryUs]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) return `${name}: expected whole microseconds above 0, got ${v}`;
  }
  return null;
}

export const PROC_STOPPED = 0;
export const PROC_RUNNING = 1;
export const PROC_WAITING = 2;
export const PROC_GAVE_UP = 3;
export type ProcState = typeof PROC_STOPPED | typeof PROC_RUNNING | typeof PROC_WAITING | typeof PROC_GAVE_UP;
export const PROC_STATE_NAMES = ["stopped", "running", "waiting", "gave-up"] as const;

export interface WatchdogReport {
  readonly running: number;
  readonly waiting: number;
  readonly gaveUp: number;
  readonly restarts: number;
}

export interface WatchdogPort {
  /** Start the process now; if it cannot start, report that with `exited`. */
  startProcess(now: Micros, proc: number): void;
  /** Stop it (it failed its checks, or everything is being stopped); no `exited` is expected for it. */
  stopProcess(now: Micros, proc: number): void;
  /** The watchdog reports in to the controller. */
  report(now: Micros, report: WatchdogReport): void;
  gaveUp(now: Micros, proc: number, failures: number): void;
}

export class Watchdog {
  private readonly state: Uint8Array;
  private readonly failures: Uint32Array;
  private readonly checkFailures: Uint32Array;
  private readonly startedUs: Float64Array;
  private readonly dueUs: Float64Array;
  private nextReportUs = Infinity;
  /** Restarts after a failure, since the watchdog was made. */
  restarts = 0;

  constructor(
    readonly config: WatchdogConfig,
    private readonly port: WatchdogPort,
    private readonly rng: Rng,
  ) {
    const problem = checkWatchdogConfig(config);
    if (problem !== null) throw new Error(`watchdog config: ${problem}`);
    const n = config.processes;
    this.state = new Uint8Array(n);
    this.failures = new Uint32Array(n);
    this.checkFailures = new Uint32Array(n);
    this.startedUs = new Float64Array(n);
    this.dueUs = new Float64Array(n).fill(Infinity);
  }

  stateOf(proc: number): ProcState {
    return this.state[proc] as ProcState;
  }

  failuresOf(proc: number): number {
    return this.failures[proc] as number;
  }

  /** Starts every process (the watchdog itself just started, or everything restarts): give-ups and counts are cleared. */
  startAll(now: Micros): void {
    for (let p = 0; p < this.config.processes; p++) {
      if (this.state[p] === PROC_RUNNING) this.port.stopProcess(now, p);
      this.failures[p] = 0;
      this.launch(now, p);
    }
    this.nextReportUs = now;
    this.poll(now);
  }

  /** Stops every process on purpose (a rollout's stop): nothing is restarted until startAll. */
  stopAll(now: Micros): void {
    for (let p = 0; p < this.config.processes; p++) {
      if (this.state[p] === PROC_RUNNING) this.port.stopProcess(now, p);
      this.state[p] = PROC_STOPPED;
      this.dueUs[p] = Infinity;
    }
  }

  /** The process exited (or could not start). Ignored unless it was meant to be running. */
  exited(now: Micros, proc: number): void {
    if (this.state[proc] !== PROC_RUNNING) return;
    this.failed(now, proc);
  }

  /** A liveness check's result (process alive, a command, a TCP probe). */
  checked(now: Micros, proc: number, ok: boolean): void {
    if (this.state[proc] !== PROC_RUNNING) return;
    if (ok) {
      this.checkFailures[proc] = 0;
      return;
    }
    this.checkFailures[proc] = (this.checkFailures[proc] as number) + 1;
    if ((this.checkFailures[proc] as number) < this.config.checkFailuresMax) return;
    this.port.stopProcess(now, proc);
    this.failed(now, proc);
  }

  /** Restarts that are due, and the report if it is due. */
  poll(now: Micros): void {
    // dueUs is finite only while a process waits for its restart.
    for (let p = 0; p < this.config.processes; p++) {
      if ((this.dueUs[p] as number) <= now) {
        this.restarts++;
        this.launch(now, p);
      }
    }
    if (now >= this.nextReportUs) {
      this.port.report(now, this.summary());
      this.nextReportUs = now + this.config.reportEveryUs;
    }
  }

  nextWakeUs(): Micros {
    return Math.min(this.nextReportUs, this.nextRestartUs());
  }

  /** The earliest restart due, without the report (a simulator that models reports on its own wakes only for these). */
  nextRestartUs(): Micros {
    let wake = Infinity;
    for (let p = 0; p < this.config.processes; p++) if ((this.dueUs[p] as number) < wake) wake = this.dueUs[p] as number;
    return wake;
  }

  summary(): WatchdogReport {
    let running = 0;
    let waiting = 0;
    let gaveUp = 0;
    for (let p = 0; p < this.config.processes; p++) {
      if (this.state[p] === PROC_RUNNING) running++;
      else if (this.state[p] === PROC_WAITING) waiting++;
      else if (this.state[p] === PROC_GAVE_UP) gaveUp++;
    }
    return { running, waiting, gaveUp, restarts: this.restarts };
  }

  /** Every declared process is running. */
  get allRunning(): boolean {
    for (let p = 0; p < this.config.processes; p++) if (this.state[p] !== PROC_RUNNING) return false;
    return true;
  }

  private launch(now: Micros, p: number): void {
    this.state[p] = PROC_RUNNING;
    this.checkFailures[p] = 0;
    this.startedUs[p] = now;
    this.dueUs[p] = Infinity;
    this.port.startProcess(now, p);
  }

  private failed(now: Micros, p: number): void {
    const ranStable = now - (this.startedUs[p] as number) >= this.config.stableUs;
    this.failures[p] = ranStable ? 1 : (this.failures[p] as number) + 1;
    const failures = this.failures[p] as number;
    if (failures >= this.config.failuresMax) {
      this.state[p] = PROC_GAVE_UP;
      this.dueUs[p] = Infinity;
      this.port.gaveUp(now, p, failures);
      return;
    }
    this.state[p] = PROC_WAITING;
    this.dueUs[p] = now + backoffWithJitterUs(this.config.restartBackoff, failures, this.rng);
  }
}
