import { BlockBitmap } from "./bitmap.js";

export interface WorkItem {
  chunk: number;
  /** Blocks still wanted. */
  blocks: BlockBitmap;
  /** Queued as a whole-chunk request (and not since narrowed by a partial one). */
  whole: boolean;
}

export type EnqueueOutcome = "queued" | "merged" | "dropped";

/**
 * The server's FIFO of wanted blocks, with the original's merge rules. A new request for a chunk
 * already queued is merged into it (scanning from the tail): bitmaps are OR-ed, so a whole-chunk
 * request makes a partial one whole; a request already covered is dropped; a whole-chunk request for
 * the chunk now being sent whole (the head, queued whole) is dropped. `itemsMax` bounds the queue:
 * a request that would add an item beyond it is dropped (clients ask again after their timeouts).
 */
export class WorkQueue {
  private items: WorkItem[] = [];
  private head = 0;
  /**
   * The queued item of each chunk. Merging keeps at most one item per chunk, so the original's
   * scan from the tail finds exactly this one; with thousands of clients the queue holds every
   * chunk and the scan would cost a pass over it per request.
   */
  private readonly byChunk = new Map<number, WorkItem>();

  constructor(private readonly itemsMax: number) {}

  get length(): number {
    return this.items.length - this.head;
  }

  peek(): WorkItem | undefined {
    return this.items[this.head];
  }

  enqueue(chunk: number, blocks: BlockBitmap, whole: boolean): EnqueueOutcome {
    const item = this.byChunk.get(chunk);
    if (item !== undefined) {
      if (whole && item.whole && item === this.items[this.head]) return "dropped";
      if (item.blocks.covers(blocks)) return "dropped";
      item.blocks.or(blocks);
      item.whole = item.whole || whole;
      return "merged";
    }
    if (this.length >= this.itemsMax) return "dropped";
    const queued = { chunk, blocks: blocks.copy(), whole };
    this.items.push(queued);
    this.byChunk.set(chunk, queued);
    return "queued";
  }

  /** Removes the head (its blocks are all sent). */
  shift(): void {
    const item = this.items[this.head];
    if (item !== undefined && this.byChunk.get(item.chunk) === item) this.byChunk.delete(item.chunk);
    this.items[this.head] = undefined as unknown as WorkItem;
    this.head++;
    // Compact now and then so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
