import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BlockBitmap } from "../../../core/frisbee/bitmap.js";
import { CHUNK_BLOCKS } from "../../../core/frisbee/constants.js";
import { WorkQueue, type EnqueueOutcome, type WorkItem } from "../../../core/frisbee/workqueue.js";

function blocks(first: number, count: number): BlockBitmap {
  const map = new BlockBitmap();
  map.setRange(first, count);
  return map;
}

function drain(queue: WorkQueue): WorkItem[] {
  const out: WorkItem[] = [];
  for (let item = queue.peek(); item !== undefined; item = queue.peek()) {
    out.push(item);
    queue.shift();
  }
  return out;
}

/** What the server does each turn: takes the head's first run of up to 32 blocks. */
function sendRun(queue: WorkQueue): void {
  const head = queue.peek();
  if (head === undefined) return;
  const [first, length] = head.blocks.firstRun(32);
  head.blocks.clearRange(first, length);
  if (head.blocks.count === 0) queue.shift();
}

describe("WorkQueue", () => {
  it("queues requests for different chunks in arrival order", () => {
    const queue = new WorkQueue(100);
    for (const chunk of [5, 2, 7]) expect(queue.enqueue(chunk, BlockBitmap.full(), true)).toBe("queued");
    expect(queue.length).toBe(3);
    expect(drain(queue).map((item) => item.chunk)).toEqual([5, 2, 7]);
    expect(queue.length).toBe(0);
  });

  it("merges a new request for a queued chunk into it, OR-ing the blocks", () => {
    const queue = new WorkQueue(100);
    queue.enqueue(1, blocks(0, 1), true);
    queue.enqueue(3, blocks(0, 10), false);
    expect(queue.enqueue(3, blocks(5, 15), false)).toBe("merged");
    expect(queue.length).toBe(2);
    const [, item] = drain(queue);
    expect(item?.chunk).toBe(3);
    expect(item?.blocks.count).toBe(20);
    expect(item?.blocks.firstRun(CHUNK_BLOCKS)).toEqual([0, 20]);
  });

  it("keeps a merged request in the queued one's place", () => {
    const queue = new WorkQueue(100);
    queue.enqueue(3, blocks(0, 1), false);
    queue.enqueue(4, blocks(0, 1), false);
    queue.enqueue(3, blocks(1, 1), false);
    expect(drain(queue).map((item) => item.chunk)).toEqual([3, 4]);
  });

  it("drops a request the queued one already covers", () => {
    const queue = new WorkQueue(100);
    queue.enqueue(3, blocks(0, 20), false);
    expect(queue.enqueue(3, blocks(5, 5), false)).toBe("dropped");
    expect(queue.enqueue(3, blocks(0, 20), false)).toBe("dropped");
    expect(queue.peek()?.blocks.count).toBe(20);
  });

  it("drops a whole-chunk request for the head chunk while it is being sent whole", () => {
    const queue = new WorkQueue(100);
    queue.enqueue(3, BlockBitmap.full(), true);
    sendRun(queue);
    sendRun(queue);
    expect(queue.peek()?.blocks.count).toBe(CHUNK_BLOCKS - 64);
    expect(queue.enqueue(3, BlockBitmap.full(), true)).toBe("dropped");
    // The blocks already sent are not asked for again.
    expect(queue.peek()?.blocks.firstRun(CHUNK_BLOCKS)).toEqual([64, CHUNK_BLOCKS - 64]);
  });

  it("merges a whole-chunk request into a head that is being sent as a partial request", () => {
    const queue = new WorkQueue(100);
    queue.enqueue(3, blocks(100, 50), false);
    sendRun(queue);
    expect(queue.enqueue(3, BlockBitmap.full(), true)).toBe("merged");
    expect(queue.peek()?.whole).toBe(true);
    expect(queue.peek()?.blocks.count).toBe(CHUNK_BLOCKS);
  });

  it("makes a queued partial request whole when a whole-chunk request for it arrives", () => {
    const queue = new WorkQueue(100);
    queue.enqueue(1, BlockBitmap.full(), true);
    queue.enqueue(3, blocks(10, 3), false);
    expect(queue.enqueue(3, BlockBitmap.full(), true)).toBe("merged");
    const [, item] = drain(queue);
    expect(item?.whole).toBe(true);
    expect(item?.blocks.count).toBe(CHUNK_BLOCKS);
  });

  it("keeps its own copy of a queued bitmap", () => {
    const queue = new WorkQueue(100);
    const map = blocks(0, 4);
    queue.enqueue(3, map, false);
    map.setRange(4, 100);
    expect(queue.peek()?.blocks.count).toBe(4);
  });

  it("drops a request for a new chunk at the limit, still merging into queued ones", () => {
    const queue = new WorkQueue(3);
    for (const chunk of [0, 1, 2]) queue.enqueue(chunk, blocks(0, 1), false);
    expect(queue.enqueue(9, BlockBitmap.full(), true)).toBe("dropped");
    expect(queue.length).toBe(3);
    expect(queue.enqueue(1, blocks(1, 1), false)).toBe("merged");
    queue.shift();
    expect(queue.enqueue(9, BlockBitmap.full(), true)).toBe("queued");
    expect(drain(queue).map((item) => item.chunk)).toEqual([1, 2, 9]);
  });

  it("stays in FIFO order across many items and shifts", () => {
    const queue = new WorkQueue(10_000);
    for (let chunk = 0; chunk < 5_000; chunk++) queue.enqueue(chunk, blocks(0, 1), false);
    for (let chunk = 0; chunk < 3_000; chunk++) queue.shift();
    for (let chunk = 5_000; chunk < 6_000; chunk++) queue.enqueue(chunk, blocks(0, 1), false);
    const order = drain(queue).map((item) => item.chunk);
    expect(order).toEqual(Array.from({ length: 3_000 }, (_, i) => 3_000 + i));
  });

  describe("against a reference model of the merge rules", () => {
    interface ModelItem {
      chunk: number;
      blocks: Set<number>;
      whole: boolean;
    }

    /** The rules as the reference states them, on plain sets. */
    class Model {
      items: ModelItem[] = [];
      constructor(readonly limit: number) {}

      enqueue(chunk: number, wanted: Set<number>, whole: boolean): EnqueueOutcome {
        for (let i = this.items.length - 1; i >= 0; i--) {
          const item = this.items[i] as ModelItem;
          if (item.chunk !== chunk) continue;
          if (whole && item.whole && i === 0) return "dropped";
          if ([...wanted].every((b) => item.blocks.has(b))) return "dropped";
          for (const b of wanted) item.blocks.add(b);
          item.whole ||= whole;
          return "merged";
        }
        if (this.items.length >= this.limit) return "dropped";
        this.items.push({ chunk, blocks: new Set(wanted), whole });
        return "queued";
      }

      send(): void {
        const head = this.items[0];
        if (head === undefined) return;
        const sorted = [...head.blocks].sort((a, b) => a - b);
        let length = 0;
        while (length < sorted.length && length < 32 && sorted[length] === (sorted[0] as number) + length) length++;
        for (const b of sorted.slice(0, length)) head.blocks.delete(b);
        if (head.blocks.size === 0) this.items.shift();
      }
    }

    type Op = { kind: "request"; chunk: number; whole: boolean; blocks: number[] } | { kind: "send"; turns: number };

    // Few chunks and few blocks, so requests collide, cover and merge often.
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant("request" as const),
        chunk: fc.integer({ min: 0, max: 4 }),
        whole: fc.boolean(),
        blocks: fc.uniqueArray(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 12 }),
      }),
      fc.record({ kind: fc.constant("send" as const), turns: fc.integer({ min: 1, max: 40 }) }),
    );

    it("gives the same outcomes and the same queue for any sequence of requests and sends", () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 60 }), (limit, ops) => {
          const queue = new WorkQueue(limit);
          const model = new Model(limit);
          for (const o of ops) {
            if (o.kind === "send") {
              for (let t = 0; t < o.turns; t++) {
                sendRun(queue);
                model.send();
              }
            } else {
              const wanted = o.whole ? Array.from({ length: CHUNK_BLOCKS }, (_, b) => b) : o.blocks;
              const map = new BlockBitmap();
              for (const b of wanted) map.set(b);
              expect(queue.enqueue(o.chunk, map, o.whole)).toBe(model.enqueue(o.chunk, new Set(wanted), o.whole));
            }
            expect(queue.length).toBeLessThanOrEqual(limit);
            expect(queue.length).toBe(model.items.length);
          }
          const actual = drain(queue).map((item) => {
            const set: number[] = [];
            for (let b = 0; b < CHUNK_BLOCKS; b++) if (item.blocks.has(b)) set.push(b);
            return { chunk: item.chunk, whole: item.whole, blocks: set };
          });
          const expected = model.items.map((item) => ({
            chunk: item.chunk,
            whole: item.whole,
            blocks: [...item.blocks].sort((a, b) => a - b),
          }));
          expect(actual).toEqual(expected);
        }),
        { numRuns: 300 },
      );
    });
  });
});
