import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRng } from "../../../core/engine/rng.js";
import { EventQueue, type EventHandle } from "../../../core/engine/queue.js";

/** Pops the next event and returns its argument (the test's event id), or -1 when none is pending. */
function popId(queue: EventQueue): number {
  const slot = queue.pop();
  if (slot < 0) return -1;
  const id = queue.arg[slot] as number;
  queue.release(slot);
  return id;
}

function drain(queue: EventQueue): [id: number, timeUs: number][] {
  const out: [number, number][] = [];
  for (let id = popId(queue); id >= 0; id = popId(queue)) out.push([id, queue.now]);
  return out;
}

/** The reference: pending events in a plain list, the next one found by scanning for the least (time, seq). */
class ModelQueue {
  now = 0;
  private readonly pending: { timeUs: number; seq: number; id: number }[] = [];
  private seqNext = 0;

  push(timeUs: number, id: number): void {
    this.pending.push({ timeUs, seq: this.seqNext++, id });
  }

  cancel(id: number): boolean {
    const at = this.pending.findIndex((e) => e.id === id);
    if (at < 0) return false;
    this.pending.splice(at, 1);
    return true;
  }

  pop(): number {
    let best = -1;
    for (let i = 0; i < this.pending.length; i++) {
      const e = this.pending[i]!;
      const b = this.pending[best];
      if (b === undefined || e.timeUs < b.timeUs || (e.timeUs === b.timeUs && e.seq < b.seq)) best = i;
    }
    if (best < 0) return -1;
    const [event] = this.pending.splice(best, 1);
    this.now = event!.timeUs;
    return event!.id;
  }

  get count(): number {
    return this.pending.length;
  }

  peekTime(): number {
    return this.pending.reduce((min, e) => Math.min(min, e.timeUs), Infinity);
  }
}

type QueueOp = { op: "push"; delayUs: number } | { op: "cancel"; pick: number } | { op: "pop" };

// Delays cluster on 0 and a few small values so that many events share a time, and many land at `now`.
const delayUs = fc.oneof(fc.constant(0), fc.constantFrom(1, 2, 3), fc.integer({ min: 0, max: 1_000 }));
const queueOp: fc.Arbitrary<QueueOp> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant("push" as const), delayUs }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("cancel" as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.constant({ op: "pop" as const }) },
);

