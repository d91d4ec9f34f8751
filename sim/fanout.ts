/**
 * The copies of one multicast packet, or of a train of them, that crossed their downlinks, by host,
 * in member order. Copies arriving at the same instant form a batch, delivered by one event; each
 * batch is a run of consecutive copies, so all the batches of a packet share its one host list.
 */
export class FanOut<P, T = unknown> {
  packet: P | null = null;
  /** The train of packets (see Network.send), or null for a single packet. */
  train: T | null = null;
  readonly hosts: number[] = [];
  /** For a train, per host: the packets of the train that reached it, bit k for packet k. */
  readonly kept: number[] = [];
  count = 0;
  /** Batches scheduled and not yet delivered. */
  pending = 0;
}

/** Copies `start` to `end` (exclusive) of a fan-out, all arriving at `arrivalUs`. */
export class Batch<P, T = unknown> {
  fanOut: FanOut<P, T> | null = null;
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
export class FanOutPool<P, T = unknown> {
  private readonly fanOuts: FanOut<P, T>[] = [];
  private fanOutHosts = 0;
  private readonly batches: Batch<P, T>[] = [];

  begin(packet: P, train: T | null = null): FanOut<P, T> {
    const fanOut = this.fanOuts.pop() ?? new FanOut<P, T>();
    this.fanOutHosts -= fanOut.hosts.length;
    fanOut.packet = packet;
    fanOut.train = train;
    fanOut.count = 0;
    fanOut.pending = 0;
    return fanOut;
  }

  /** Starts a new batch of the fan-out; the caller schedules its delivery. */
  batch(fanOut: FanOut<P, T>, arrivalUs: number): Batch<P, T> {
    const batch = this.batches.pop() ?? new Batch<P, T>();
    batch.fanOut = fanOut;
    batch.start = fanOut.count;
    batch.end = fanOut.count;
    batch.arrivalUs = arrivalUs;
    fanOut.pending++;
    return batch;
  }

  /** Adds a copy to the fan-out's last batch. */
  add(batch: Batch<P, T>, host: number): void {
    const fanOut = batch.fanOut as FanOut<P, T>;
    if (fanOut.count < fanOut.hosts.length) fanOut.hosts[fanOut.count] = host;
    else fanOut.hosts.push(host);
    batch.end = ++fanOut.count;
  }

  /** Adds a host's copies of a train (`kept`: which of its packets) to the fan-out's last batch. */
  addKept(batch: Batch<P, T>, host: number, kept: number): void {
    const fanOut = batch.fanOut as FanOut<P, T>;
    // The list grows with the host list; kept dense (a hole would make every read slower).
    while (fanOut.kept.length <= fanOut.count) fanOut.kept.push(0);
    fanOut.kept[fanOut.count] = kept;
    this.add(batch, host);
  }

  /** The fan-out has all its batches; it is recycled now if none was needed. */
  end(fanOut: FanOut<P, T>): void {
    if (fanOut.pending === 0) this.recycle(fanOut);
  }

  /** A batch was delivered: it is recycled, and its fan-out with it after the last. */
  delivered(batch: Batch<P, T>): void {
    const fanOut = batch.fanOut as FanOut<P, T>;
    batch.fanOut = null;
    if (this.batches.length < BATCH_POOL_MAX) this.batches.push(batch);
    if (--fanOut.pending === 0) this.recycle(fanOut);
  }

  private recycle(fanOut: FanOut<P, T>): void {
    fanOut.packet = null;
    fanOut.train = null;
    if (this.fanOutHosts + fanOut.hosts.length > FAN_OUT_POOL_HOSTS_MAX) return;
    this.fanOutHosts += fanOut.hosts.length;
    this.fanOuts.push(fanOut);
  }
}
