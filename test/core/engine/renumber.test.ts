import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EventQueue } from "../../../core/engine/queue.js";

/** Pops everything, returning (time, kind) pairs in dispatch order. */
function drain(queue: EventQueue): [number, number][] {
  const out: [number, number][] = [];
  for (let slot = queue.pop(); slot >= 0; slot = queue.pop()) {
    out.push([queue.now, queue.kind[slot] as number]);
    queue.release(slot);
  }
  return out;
}

describe("EventQueue sequence renumbering", () => {
  it("keeps (time, insertion) order when seqs are renumbered many times over", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.boolean()), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 16 }),
        (ops, seqLimit) => {
          const queue = new EventQueue(seqLimit);
          const reference: { time: number; id: number }[] = [];
          const popped: [number, number][] = [];
          let id = 0;
          for (const [delay, popFirst] of ops) {
            if (popFirst && reference.length > 0) {
              reference.sort((a, b) => a.time - b.time || a.id - b.id);
              const slot = queue.pop();
              popped.push([queue.now, queue.kind[slot] as number]);
              queue.release(slot);
              const next = reference.shift();
              expect([queue.now, queue.kind[slot]]).toEqual([next?.time, next?.id]);
            }
            queue.push(queue.now + delay, id, 0, undefined);
            reference.push({ time: queue.now + delay, id: id++ });
          }
          reference.sort((a, b) => a.time - b.time || a.id - b.id);
          expect(drain(queue)).toEqual(reference.map((r) => [r.time, r.id]));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses a seq limit outside what a key can hold", () => {
    expect(() => new EventQueue(0)).toThrow(/seqLimit/);
    expect(() => new EventQueue(2 ** 40)).toThrow(/seqLimit/);
  });
});
