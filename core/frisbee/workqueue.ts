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

  constructor(private readonly itemsMax: number) {}

  get length(): number {
    return this.items.length - this.head;
  }

  peek(): WorkItem | undefined {
    return this.items[this.head];
  }

  enqueue(chunk: number, blocks: BlockBitmap, whole: boolean): EnqueueOutcome {
    for (let i = this.items.length - 1; i >= this.head; i--) {
      const item = this.items[i] as WorkItem;
      if (item.chunk !== chunk) continue;
      if (whole && item.whole && i === this.head) return "dropped";
      if (item.blocks.covers(blocks)) return "dropped";
      item.blocks.or(blocks);
      item.whole = item.whole || whole;
      return "merged";
    }
    if (this.length >= this.itemsMax) return "dropped";
    this.items.push({ chunk, blocks: blocks.copy(), whole });
    return "queued";
  }

  /** Removes the head (its blocks are all sent). */
  shift(): void {
    this.items[this.head] = undefined as unknown as WorkItem;
    this.head++;
    // Compact now and then so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
