import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRng } from "../../../core/engine/rng.js";
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

describe("EntryHeap: edges", () => {
  it("answers Infinity when empty, and the smallest key, lowest id on a tie", () => {
    const pos = new Int32Array(8);
    const heap = new EntryHeap(pos, 8, 1);
    expect(heap.topKey()).toBe(Infinity);
    heap.push(5, 10);
    heap.push(2, 10);
    heap.push(7, 3);
    expect(heap.has(5)).toBe(true);
    expect(heap.has(1)).toBe(false);
    expect(heap.topKey()).toBe(3);
    expect([heap.pop(), heap.pop(), heap.pop()]).toEqual([7, 2, 5]);
    expect(heap.size).toBe(0);
    expect(heap.has(5)).toBe(false);
  });

  it("keeps (key, id) order through removals from the middle and pushes of equal keys", () => {
    const pos = new Int32Array(10);
    const heap = new EntryHeap(pos, 10, 2);
    for (const [id, key] of [[9, 1], [8, 1], [7, 2], [6, 2], [5, 1], [4, 3], [3, 0], [2, 2], [1, 1], [0, 3]] as const) heap.push(id, key);
    heap.remove(5);
    heap.remove(3);
    const out: number[] = [];
    while (heap.size > 0) out.push(heap.pop());
    expect(out).toEqual([1, 8, 9, 2, 6, 7, 0, 4]);
  });

  it("refuses an entry twice, or the removal of one it does not hold", () => {
    const pos = new Int32Array(4);
    const a = new EntryHeap(pos, 4);
    const b = new EntryHeap(pos, 4);
    a.push(1, 5);
    expect(() => a.push(1, 6)).toThrow("entry 1 is already in a heap");
    expect(() => b.push(1, 6)).toThrow("entry 1 is already in a heap");
    expect(() => a.remove(2)).toThrow("entry 2 is not in this heap");
    b.push(2, 1);
    b.push(3, 2);
    // Entry 1 sits at a's first place; b's first place holds entry 2.
    expect(() => b.remove(1)).toThrow("entry 1 is not in this heap");
    expect(a.size).toBe(1);
  });
});

describe("EntryHeap against a sorted list", () => {
  it("pops in (key, id) order through thousands of pushes, pops and removals with many equal keys", () => {
    const rng = createRng(4);
    const n = 64;
    const pos = new Int32Array(n);
    const heap = new EntryHeap(pos, n, 1);
    const live = new Map<number, number>();
    const order = (): number[] => [...live].sort((a, b) => a[1] - b[1] || a[0] - b[0]).map(([id]) => id);
    for (let step = 0; step < 4_000; step++) {
      const op = rng.int(3);
      if (op === 0 && live.size < n) {
        let id = rng.int(n);
        while (live.has(id)) id = (id + 1) % n;
        const key = rng.int(6);
        heap.push(id, key);
        live.set(id, key);
      } else if (op === 1 && live.size > 0) {
        const want = order()[0] as number;
        if (heap.topKey() !== live.get(want)) expect.fail(`step ${step}: top key ${heap.topKey()}, expected ${live.get(want)}`);
        const got = heap.pop();
        if (got !== want) expect.fail(`step ${step}: popped ${got}, expected ${want}`);
        live.delete(got);
      } else if (op === 2 && live.size > 0) {
        const ids = [...live.keys()];
        const victim = ids[rng.int(ids.length)] as number;
        heap.remove(victim);
        live.delete(victim);
      }
      if (heap.size !== live.size) expect.fail(`step ${step}: size ${heap.size}, expected ${live.size}`);
    }
  });

  it("holds no more than its limit from whatever start, growing to exactly the limit", () => {
    const big = new EntryHeap(new Int32Array(8), 2);
    big.push(0, 1);
    big.push(1, 1);
    expect(() => big.push(2, 1)).toThrow("heap full at its limit of 2 entries");
    const odd = new EntryHeap(new Int32Array(8), 3, 2);
    for (let id = 0; id < 3; id++) odd.push(id, id);
    expect(() => odd.push(3, 0)).toThrow("heap full at its limit of 3 entries");
  });
});
