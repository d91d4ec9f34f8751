import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EntryHeap } from "../../../core/monitor/heap.js";

describe("EntryHeap", () => {
  it("pops in (key, id) order after any pushes and removals", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.boolean()), { maxLength: 200 }), (ops) => {
        const pos = new Int32Array(ops.length);
        const heap = new EntryHeap(pos, ops.length, 2);
        const live = new Map<number, number>();
        ops.forEach(([key, removeOne], id) => {
          heap.push(id, key);
          live.set(id, key);
          if (removeOne && live.size > 1) {
            const victim = [...live.keys()][key % live.size] as number;
            heap.remove(victim);
            live.delete(victim);
          }
        });
        const expected = [...live].sort((a, b) => a[1] - b[1] || a[0] - b[0]).map(([id]) => id);
        const got: number[] = [];
        while (heap.size > 0) got.push(heap.pop());
        expect(got).toEqual(expected);
        expect([...pos].every((p) => p === 0)).toBe(true);
      }),
    );
  });

  it("refuses to grow past its limit", () => {
    const heap = new EntryHeap(new Int32Array(4), 2, 1);
    heap.push(0, 1);
    heap.push(1, 1);
    expect(() => heap.push(2, 1)).toThrow(/limit of 2/);
  });
});
