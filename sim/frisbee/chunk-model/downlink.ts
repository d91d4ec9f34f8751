import { serialisationUs } from "../../../core/engine/index.js";
import { LinkQueue } from "./link-queue.js";

/** Requests waiting to reach the downlinks, at most; beyond it the oldest are applied at once. */
const PENDING_MAX = 1 << 18;

/**
 * Every client's downlink as one queue (a LinkQueue). Multicast puts the same packets on each of them (the
 * server's blocks and every client's requests, but a client's own), so with thousands of clients
 * the requests of a round fill them all alike, and blocks that reach a full queue are lost at
 * every client at once, as in the packet model, whose links drop what finds their queue full.
 * Requests are noted when made, with the time they reach the downlinks; a segment's blocks pass
 * the queue when the segment arrives, in time order with the requests made meanwhile.
 */
export class SharedDownlink {
  private readonly queue: LinkQueue;
  private readonly pendingUs = new Float64Array(PENDING_MAX);
  private readonly pendingBytes = new Uint16Array(PENDING_MAX);
  private head = 0;
  private size = 0;
  /** Requests and blocks that found the queue full. */
  requestDrops = 0;
  blockDrops = 0;

  constructor(
    private readonly bitsPerSec: number,
    capacityBytes: number,
  ) {
    this.queue = new LinkQueue(bitsPerSec, capacityBytes);
  }

  private serialisationUs(bytes: number): number {
    return serialisationUs(bytes, this.bitsPerSec);
  }

  /** A request reaching the downlinks at `arrivalUs`. */
  request(arrivalUs: number, bytes: number): void {
    if (this.size === PENDING_MAX) this.applyOldest();
    this.pendingUs[(this.head + this.size) % PENDING_MAX] = arrivalUs;
    this.pendingBytes[(this.head + this.size) % PENDING_MAX] = bytes;
    this.size++;
  }

  /** A block reaching the downlinks at `atUs`: when it has left them, or -1 if the queue was full. */
  block(atUs: number, bytes: number): number {
    while (this.size > 0 && (this.pendingUs[this.head] as number) <= atUs) this.applyOldest();
    const waitUs = this.queue.offer(atUs, bytes);
    if (waitUs < 0) {
      this.blockDrops++;
      return -1;
    }
    return atUs + waitUs + this.serialisationUs(bytes);
  }

  private applyOldest(): void {
    const at = this.pendingUs[this.head] as number;
    const bytes = this.pendingBytes[this.head] as number;
    this.head = (this.head + 1) % PENDING_MAX;
    this.size--;
    if (this.queue.offer(at, bytes) < 0) this.requestDrops++;
  }
}
