import type { Micros } from "../engine/time.js";

/**
 * The central sweep (every five minutes in CoDeeN's practice): each node's watchdog reports in; a
 * node whose watchdog has been silent longer than `silentAfterUs`, or that reports a process it
 * gave up on, gets everything on it restarted. The sweep also reconciles versions: a node that
 * reports a version other than the one wanted for it (it was down during a rollout or a rollback)
 * is brought to it, a few nodes per sweep, and only while no rollout is running.
 */
export interface SweepConfig {
  readonly intervalUs: Micros;
  readonly silentAfterUs: Micros;
  /** Nodes reconciled per sweep at most: each is stopped while its files change. */
  readonly reconcileMax: number;
  readonly nodesMax: number;
}

const SEC = 1_000_000;
export const SWEEP_NODES_MAX = 1 << 22;

export function defaultSweepConfig(nodesMax: number, overrides: Partial<SweepConfig> = {}): SweepConfig {
  return { intervalUs: 300 * SEC, silentAfterUs: 300 * SEC, reconcileMax: 1, nodesMax, ...overrides };
}

export function checkSweepConfig(c: SweepConfig): string | null {
  for (const [name, v] of [["intervalUs", c.intervalUs], ["silentAfterUs", c.silentAfterUs]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) return `${name}: expected whole microseconds above 0, got ${v}`;
  }
  if (!Number.isInteger(c.reconcileMax) || c.reconcileMax < 0) return `reconcileMax: expected a whole number, got ${c.reconcileMax}`;
  if (!Number.isInteger(c.nodesMax) || c.nodesMax < 1 || c.nodesMax > SWEEP_NODES_MAX) return `nodesMax: expected 1 to ${SWEEP_NODES_MAX}, got ${c.nodesMax}`;
  return null;
}

export const RESTART_SILENT = 0;
export const RESTART_GAVE_UP = 1;
export type RestartReason = typeof RESTART_SILENT | typeof RESTART_GAVE_UP;
export const RESTART_REASON_NAMES = ["silent", "gave-up"] as const;

export interface SweepPort {
  /** Restart everything on the node (the watchdog included). */
  restartNode(now: Micros, node: number, reason: RestartReason): void;
  /** Bring the node's files to `version` (stop, put in place, restart). */
  reconcile(now: Micros, node: number, from: number, to: number): void;
}

export class Sweep {
  private readonly lastReportUs: Float64Array;
  private readonly gaveUp: Uint8Array;
  private readonly version: Int32Array;
  private readonly wanted: Int32Array;
  private readonly known: Uint8Array;
  private nextSweepUs = 0;
  /** A rollout holds the nodes' versions: no reconciling meanwhile. */
  rolloutActive = false;
  sweeps = 0;
  restarts = 0;
  reconciles = 0;

  constructor(
    readonly config: SweepConfig,
    private readonly port: SweepPort,
  ) {
    const problem = checkSweepConfig(config);
    if (problem !== null) throw new Error(`sweep config: ${problem}`);
    const n = config.nodesMax;
    this.lastReportUs = new Float64Array(n);
    this.gaveUp = new Uint8Array(n);
    this.version = new Int32Array(n).fill(-1);
    this.wanted = new Int32Array(n).fill(-1);
    this.known = new Uint8Array(n);
  }

  /** A node joins the sweep; it has silentAfterUs from now to report. */
  add(now: Micros, node: number, wanted: number): void {
    this.known[node] = 1;
    this.lastReportUs[node] = now;
    this.wanted[node] = wanted;
  }

  start(now: Micros): void {
    this.nextSweepUs = now + this.config.intervalUs;
  }

  /** A watchdog's report: it is alive, whether it gave up on a process, and the version it runs. */
  reported(reportUs: Micros, node: number, gaveUp: boolean, version: number): void {
    if (this.known[node] === 0 || reportUs < (this.lastReportUs[node] as number)) return;
    this.lastReportUs[node] = reportUs;
    this.gaveUp[node] = gaveUp ? 1 : 0;
    this.version[node] = version;
  }

  setWanted(node: number, version: number): void {
    this.wanted[node] = version;
  }

  wantedOf(node: number): number {
    return this.wanted[node] as number;
  }

  lastReportOf(node: number): Micros {
    return this.lastReportUs[node] as number;
  }

  nextWakeUs(): Micros {
    return this.nextSweepUs;
  }

  poll(now: Micros): void {
    if (now < this.nextSweepUs) return;
    this.sweeps++;
    let reconciled = 0;
    for (let n = 0; n < this.config.nodesMax; n++) {
      if (this.known[n] === 0) continue;
      if (now - (this.lastReportUs[n] as number) > this.config.silentAfterUs) this.restart(now, n, RESTART_SILENT);
      else if (this.gaveUp[n] === 1) this.restart(now, n, RESTART_GAVE_UP);
      else if (!this.rolloutActive && reconciled < this.config.reconcileMax && this.version[n] !== -1 && this.version[n] !== this.wanted[n]) {
        reconciled++;
        this.reconciles++;
        // Counted as the wanted version until the node says otherwise, so it is not asked twice.
        const from = this.version[n] as number;
        this.version[n] = this.wanted[n] as number;
        this.port.reconcile(now, n, from, this.wanted[n] as number);
      }
    }
    this.nextSweepUs = now + this.config.intervalUs;
  }

  private restart(now: Micros, n: number, reason: RestartReason): void {
    this.restarts++;
    this.gaveUp[n] = 0;
    // Give the restarted node a full silence period to report before it is restarted again.
    this.lastReportUs[n] = now;
    this.port.restartNode(now, n, reason);
  }
}
