import type { Micros, Timers } from "../../core/engine/index.js";
import type { Clock } from "./clock.js";

/** Below this a wait is spun through the event loop rather than left to a millisecond timer. */
const IMMEDIATE_US_MAX = 200;

/**
 * The Timers port on the wall clock. Node's timers have millisecond granularity and their own cached
 * clock, so a timer that comes back early is re-armed: a machine is never woken before its time.
 */
export class WallTimers implements Timers {
  private readonly armed = new Map<number, { at: Micros; handle: NodeJS.Timeout | NodeJS.Immediate }>();
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly fire: (id: number) => void,
  ) {}

  set(id: number, at: Micros): void {
    this.cancel(id);
    if (!this.closed) this.arm(id, at);
  }

  cancel(id: number): void {
    const entry = this.armed.get(id);
    if (entry === undefined) return;
    clearTimeout(entry.handle as NodeJS.Timeout);
    clearImmediate(entry.handle as NodeJS.Immediate);
    this.armed.delete(id);
  }

  /** Cancels every timer and refuses new ones (the machine is stopping). */
  close(): void {
    this.closed = true;
    for (const id of [...this.armed.keys()]) this.cancel(id);
  }

  private arm(id: number, at: Micros): void {
    const waitUs = at - this.clock.now();
    const due = (): void => {
      if (this.armed.get(id)?.handle !== handle) return;
      this.armed.delete(id);
      if (this.clock.now() < at) this.arm(id, at);
      else this.fire(id);
    };
    const handle = waitUs <= IMMEDIATE_US_MAX ? setImmediate(due) : setTimeout(due, Math.max(1, Math.floor(waitUs / 1000)));
    this.armed.set(id, { at, handle });
  }
}
