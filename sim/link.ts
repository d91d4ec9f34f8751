import { serialisationUs, type Micros } from "../core/engine/index.js";
import type { LossModel } from "./loss.js";

export interface LinkSpec {
  bandwidthBps: number;
  latencyUs: Micros;
  /** Bytes the egress queue holds, counting the packet being serialised. */
  queueBytesMax: number;
}

export interface LinkStats {
  packets: number;
  bytes: number;
  lost: number;
  queueDrops: number;
  queueBytesPeak: number;
}

export const LINK_QUEUE_DROP = -1;
export const LINK_LOST = -2;

/**
 * One direction of a wire with a FIFO egress queue. Packets are serialised at the link's bandwidth
 * one after another; the queue's occupancy is exactly the bytes not yet serialised, which is
 * (busyUntil - now) worth of bandwidth, so no event is needed when a packet leaves the queue.
 */
export class Link {
  busyUntilUs: Micros = 0;
  loss: LossModel | null = null;
  readonly stats: LinkStats = { packets: 0, bytes: 0, lost: 0, queueDrops: 0, queueBytesPeak: 0 };
  // Most packets on a link have the same size: remember the last size's serialisation time.
  private lastBytes = -1;
  private lastBandwidthBps = -1;
  private lastSerialisationUs = 0;

  constructor(
    readonly name: string,
    public spec: LinkSpec,
  ) {}

  backlogBytes(nowUs: Micros): number {
    if (this.busyUntilUs <= nowUs) return 0;
    return ((this.busyUntilUs - nowUs) * this.spec.bandwidthBps) / 8_000_000;
  }

  /**
   * Offers a packet at `nowUs`. Returns its arrival time at the far end, or LINK_QUEUE_DROP when the
   * queue is full, or LINK_LOST when the loss model takes it (a lost packet still used the wire).
   */
  transmit(nowUs: Micros, bytes: number): number {
    const backlog = this.backlogBytes(nowUs);
    if (backlog + bytes > this.spec.queueBytesMax) {
      this.stats.queueDrops++;
      return LINK_QUEUE_DROP;
    }
    if (backlog + bytes > this.stats.queueBytesPeak) this.stats.queueBytesPeak = backlog + bytes;
    const startUs = this.busyUntilUs > nowUs ? this.busyUntilUs : nowUs;
    if (bytes !== this.lastBytes || this.spec.bandwidthBps !== this.lastBandwidthBps) {
      this.lastBytes = bytes;
      this.lastBandwidthBps = this.spec.bandwidthBps;
      this.lastSerialisationUs = serialisationUs(bytes, this.spec.bandwidthBps);
    }
    this.busyUntilUs = startUs + this.lastSerialisationUs;
    this.stats.packets++;
    this.stats.bytes += bytes;
    if (this.loss !== null && this.loss.lose()) {
      this.stats.lost++;
      return LINK_LOST;
    }
    return this.busyUntilUs + this.spec.latencyUs;
  }
}
