import type { EventSink, Micros } from "../engine/index.js";

/** One event of a kind per this long at most; the others are counted and reported with the next. */
export const SAMPLE_EVERY_US: Micros = 10_000_000;

/**
 * Events a peer can cause at will without holding anything (garbage, refusals): each would be a log
 * line and a stored row, so a flood could grow the store without bound. The first of a kind in each
 * interval goes out, carrying how many were held back since the last one went out.
 */
export class SampledEvents {
  private readonly kinds = new Map<string, { nextUs: Micros; held: number }>();

  constructor(
    private readonly events: EventSink,
    private readonly now: () => Micros,
    private readonly everyUs: Micros = SAMPLE_EVERY_US,
  ) {}

  emit(kind: string, fields: Readonly<Record<string, string | number | boolean>>): void {
    const now = this.now();
    const k = this.kinds.get(kind);
    if (k !== undefined && now < k.nextUs) {
      k.held++;
      return;
    }
    this.events.emit(kind, { ...fields, heldBack: k?.held ?? 0 });
    this.kinds.set(kind, { nextUs: now + this.everyUs, held: 0 });
  }

  /** Events held back since the last of their kind went out, by kind (for a summary at stop). */
  held(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [kind, k] of this.kinds) if (k.held > 0) out[kind] = k.held;
    return out;
  }
}
