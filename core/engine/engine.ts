import { EventQueue, type EventHandle } from "./queue.js";
import { Fingerprint } from "./trace.js";
import type { Micros } from "./time.js";

/** A registered event handler; the phantom type ties `at()`'s reference argument to the handler. */
export type HandlerId<R> = number & { readonly __ref?: R };
export type Handler<R> = (arg: number, ref: R) => void;

/** Most handlers one engine may register: handlers are per kind of event, not per event. */
export const HANDLERS_MAX = 65_536;

export interface RunLimits {
  /** Run events with time <= untilUs, then leave the clock there. */
  untilUs?: Micros;
  /** Stop after this many events (the run can be resumed). */
  eventsMax?: number;
}

export type StopReason = "idle" | "until" | "eventsMax" | "stopped";

/**
 * The discrete-event engine: a clock, a queue of pending events, handlers by kind and the trace
 * fingerprint. It never reads a wall clock; time moves only to the next event.
 */
export class Engine {
  readonly trace = new Fingerprint();
  private readonly queue = new EventQueue();
  private readonly handlers: Handler<never>[] = [];
  private readonly handlerNames: string[] = [];
  private stopRequested = false;
  /** Events executed since the engine was made. */
  executed = 0;

  get now(): Micros {
    return this.queue.now;
  }

  get pending(): number {
    return this.queue.pending;
  }

  register<R>(name: string, handler: Handler<R>): HandlerId<R> {
    if (this.handlers.length >= HANDLERS_MAX) throw new Error(`more than ${HANDLERS_MAX} handlers`);
    this.handlers.push(handler as Handler<never>);
    this.handlerNames.push(name);
    this.trace.mixString(name);
    return this.handlers.length - 1;
  }

  handlerName(id: number): string {
    return this.handlerNames[id] ?? `#${id}`;
  }

  /** Schedules `handler(arg, ref)` at absolute time `time` (not before now). */
  at<R>(time: Micros, handler: HandlerId<R>, arg: number, ref: R): EventHandle;
  at(time: Micros, handler: HandlerId<undefined>, arg?: number): EventHandle;
  at<R>(time: Micros, handler: HandlerId<R>, arg = 0, ref?: R): EventHandle {
    return this.queue.handleOf(this.queue.insert(time, handler, arg, ref));
  }

  after<R>(delayUs: Micros, handler: HandlerId<R>, arg: number, ref: R): EventHandle;
  after(delayUs: Micros, handler: HandlerId<undefined>, arg?: number): EventHandle;
  after<R>(delayUs: Micros, handler: HandlerId<R>, arg = 0, ref?: R): EventHandle {
    return this.queue.handleOf(this.queue.insert(this.queue.now + delayUs, handler, arg, ref));
  }

  cancel(handle: EventHandle): boolean {
    return this.queue.cancel(handle);
  }

  /** Asks a running `run` to return after the current event. */
  stop(): void {
    this.stopRequested = true;
  }

  /** The time of the next pending event, or Infinity. */
  nextTime(): number {
    return this.queue.peekTime();
  }

  run(limits: RunLimits = {}): StopReason {
    const untilUs = limits.untilUs ?? Infinity;
    const eventsMax = limits.eventsMax ?? Infinity;
    const queue = this.queue;
    const handlers = this.handlers;
    const trace = this.trace;
    this.stopRequested = false;
    let count = 0;
    for (;;) {
      if (this.stopRequested) return this.finish(count, "stopped");
      if (count >= eventsMax) return this.finish(count, "eventsMax");
      if (untilUs !== Infinity && queue.peekTime() > untilUs) {
        if (queue.now < untilUs) queue.now = untilUs;
        return this.finish(count, "until");
      }
      const slot = queue.pop();
      if (slot < 0) return this.finish(count, "idle");
      const kind = queue.kind[slot] as number;
      const arg = queue.arg[slot] as number;
      const ref = queue.ref[slot] as never;
      queue.release(slot);
      trace.mixEvent(queue.now, kind, arg);
      count++;
      (handlers[kind] as Handler<never>)(arg, ref);
    }
  }

  private finish(count: number, reason: StopReason): StopReason {
    this.executed += count;
    return reason;
  }
}
