/**
 * The copies of one multicast packet that crossed their downlinks, by host, in member order.
 * Copies arriving at the same instant form a batch, delivered by one event; each batch is a run of
 * consecutive copies, so all the batches of a packet share its one host list.
 */
export class FanOut<P> {
  packet: P | null = null;
  readonly hosts: number[] = [];
  count = 0;
  /** Batches scheduled and not yet delivered. */
  pending = 0;
}

/** Copies `start` to `end` (exclusive) of a fan-out, all arriving at `arrivalUs`. */
export class Batch<P> {
  fanOut: FanOut<P> | null = null;
  start = 0;
  end = 0;
  arrivalUs = -1;
}

/** Most host entries the recycled fan-outs may hold; a fan-out beyond it is left to the garbage collector. */
export const FAN_OUT_POOL_HOSTS_MAX = 1 << 22;
/** Most recycled batches kept. */
export const BATCH_POOL_MAX = 1 << 16;

/**
 * Recycles fan-outs and batches. With backed-up downlinks most copies of a packet arrive at
 * different instants, a batch each; fresh objects and host lists for each cost more than
 * delivering the copies, and kept the garbage collector busy.
 */
export class FanOutPool<P> {
  private readonly fanOuts: FanOut<P>[] = [];
  private fanOutHosts = 0;
  private readonly batches: Batch<P>[] = [];

  begin(packet: P): FanOut<P> {
    const fanOut = this.fanOuts.pop() ?? new FanOut<P>();
    this.fanOutHosts -= fanOut.hosts.length;
    fanOut.packet = packet;
    fanOut.count = 0;
    fanOut.pending = 0;
    return fanOut;
  }

  /** Starts a new batch of the fan-out; the caller schedules its delivery. */
  batch(fanOut: FanOut<P>, arrivalUs: number): Batch<P> {
    const batch = this.batches.pop() ?? new Batch<P>();
    batch.fanOut = fanOut;
    batch.start = fanOut.count;
    batch.end = fanOut.count;
    batch.arrivalUs = arrivalUs;
    fanOut.pending++;
    return batch;
  }

  /** Adds a copy to the fan-out's last batch. */
  add(batch: Batch<P>, host: number): void {
    const fanOut = batch.fanOut as FanOut<P>;
    if (fanOut.count < fanOut.hosts.length) fanOut.hosts[fanOut.count] = host;
    else fanOut.hosts.push(host);
    batch.end = ++fanOut.count;
  }

  /** The fan-out has all its batches; it is recycled now if none was needed. */
  end(fanOut: FanOut<P>): void {
    if (fanOut.pending === 0) this.recycle(fanOut);
  }

  /** A batch was delivered: it is recycled, and its fan-out with it after the last. */
  delivered(batch: Batch<P>): void {
    const fanOut = batch.fanOut as FanOut<P>;
    batch.fanOut = null;
    if (this.batches.length < BATCH_POOL_MAX) this.batches.push(batch);
    if (--fanOut.pending === 0) this.recycle(fanOut);
  }

  private recycle(fanOut: FanOut<P>): void {
    fanOut.packet = null;
    if (this.fanOutHosts + fanOut.hosts.length > FAN_OUT_POOL_HOSTS_MAX) return;
    this.fanOutHosts += fanOut.hosts.length;
    this.fanOuts.push(fanOut);
  }
}
