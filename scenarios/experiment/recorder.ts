import type { Micros } from "../../core/engine/index.js";
import type { SwapMachine } from "../../core/experiment/machine.js";
import type { ExperimentStore, NodeProgress, SwapProgress } from "../../real/store/index.js";

type Fields = Readonly<Record<string, string | number | boolean>>;

/** Events held between flushes; past it a flush happens at once, so memory stays bounded. */
export const RECORDER_EVENTS_HELD_MAX = 20_000;
/** Names of nodes the barrier still waits for, kept in the progress figures. */
export const WAITING_NAMES_MAX = 50;

/** What one flush hands to in-process listeners (the portal): the same as the store gets. */
export interface FlushListener {
  (experiment: string, progress: SwapProgress): void;
}

/**
 * The event path of one swap: the machine's events and the world's (Frisbee progress with the
 * original's keys, crashes) are held with the nodes they changed, and written to the store in one
 * transaction per flush, then handed to listeners. Flushes are the caller's to time (every few
 * hundred milliseconds of wall time, and at the end).
 */
export class SwapRecorder {
  private events: { timeUs: number; host: string; kind: string; data: Record<string, unknown> }[] = [];
  private readonly dirty = new Set<number>();
  private readonly nodeIndex: Map<string, number>;
  eventsStored = 0;

  constructor(
    private readonly experiment: string,
    private readonly store: ExperimentStore,
    private readonly pnodeName: (pnode: number) => string,
    private readonly nodeNames: readonly string[],
    private readonly listeners: readonly FlushListener[] = [],
  ) {
    this.nodeIndex = new Map(nodeNames.map((n, i) => [n, i]));
  }

  /** An event of the machine (fields name the node by name) or of the world (fields carry `node` as an index). */
  event(timeUs: Micros, host: string, kind: string, fields: Fields): void {
    const data: Record<string, unknown> = { ...fields };
    delete data.experiment;
    if (typeof fields.node === "number") data.node = this.nodeNames[fields.node] ?? fields.node;
    const node = typeof data.node === "string" ? this.nodeIndex.get(data.node) : undefined;
    if (node !== undefined) this.dirty.add(node);
    this.events.push({ timeUs: Math.max(0, Math.round(timeUs)), host: typeof data.node === "string" ? data.node : host, kind, data });
    if (this.events.length >= RECORDER_EVENTS_HELD_MAX) this.flushEvents();
  }

  /** Writes the held events alone (a burst of them between flushes). */
  private flushEvents(): void {
    const events = this.events;
    this.events = [];
    this.store.saveEvents(this.experiment, events);
    this.eventsStored += events.length;
  }

  /** Marks a node whose figures changed without an event (a progress report). */
  touch(node: number): void {
    this.dirty.add(node);
  }

  flush(m: SwapMachine, clockUs: Micros): SwapProgress {
    const nodes: NodeProgress[] = [];
    for (const i of this.dirty) {
      const v = m.view(i);
      nodes.push({
        node: v.name,
        phase: v.phase,
        pnode: this.pnodeName(v.pnode),
        attempt: v.attempt,
        bytesWritten: Math.round(v.bytesWritten),
        imageBytes: v.imageBytes,
        secondsLeft: v.secondsLeft,
        lastReportUs: v.lastReportUs === null ? null : Math.round(v.lastReportUs),
        ready: v.phase === "ready",
        reason: v.reason ?? "",
      });
    }
    this.dirty.clear();
    const progress: SwapProgress = { clockUs: Math.max(0, Math.round(clockUs)), secondsLeft: m.secondsLeft(), progress: figures(m), nodes, events: this.events };
    this.events = [];
    this.store.saveProgress(this.experiment, progress);
    this.eventsStored += progress.events.length;
    for (const listener of this.listeners) listener(this.experiment, progress);
    return progress;
  }
}

/** The swap's figures for the store's progress column and the portal. */
export function figures(m: SwapMachine): Record<string, unknown> {
  return {
    kind: m.kind,
    barrier: { ...m.barrier, waitingFor: m.waitingFor(WAITING_NAMES_MAX) },
    setupPool: m.setupFigures(),
    loadSecondsLeft: m.loadSecondsLeft(),
    summary: m.summary(),
  };
}
