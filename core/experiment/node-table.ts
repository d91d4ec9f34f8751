import type { Micros } from "../engine/time.js";

/** A node's place in a swap. Swap-in: waiting, loading, booting, setup, ready; swap-out: saving, releasing, released. */
export const NODE_PHASES = ["waiting", "loading", "booting", "setup", "ready", "failed", "saving", "releasing", "released", "kept"] as const;
export type NodePhase = (typeof NODE_PHASES)[number];

export const WAITING = 0;
export const LOADING = 1;
export const BOOTING = 2;
export const SETUP = 3;
export const READY = 4;
export const FAILED = 5;
export const SAVING = 6;
export const RELEASING = 7;
export const RELEASED = 8;
/** A node whose disk could not be saved: kept, not released, so nothing of it is lost. */
export const KEPT = 9;

/** What a portal or a summary shows of one node. */
export interface NodeView {
  readonly node: number;
  readonly name: string;
  readonly pnode: number;
  readonly phase: NodePhase;
  readonly attempt: number;
  readonly bytesWritten: number;
  readonly imageBytes: number;
  /** Seconds of load left as the image server estimates it; null when not known. */
  readonly secondsLeft: number | null;
  /** When the last progress report came (machine time), or null. */
  readonly lastReportUs: Micros | null;
  readonly reason: string | null;
}

/**
 * Per-node state of one swap, in typed arrays: a 5,000-node swap-in is a few hundred kilobytes
 * and no object per node. Times are machine microseconds; NaN means "not yet".
 */
export class NodeTable {
  readonly phase: Uint8Array;
  readonly pnode: Int32Array;
  readonly attempt: Uint16Array;
  readonly sinceUs: Float64Array;
  /** Load budget end, for the deadline that progress reports cannot extend. */
  readonly budgetEndUs: Float64Array;
  readonly lastReportUs: Float64Array;
  readonly bytesWritten: Float64Array;
  readonly secondsLeft: Float64Array;
  readonly entry: Int32Array;
  readonly loadStartUs: Float64Array;
  readonly loadedUs: Float64Array;
  readonly bootedUs: Float64Array;
  readonly readyUs: Float64Array;
  /**
   * When k nodes were first loaded (ready) at the same time, at index k; NaN until then. A node given
   * to a spare drops out of the count but never moves these back: a milestone once passed stays
   * passed at its own time, whenever anyone looks (the demo's lines, however its ticks fall).
   */
  readonly loadedReachedUs: Float64Array;
  readonly readyReachedUs: Float64Array;
  private loadedNow = 0;
  private readyNow = 0;
  readonly reasons = new Map<number, string>();

  constructor(readonly count: number) {
    this.phase = new Uint8Array(count);
    this.pnode = Int32Array.from({ length: count }, (_, i) => i);
    this.attempt = new Uint16Array(count);
    this.sinceUs = new Float64Array(count);
    this.budgetEndUs = new Float64Array(count);
    this.lastReportUs = new Float64Array(count).fill(NaN);
    this.bytesWritten = new Float64Array(count);
    this.secondsLeft = new Float64Array(count).fill(NaN);
    this.entry = new Int32Array(count).fill(-1);
    this.loadStartUs = new Float64Array(count).fill(NaN);
    this.loadedUs = new Float64Array(count).fill(NaN);
    this.bootedUs = new Float64Array(count).fill(NaN);
    this.readyUs = new Float64Array(count).fill(NaN);
    this.loadedReachedUs = new Float64Array(count + 1).fill(NaN);
    this.readyReachedUs = new Float64Array(count + 1).fill(NaN);
  }

  markLoaded(node: number, now: number): void {
    if (Number.isNaN(this.loadedUs[node] as number)) {
      this.loadedNow++;
      if (Number.isNaN(this.loadedReachedUs[this.loadedNow] as number)) this.loadedReachedUs[this.loadedNow] = now;
    }
    this.loadedUs[node] = now;
  }

  markReady(node: number, now: number): void {
    if (Number.isNaN(this.readyUs[node] as number)) {
      this.readyNow++;
      if (Number.isNaN(this.readyReachedUs[this.readyNow] as number)) this.readyReachedUs[this.readyNow] = now;
    }
    this.readyUs[node] = now;
  }

  /** Forgets what a former physical node did, when a spare takes over. */
  resetProgress(node: number): void {
    this.lastReportUs[node] = NaN;
    this.bytesWritten[node] = 0;
    this.secondsLeft[node] = NaN;
    this.loadStartUs[node] = NaN;
    if (!Number.isNaN(this.loadedUs[node] as number)) this.loadedNow--;
    if (!Number.isNaN(this.readyUs[node] as number)) this.readyNow--;
    this.loadedUs[node] = NaN;
    this.bootedUs[node] = NaN;
    this.readyUs[node] = NaN;
  }
}

/** Mean and largest of a phase's duration over the nodes that went through it, in seconds. */
export interface PhaseFigures {
  readonly nodes: number;
  readonly meanSec: number;
  readonly maxSec: number;
}

export function phaseFigures(from: Float64Array, to: Float64Array): PhaseFigures {
  let nodes = 0;
  let sum = 0;
  let max = 0;
  for (let i = 0; i < from.length; i++) {
    const d = (to[i] as number) - (from[i] as number);
    if (!Number.isFinite(d)) continue;
    nodes++;
    sum += d;
    if (d > max) max = d;
  }
  return { nodes, meanSec: nodes === 0 ? 0 : round3(sum / nodes / 1e6), maxSec: round3(max / 1e6) };
}

export function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