describe("EventQueue", () => {
  it("pops exactly the non-cancelled events in (time, insertion) order for any mix of push, cancel and pop", () => {
    // A small seqLimit makes the queue renumber its heap many times within one run.
    const seqLimits = fc.option(fc.integer({ min: 1, max: 32 }));
    fc.assert(
      fc.property(fc.array(queueOp, { maxLength: 400, size: "large" }), seqLimits, (ops, seqLimit) => {
        const queue = seqLimit === null ? new EventQueue() : new EventQueue(seqLimit);
        const model = new ModelQueue();
        const handles: EventHandle[] = [];
        for (const op of ops) {
          if (op.op === "push") {
            const id = handles.length;
            handles.push(queue.push(queue.now + op.delayUs, 0, id, undefined));
            model.push(model.now + op.delayUs, id);
          } else if (op.op === "cancel") {
            if (handles.length === 0) continue;
            const id = op.pick % handles.length;
            expect(queue.cancel(handles[id]!)).toBe(model.cancel(id));
          } else {
            expect(popId(queue)).toBe(model.pop());
            expect(queue.now).toBe(model.now);
          }
          expect(queue.pending).toBe(model.count);
          expect(queue.peekTime()).toBe(model.peekTime());
        }
        const rest: [number, number][] = [];
        for (let id = model.pop(); id >= 0; id = model.pop()) rest.push([id, model.now]);
        expect(drain(queue)).toEqual(rest);
        expect(queue.pending).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it("orders 5000 events at random times by time, breaking ties by insertion order, across heap growth", () => {
    const rng = createRng("queue-growth");
    const queue = new EventQueue();
    const times: number[] = [];
    for (let id = 0; id < 5_000; id++) {
      const timeUs = rng.int(200); // about 25 events share each time
      times.push(timeUs);
      queue.push(timeUs, 0, id, undefined);
    }
    const expected = times
      .map((timeUs, id) => [id, timeUs] as [number, number])
      .sort((a, b) => a[1] - b[1] || a[0] - b[0]);
    expect(drain(queue)).toEqual(expected);
  });

  it("keeps insertion order at `now` when the ring grows while wrapped around", () => {
    const queue = new EventQueue();
    let id = 0;
    for (; id < 700; id++) queue.push(0, 0, id, undefined);
    for (let i = 0; i < 500; i++) expect(popId(queue)).toBe(i);
    for (; id < 2_200; id++) queue.push(0, 0, id, undefined); // 1700 pending: the 1024-slot ring must grow
    const ids = drain(queue).map(([eventId]) => eventId);
    expect(ids).toEqual(Array.from({ length: 1_700 }, (_, i) => 500 + i));
  });

  it("runs heap events due at `now` before events pushed at `now`, since they were pushed earlier", () => {
    const queue = new EventQueue();
    queue.push(10, 0, 1, undefined);
    queue.push(10, 0, 2, undefined);
    expect(popId(queue)).toBe(1);
    queue.push(10, 0, 3, undefined); // at now: after 2, which was pushed before it
    expect(drain(queue)).toEqual([
      [2, 10],
      [3, 10],
    ]);
  });

  it("returns false for an event that already ran, and its stale handle spares the slot's next event", () => {
    const queue = new EventQueue();
    const first = queue.push(5, 0, 1, undefined);
    expect(popId(queue)).toBe(1);
    expect(queue.cancel(first)).toBe(false);
    queue.push(6, 0, 2, undefined); // reuses the freed slot
    expect(queue.cancel(first)).toBe(false);
    expect(queue.pending).toBe(1);
    expect(popId(queue)).toBe(2);
  });

  it("returns true once and then false when an event is cancelled twice", () => {
    const queue = new EventQueue();
    const handle = queue.push(5, 0, 1, undefined);
    expect(queue.cancel(handle)).toBe(true);
    expect(queue.cancel(handle)).toBe(false);
    expect(queue.pending).toBe(0);
    expect(queue.peekTime()).toBe(Infinity);
    expect(popId(queue)).toBe(-1);
  });

  it("ignores handles it never issued", () => {
    const queue = new EventQueue();
    queue.push(5, 0, 1, undefined);
    expect(queue.cancel(12_345)).toBe(false);
    expect(queue.cancel(2 ** 26 * 3)).toBe(false);
    expect(queue.pending).toBe(1);
  });

  it("throws when an event is pushed before now, or at a time that is not a number", () => {
    const queue = new EventQueue();
    queue.push(100, 0, 1, undefined);
    popId(queue);
    expect(() => queue.push(99, 0, 2, undefined)).toThrow(/in the past/);
    expect(() => queue.push(Number.NaN, 0, 2, undefined)).toThrow(/in the past/);
    expect(queue.pending).toBe(0);
  });

  it("reuses released slots: a queue that runs for ever holds only as many slots as events pending at once", () => {
    const queue = new EventQueue();
    const slots = new Set<number>();
    for (let t = 1; t <= 5_000; t++) {
      slots.add(queue.insert(t, 0, t, undefined));
      slots.add(queue.insert(t, 0, t, undefined));
      queue.release(queue.pop());
      queue.release(queue.pop());
    }
    expect([...slots].sort((a, b) => a - b)).toEqual([0, 1]);
    // A cancelled event's slot comes back too, once the cancelled entry surfaces.
    const h = queue.push(6_000, 0, 1, undefined);
    queue.cancel(h);
    expect(queue.pop()).toBe(-1);
    expect(slots.has(queue.insert(6_001, 0, 2, undefined))).toBe(true);
  });

  it("hands back the reference stored with an event and forgets it on release", () => {
    const queue = new EventQueue();
    const ref = { name: "payload" };
    queue.push(1, 7, 42, ref);
    const slot = queue.pop();
    expect([queue.kind[slot], queue.arg[slot], queue.ref[slot]]).toEqual([7, 42, ref]);
    queue.release(slot);
    expect(queue.ref[slot]).toBeUndefined();
  });
});
