import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BlockBitmap } from "../../../core/frisbee/bitmap.js";
import { CHUNK_BLOCKS } from "../../../core/frisbee/constants.js";
import { WorkQueue, type EnqueueOutcome } from "../../../core/frisbee/workqueue.js";

function blocks(first: number, count: number): BlockBitmap {
  const map = new BlockBitmap();
  map.setRange(first, count);
  return map;
}

/** Every piece of work the sender takes until the queue is empty, as "chunk:first+count". */
function drain(queue: WorkQueue): string[] {
  const out: string[] = [];
  while (queue.dequeue()) out.push(`${queue.work.chunk}:${queue.work.block}+${queue.work.count}`);
  return out;
}

describe("WorkQueue", () => {
  it("queues requests for different chunks in arrival order, a whole chunk taken as one piece of work", () => {
    const queue = new WorkQueue(100);
    for (const chunk of [5, 2, 7]) expect(queue.enqueue(chunk, BlockBitmap.full())).toBe("queued");
    expect(queue.length).toBe(3);
    expect(drain(queue)).toEqual(["5:0+1024", "2:0+1024", "7:0+1024"]);
    expect(queue.length).toBe(0);
    expect(queue.work.chunk).toBe(-1);
  });

  it("takes a partial request one contiguous run at a time, the rest staying at the head", () => {
    const queue = new WorkQueue(100);
    const map = blocks(3, 2);
    map.setRange(100, 300);
    queue.enqueue(1, map);
    queue.enqueue(2, blocks(0, 1));
    expect(queue.dequeue()).toBe(true);
    expect(queue.work).toEqual({ chunk: 1, block: 3, count: 2 });
    expect(queue.length).toBe(2);
    expect(drain(queue)).toEqual(["1:100+300", "2:0+1"]);
  });

  it("merges a new request for a queued chunk into it, OR-ing the blocks, in the queued one's place", () => {
    const queue = new WorkQueue(100);
    queue.enqueue(3, blocks(0, 10));
    queue.enqueue(4, blocks(0, 1));
    expect(queue.enqueue(3, blocks(5, 15))).toBe("merged");
    expect(queue.length).toBe(2);
    expect(drain(queue)).toEqual(["3:0+20", "4:0+1"]);
  });

  it("drops a request the queued one already covers, and any request for a chunk queued whole", () => {
    const queue = new WorkQueue(100);
    queue.enqueue(3, blocks(0, 20));
    expect(queue.enqueue(3, blocks(5, 5))).toBe("dropped");
    expect(queue.enqueue(3, blocks(0, 20))).toBe("dropped");
    queue.enqueue(4, BlockBitmap.full());
    expect(queue.enqueue(4, blocks(7, 1))).toBe("dropped");
    expect(drain(queue)).toEqual(["3:0+20", "4:0+1024"]);
  });

  it("makes a queued partial request whole when a whole-chunk request for it arrives", () => {
    const queue = new WorkQueue(100);
    queue.enqueue(1, BlockBitmap.full());
    queue.enqueue(3, blocks(10, 3));
    expect(queue.enqueue(3, BlockBitmap.full())).toBe("merged");
    expect(drain(queue)).toEqual(["1:0+1024", "3:0+1024"]);
  });

  it("drops a whole-chunk request for the chunk in flight as a whole chunk, until the next piece of work is taken", () => {
    const queue = new WorkQueue(100);
    queue.enqueue(3, BlockBitmap.full());
    queue.dequeue();
    expect(queue.length).toBe(0);
    expect(queue.enqueue(3, BlockBitmap.full())).toBe("dropped");
    // A partial request for it is queued anew: the blocks it asks for may have been sent already.
    expect(queue.enqueue(3, blocks(0, 5))).toBe("queued");
    expect(queue.dequeue()).toBe(true);
    expect(queue.enqueue(9, BlockBitmap.full())).toBe("queued");
    expect(queue.dequeue()).toBe(true);
    expect(queue.dequeue()).toBe(false);
    // Nothing in flight now: the whole chunk is queued again.
    expect(queue.enqueue(3, BlockBitmap.full())).toBe("queued");
  });

  it("queues anew, instead of merging into the head, a request reaching back to the run in flight", () => {
    const queue = new WorkQueue(100);
    const map = blocks(0, 10);
    map.setRange(50, 10);
    queue.enqueue(3, map);
    queue.dequeue(); // 3:0+10 in flight, 50..59 still at the head
    expect(queue.enqueue(3, blocks(5, 1))).toBe("queued");
    expect(queue.length).toBe(2);
    // The new tail item is the one later requests merge into.
    expect(queue.enqueue(3, blocks(6, 1))).toBe("merged");
    // A request beyond the run in flight merges into the tail item (the latest for the chunk).
    expect(queue.enqueue(3, blocks(70, 1))).toBe("merged");
    expect(drain(queue)).toEqual(["3:50+10", "3:5+2", "3:70+1"]);
  });

  it("merges into the head a request beyond the run in flight", () => {
    const queue = new WorkQueue(100);
    const map = blocks(0, 10);
    map.setRange(50, 10);
    queue.enqueue(3, map);
    queue.dequeue();
    expect(queue.enqueue(3, blocks(10, 1))).toBe("merged");
    expect(drain(queue)).toEqual(["3:10+1", "3:50+10"]);
  });

  it("keeps its own copy of a queued bitmap", () => {
    const queue = new WorkQueue(100);
    const map = blocks(0, 4);
    queue.enqueue(3, map);
    map.setRange(4, 100);
    expect(queue.peek()?.blocks.count).toBe(4);
  });

  it("drops a request for a new chunk at the limit, still merging into queued ones", () => {
    const queue = new WorkQueue(3);
    for (const chunk of [0, 1, 2]) queue.enqueue(chunk, blocks(0, 1));
    expect(queue.enqueue(9, BlockBitmap.full())).toBe("dropped");
    expect(queue.length).toBe(3);
    expect(queue.enqueue(1, blocks(1, 1))).toBe("merged");
    queue.dequeue();
    expect(queue.enqueue(9, BlockBitmap.full())).toBe("queued");
    expect(drain(queue)).toEqual(["1:0+2", "2:0+1", "9:0+1024"]);
  });

  it("stays in FIFO order across many items and removals", () => {
    const queue = new WorkQueue(10_000);
    for (let chunk = 0; chunk < 5_000; chunk++) queue.enqueue(chunk, blocks(0, 1));
    for (let chunk = 0; chunk < 3_000; chunk++) queue.dequeue();
    for (let chunk = 5_000; chunk < 6_000; chunk++) queue.enqueue(chunk, blocks(0, 1));
    expect(drain(queue)).toEqual(Array.from({ length: 3_000 }, (_, i) => `${3_000 + i}:0+1`));
  });

  it("takes everything the head wants at once for the chunk model, in flight as the span of its blocks", () => {
    const queue = new WorkQueue(100);
    const map = blocks(10, 5);
    map.set(900);
    queue.enqueue(4, map);
    const item = queue.dequeueAll();
    expect(item?.blocks.count).toBe(6);
    expect(queue.work).toEqual({ chunk: 4, block: 10, count: 891 });
    expect(queue.length).toBe(0);
    expect(queue.dequeueAll()).toBeNull();
    expect(queue.work.chunk).toBe(-1);
  });

  it("has no work in flight before anything is taken", () => {
    expect(new WorkQueue(10).work).toEqual({ chunk: -1, block: 0, count: 0 });
  });

  it("drops a request for no blocks, queueing nothing", () => {
    const queue = new WorkQueue(10);
    expect(queue.enqueue(2, new BlockBitmap())).toBe("dropped");
    expect(queue.length).toBe(0);
    expect(queue.dequeue()).toBe(false);
  });

  it("queues a whole-chunk request for the chunk in flight as a partial run (only a whole chunk in flight drops it)", () => {
    const queue = new WorkQueue(10);
    const map = blocks(0, 10);
    map.setRange(50, 10);
    queue.enqueue(3, map);
    queue.dequeue(); // 3:0+10 in flight, 50..59 still at the head
    expect(queue.enqueue(3, BlockBitmap.full())).toBe("queued");
    expect(drain(queue)).toEqual(["3:50+10", "3:0+1024"]);
  });

  it("still merges into a chunk's newer item after the older one at the head is used up", () => {
    const queue = new WorkQueue(10);
    const map = blocks(0, 10);
    map.setRange(50, 10);
    queue.enqueue(3, map);
    queue.dequeue();
    expect(queue.enqueue(3, blocks(5, 1))).toBe("queued"); // reaches back: a second item for chunk 3
    expect(queue.dequeue()).toBe(true); // 3:50+10: the head item is used up and leaves
    expect(queue.enqueue(3, blocks(80, 1))).toBe("merged");
    expect(queue.length).toBe(1);
    expect(drain(queue)).toEqual(["3:5+1", "3:80+1"]);
  });

  it("queues a whole-chunk request for another chunk while a whole chunk is in flight", () => {
    const queue = new WorkQueue(10);
    queue.enqueue(1, BlockBitmap.full());
    queue.dequeue(); // chunk 1 whole in flight
    expect(queue.enqueue(2, BlockBitmap.full())).toBe("queued");
    expect(drain(queue)).toEqual(["2:0+1024"]);
  });

  it("merges into the head a request for it below the end of a run in flight of another chunk", () => {
    const queue = new WorkQueue(10);
    queue.enqueue(1, blocks(0, 10));
    queue.enqueue(2, blocks(0, 3));
    queue.dequeue(); // 1:0+10 in flight, chunk 2 at the head
    expect(queue.enqueue(2, blocks(5, 2))).toBe("merged");
    expect(queue.length).toBe(1);
    expect(drain(queue)).toEqual(["2:0+3", "2:5+2"]);
  });

  it("takes a head wanting only block 0, or only the last block, for the chunk model as a span of one", () => {
    for (const b of [0, CHUNK_BLOCKS - 1]) {
      const queue = new WorkQueue(10);
      queue.enqueue(6, blocks(b, 1));
      expect(queue.dequeueAll()?.blocks.count).toBe(1);
      expect(queue.work).toEqual({ chunk: 6, block: b, count: 1 });
    }
  });

  describe("against a reference model of the original's rules", () => {
    interface ModelItem {
      chunk: number;
      blocks: Set<number>;
    }

    /** server.c's WorkQueueEnqueue and WorkQueueDequeue, on plain sets and a list scanned from the tail. */
    class Model {
      items: ModelItem[] = [];
      work = { chunk: -1, block: 0, count: 0 };
      constructor(readonly limit: number) {}

      enqueue(chunk: number, wanted: Set<number>): EnqueueOutcome {
        if (wanted.size === 0) return "dropped";
        if (wanted.size === CHUNK_BLOCKS && chunk === this.work.chunk && this.work.count === CHUNK_BLOCKS) return "dropped";
        for (let i = this.items.length - 1; i >= 0; i--) {
          const item = this.items[i] as ModelItem;
          if (item.chunk !== chunk) continue;
          if (i === 0 && chunk === this.work.chunk && Math.min(...wanted) < this.work.block + this.work.count) continue;
          if (item.blocks.size === CHUNK_BLOCKS || [...wanted].every((b) => item.blocks.has(b))) return "dropped";
          for (const b of wanted) item.blocks.add(b);
          return "merged";
        }
        if (this.items.length >= this.limit) return "dropped";
        this.items.push({ chunk, blocks: new Set(wanted) });
        return "queued";
      }

      dequeue(): boolean {
        const head = this.items[0];
        if (head === undefined) {
          this.work = { chunk: -1, block: 0, count: 0 };
          return false;
        }
        const sorted = [...head.blocks].sort((a, b) => a - b);
        let count = 1;
        while (count < sorted.length && sorted[count] === (sorted[0] as number) + count) count++;
        for (const b of sorted.slice(0, count)) head.blocks.delete(b);
        if (head.blocks.size === 0) this.items.shift();
        this.work = { chunk: head.chunk, block: sorted[0] as number, count };
        return true;
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
      fc.record({ kind: fc.constant("send" as const), turns: fc.integer({ min: 1, max: 6 }) }),
    );

    it("gives the same outcomes, the same work and the same queue for any sequence of requests and sends", () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 60 }), (limit, ops) => {
          const queue = new WorkQueue(limit);
          const model = new Model(limit);
          for (const o of ops) {
            if (o.kind === "send") {
              for (let t = 0; t < o.turns; t++) {
                expect(queue.dequeue()).toBe(model.dequeue());
                expect(queue.work).toEqual(model.work);
              }
            } else {
              const wanted = o.whole ? Array.from({ length: CHUNK_BLOCKS }, (_, b) => b) : o.blocks;
              const map = new BlockBitmap();
              for (const b of wanted) map.set(b);
              expect(queue.enqueue(o.chunk, map)).toBe(model.enqueue(o.chunk, new Set(wanted)));
            }
            expect(queue.length).toBeLessThanOrEqual(limit);
            expect(queue.length).toBe(model.items.length);
          }
          const actual: string[] = [];
          while (queue.dequeue()) actual.push(`${queue.work.chunk}:${queue.work.block}+${queue.work.count}`);
          const expected: string[] = [];
          while (model.dequeue()) expected.push(`${model.work.chunk}:${model.work.block}+${model.work.count}`);
          expect(actual).toEqual(expected);
        }),
        { numRuns: 300 },
      );
    });
  });
});
