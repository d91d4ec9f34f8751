import type { Engine, EventHandle, HandlerId } from "../../core/engine/index.js";

/**
 * A link shared by many transfers as a fluid: at every moment each transfer runs at its max-min
 * fair share of the link's capacity, never above its own cap (its node's link, or how fast its
 * data is produced). Rates change only when a transfer starts, ends or changes its cap, or the
 * capacity changes, so a thousand uploads cost a few thousand events, not one per packet.
 */
export const FLUID_FLOWS_MAX = 1_000_000;

interface Flow {
  id: number;
  remainingBytes: number;
  capBytesPerUs: number;
  rateBytesPerUs: number;
  onDone: (id: number) => void;
}

export class FluidLink {
  private readonly flows = new Map<number, Flow>();
  private lastUs = 0;
  private next: EventHandle | null = null;
  private readonly tick: HandlerId<undefined>;
  /** Bytes carried so far, and the time the link had any transfer. */
  carriedBytes = 0;
  busyUs = 0;

  constructor(
    private readonly engine: Engine,
    name: string,
    private capacityBytesPerUs: number,
  ) {
    this.tick = engine.register(`fluid.${name}`, () => this.update());
  }

  get active(): number {
    return this.flows.size;
  }

  /** Starts a transfer of `bytes` (done at once if 0). */
  add(id: number, bytes: number, capBytesPerUs: number, onDone: (id: number) => void): void {
    if (this.flows.has(id)) throw new Error(`FluidLink: flow ${id} already running`);
    if (this.flows.size >= FLUID_FLOWS_MAX) throw new Error(`FluidLink: more than ${FLUID_FLOWS_MAX} flows`);
    this.advance();
    this.flows.set(id, { id, remainingBytes: bytes, capBytesPerUs, rateBytesPerUs: 0, onDone });
    this.update();
  }

  setCap(id: number, capBytesPerUs: number): void {
    const f = this.flows.get(id);
    if (f === undefined) return;
    this.advance();
    f.capBytesPerUs = capBytesPerUs;
    this.update();
  }

  setCapacity(bytesPerUs: number): void {
    this.advance();
    this.capacityBytesPerUs = bytesPerUs;
    this.update();
  }

  /** Moves every transfer on by its rate since the last change. */
  private advance(): void {
    const now = this.engine.now;
    const dt = now - this.lastUs;
    if (dt > 0 && this.flows.size > 0) {
      this.busyUs += dt;
      for (const f of this.flows.values()) {
        const moved = Math.min(f.remainingBytes, f.rateBytesPerUs * dt);
        f.remainingBytes -= moved;
        this.carriedBytes += moved;
      }
    }
    this.lastUs = now;
  }

  /** Ends the transfers that are done, shares the capacity anew and books the next completion. */
  private update(): void {
    this.advance();
    const done = [...this.flows.values()].filter((f) => f.remainingBytes <= 1e-6).sort((a, b) => a.id - b.id);
    for (const f of done) this.flows.delete(f.id);
    this.share();
    if (this.next !== null) this.engine.cancel(this.next);
    this.next = null;
    let soonestUs = Infinity;
    for (const f of this.flows.values()) if (f.rateBytesPerUs > 0) soonestUs = Math.min(soonestUs, f.remainingBytes / f.rateBytesPerUs);
    if (soonestUs !== Infinity) this.next = this.engine.after(Math.max(1, Math.ceil(soonestUs)), this.tick);
    for (const f of done) f.onDone(f.id);
  }

  /** Water-filling: the lowest caps are met first, the rest split what is left evenly. */
  private share(): void {
    const flows = [...this.flows.values()].sort((a, b) => a.capBytesPerUs - b.capBytesPerUs || a.id - b.id);
    let left = this.capacityBytesPerUs;
    let n = flows.length;
    for (const f of flows) {
      const fair = left / n;
      f.rateBytesPerUs = Math.min(f.capBytesPerUs, fair);
      left -= f.rateBytesPerUs;
      n--;
    }
  }
}
