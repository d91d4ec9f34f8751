import { serialisationUs } from "../../../core/engine/index.js";

/**
 * A link's egress queue as the packet model's links keep it (sim/link.ts): the time the link is
 * busy until, each packet holding it for its serialisation time rounded up to a whole
 * microsecond, and a packet dropped when the backlog (that time left, in bytes) and the packet
 * would exceed the queue. The rounding matters for herds of small requests: a 180-byte partial
 * request holds a 1 Gbit/s link for 2 us rather than 1.44, so its 1 MiB queue holds 4,194 of them,
 * not 5,825, and drains 500 a millisecond, not 694.
 */
export class LinkQueue {
  private busyUntilUs = 0;
  /** The last arrival offered: arrivals a little out of order count as at that time. */
  private atUs = 0;

  constructor(
    private readonly bitsPerSec: number,
    private readonly capacityBytes: number,
  ) {}

  /**
   * A packet of `bytes` reaching the link at `arrivalUs`: how long it waits behind the packets
   * before it (0 on an idle link), or -1 if the queue was full.
   */
  offer(arrivalUs: number, bytes: number): number {
    const t = Math.max(arrivalUs, this.atUs);
    this.atUs = t;
    const aheadUs = this.busyUntilUs > t ? this.busyUntilUs - t : 0;
    if ((aheadUs * this.bitsPerSec) / 8e6 + bytes > this.capacityBytes) return -1;
    this.busyUntilUs = t + aheadUs + serialisationUs(bytes, this.bitsPerSec);
    return t - arrivalUs + aheadUs;
  }
}
