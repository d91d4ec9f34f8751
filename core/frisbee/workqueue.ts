import { BlockBitmap } from "./bitmap.js";
import { CHUNK_BLOCKS } from "./constants.js";

export interface WorkItem {
  chunk: number;
  /** Blocks still wanted. */
  blocks: BlockBitmap;
}

export type EnqueueOutcome = "queued" | "merged" | "dropped";

/** What the sender took from the queue last: `count` blocks of `chunk` from `block` on (chunk -1: none). */
export interface Work {
  chunk: number;
  block: number;
  count: number;
}

/**
 * The server's FIFO of wanted blocks, as the original's (server.c, WorkQueueEnqueue and
 * WorkQueueDequeue). The sender takes work from the head: a whole chunk (all 1024 blocks
 * wanted) leaves the queue at once, as one piece of work; otherwise the first contiguous run of
 * wanted blocks is taken and the rest stays at the head. What was taken last is the work in
 * flight (`work`). A new request:
 * - for the whole chunk in flight as a whole chunk, is dropped;
 * - for a chunk queued (the latest item for it, scanning from the tail) is merged into it:
 *   nothing to do if the item wants the whole chunk, the whole chunk if the request does, else
 *   the two bitmaps OR-ed; but if that item is the head and the chunk is in flight, a request
 *   reaching back to the run in flight (its first block before the run's end) is not merged: it
 *   is queued anew at the tail, so the blocks already taken are sent again, later;
 * - otherwise is queued at the tail.
 * `itemsMax` bounds the queue: a request that would add an item beyond it is dropped (clients ask
 * again after their timeouts).
 */
export class WorkQueue {
  private items: (WorkItem | undefined)[] = [];
  private head = 0;
  /**
   * The latest queued item of each chunk: the original's scan from the tail stops at it. With
   * thousands of clients the queue holds every chunk and the scan would cost a pass over it per
   * request.
   */
  private readonly latest = new Map<number, WorkItem>();
  readonly work: Work = { chunk: -1, block: 0, count: 0 };

  constructor(private readonly itemsMax: number) {}

  get length(): number {
    return this.items.length - this.head;
  }

  peek(): WorkItem | undefined {
    return this.items[this.head];
  }

  enqueue(chunk: number, blocks: BlockBitmap): EnqueueOutcome {
    const count = blocks.count;
    if (count === 0) return "dropped";
    const whole = count === CHUNK_BLOCKS;
    const work = this.work;
    if (whole && chunk === work.chunk && work.count === CHUNK_BLOCKS) return "dropped";
    const item = this.latest.get(chunk);
    const reachesBack = item !== undefined && item === this.peek() && chunk === work.chunk && firstBlock(blocks) < work.block + work.count;
    if (item !== undefined && !reachesBack) {
      if (item.blocks.count === CHUNK_BLOCKS || item.blocks.covers(blocks)) return "dropped";
      item.blocks.or(blocks);
      return "merged";
    }
    if (this.length >= this.itemsMax) return "dropped";
    const queued = { chunk, blocks: blocks.copy() };
    this.items.push(queued);
    this.latest.set(chunk, queued);
    return "queued";
  }

  /** Takes the next piece of work from the head into `work`; false (and no work) when the queue is empty. */
  dequeue(): boolean {
    const item = this.peek();
    const work = this.work;
    if (item === undefined) {
      work.chunk = -1;
      work.block = 0;
      work.count = 0;
      return false;
    }
    work.chunk = item.chunk;
    if (item.blocks.count === CHUNK_BLOCKS) {
      work.block = 0;
      work.count = CHUNK_BLOCKS;
      item.blocks.clearAll();
    } else {
      const [first, length] = item.blocks.firstRun(CHUNK_BLOCKS);
      item.blocks.clearRange(first, length);
      work.block = first;
      work.count = length;
    }
    if (item.blocks.count === 0) this.shift();
    return true;
  }

  /** Takes everything the head wants at once (the chunk model's segments); its blocks, or null when empty. */
  dequeueAll(): WorkItem | null {
    const item = this.peek();
    if (item === undefined) {
      this.work.chunk = -1;
      return null;
    }
    this.shift();
    this.work.chunk = item.chunk;
    this.work.block = firstBlock(item.blocks);
    this.work.count = lastBlock(item.blocks) + 1 - this.work.block;
    return item;
  }

  /** Removes the head. */
  private shift(): void {
    const item = this.items[this.head] as WorkItem;
    if (this.latest.get(item.chunk) === item) this.latest.delete(item.chunk);
    this.items[this.head] = undefined;
    this.head++;
    // Compact now and then so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

function firstBlock(blocks: BlockBitmap): number {
  return blocks.firstRun(1)[0];
}

function lastBlock(blocks: BlockBitmap): number {
  for (let b = CHUNK_BLOCKS - 1; b >= 0; b--) if (blocks.has(b)) return b;
  return -1;
}
