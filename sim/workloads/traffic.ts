import type { Address, Env, Micros, Payload, Process } from "../../core/engine/index.js";

/**
 * Background traffic: a source sending datagrams at a rate to a host or a multicast group, and a
 * sink counting what arrives. Written against the ports only, like any machine, so the same pair
 * could load a real network. Messages travel unencoded (a WireMessage) to keep large runs cheap.
 */

export interface TrafficMessage {
  readonly type: "traffic";
  readonly wireBytes: number;
  readonly flow: number;
  readonly seq: number;
  /** Which life of the source sent it: a restarted source starts its sequence numbers again. */
  readonly life: number;
  readonly sentUs: Micros;
}

export interface TrafficSourceConfig {
  /** Flow id of the first target; target i is flow `flowBase + i`. */
  flowBase: number;
  /** One flow per target, each at the full rate. */
  to: readonly Address[];
  port: number;
  /** Payload bits per second. */
  rateBps: number;
  packetBytes: number;
  pattern: "constant" | "poisson";
  startUs: Micros;
  stopUs: Micros;
  /** Counts the source's restarts; sinks tell lives apart by it. */
  life?: number;
  /** Record when each packet was sent (sentUs), for checks that must know whether a flow had
   * anything to deliver in a window (partitions); kept up to SINK_ARRIVALS_KEPT_MAX per target. */
  keepSent?: boolean;
}

export interface TrafficSourceStats {
  /** Packets sent, per target. */
  sent: number[];
}

/** Timer id t + 1 paces target t; each flow keeps its own sequence numbers. */
export class TrafficSource implements Process {
  readonly stats: TrafficSourceStats;
  private readonly gapUs: number;
  /** Ideal (unrounded) next send time per target, so a constant rate does not drift by rounding. */
  private readonly nextUs: Float64Array;
  /** Send times per target when `keepSent` (else null); complete unless `sentUsFull`. */
  readonly sentUs: number[][] | null;

  constructor(
    private readonly env: Env,
    private readonly config: TrafficSourceConfig,
  ) {
    this.gapUs = (config.packetBytes * 8 * 1_000_000) / config.rateBps;
    this.stats = { sent: config.to.map(() => 0) };
    this.nextUs = new Float64Array(config.to.length);
    this.sentUs = config.keepSent === true ? config.to.map(() => []) : null;
  }

  /** Whether target's record of send times stopped at its limit (later sends unknown). */
  sentUsFull(target: number): boolean {
    return (this.sentUs?.[target]?.length ?? 0) >= SINK_ARRIVALS_KEPT_MAX;
  }

  start(): void {
    const at = Math.max(this.env.now(), this.config.startUs);
    for (let t = 0; t < this.config.to.length; t++) {
      this.nextUs[t] = at;
      this.arm(t, at);
    }
  }

  timer(id: number): void {
    const target = id - 1;
    const to = this.config.to[target];
    if (to === undefined) return;
    const now = this.env.now();
    if (now >= this.config.stopUs) return;
    const sent = this.stats.sent[target] as number;
    this.stats.sent[target] = sent + 1;
    const times = this.sentUs?.[target];
    if (times !== undefined && times.length < SINK_ARRIVALS_KEPT_MAX) times.push(now);
    const message: TrafficMessage = {
      type: "traffic",
      wireBytes: this.config.packetBytes,
      flow: this.config.flowBase + target,
      seq: sent,
      life: this.config.life ?? 0,
      sentUs: now,
    };
    this.env.net.send(to, this.config.port, message);
    const gap = this.config.pattern === "constant" ? this.gapUs : this.env.rng.exponential(this.gapUs);
    const next = Math.max((this.nextUs[target] as number) + gap, now + 1);
    this.nextUs[target] = next;
    this.arm(target, Math.ceil(next));
  }

  private arm(target: number, atUs: Micros): void {
    if (atUs < this.config.stopUs) this.env.timers.set(target + 1, atUs);
  }
}

export interface FlowReceipt {
  packets: number;
  bytes: number;
  duplicates: number;
  /** Highest sequence number seen, -1 before any. */
  seqMax: number;
  latencyUsSum: number;
  /** Arrivals as (sentUs, arrivedUs) pairs, kept for invariant checks up to a limit. */
  arrivals: number[];
}

/** Most arrivals per flow a sink keeps for invariant checks; beyond that only counters move. */
export const SINK_ARRIVALS_KEPT_MAX = 200_000;

/** Lives of one source that a sink tells apart; beyond that, lives share duplicate detection. */
export const LIVES_MAX = 65_536;

export class TrafficSink implements Process {
  readonly flows = new Map<number, FlowReceipt>();
  private readonly seen = new Map<number, Uint8Array>();
  foreign = 0;

  /** `keepArrivals`: record (sent, arrived) times per packet, for checks that need them (partitions). */
  constructor(
    private readonly env: Env,
    private readonly groups: readonly Address[],
    private readonly keepArrivals = true,
  ) {}

  start(): void {
    for (const group of this.groups) this.env.net.join(group);
  }

  receive(_from: Address, _fromPort: number, payload: Payload): void {
    if (payload instanceof Uint8Array || payload.type !== "traffic") {
      this.foreign++;
      return;
    }
    const message = payload as TrafficMessage;
    const receipt = this.receipt(message.flow);
    if (this.markSeen(message.flow * LIVES_MAX + (message.life % LIVES_MAX), message.seq)) {
      receipt.duplicates++;
      return;
    }
    const now = this.env.now();
    receipt.packets++;
    receipt.bytes += message.wireBytes;
    receipt.latencyUsSum += now - message.sentUs;
    if (message.seq > receipt.seqMax) receipt.seqMax = message.seq;
    if (this.keepArrivals && receipt.arrivals.length < SINK_ARRIVALS_KEPT_MAX * 2) receipt.arrivals.push(message.sentUs, now);
  }

  private receipt(flow: number): FlowReceipt {
    let receipt = this.flows.get(flow);
    if (receipt === undefined) {
      receipt = { packets: 0, bytes: 0, duplicates: 0, seqMax: -1, latencyUsSum: 0, arrivals: [] };
      this.flows.set(flow, receipt);
    }
    return receipt;
  }

  /** Marks a sequence number as seen; returns true if it had been seen before. */
  private markSeen(key: number, seq: number): boolean {
    let bits = this.seen.get(key);
    const byte = seq >>> 3;
    if (bits === undefined || byte >= bits.length) {
      const bigger = new Uint8Array(Math.max(64, (byte + 1) * 2));
      if (bits !== undefined) bigger.set(bits);
      bits = bigger;
      this.seen.set(key, bits);
    }
    const mask = 1 << (seq & 7);
    const had = ((bits[byte] as number) & mask) !== 0;
    bits[byte] = (bits[byte] as number) | mask;
    return had;
  }
}
