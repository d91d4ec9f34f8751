import {
  GROUP_BASE,
  isGroup,
  payloadBytes,
  type Address,
  type Engine,
  type HandlerId,
  type Payload,
  type Rng,
} from "../core/engine/index.js";
import { FanOutPool, type Batch, type FanOut } from "./fanout.js";
import { Link, LINK_LOST, LINK_QUEUE_DROP, LinkTable, type LinkSpec } from "./link.js";
import { makeLossModel, type LossSpec } from "./loss.js";

export interface Packet {
  readonly src: Address;
  readonly srcPort: number;
  readonly dst: Address;
  readonly dstPort: number;
  readonly payload: Payload;
  readonly bytes: number;
  readonly sentUs: number;
}

/** Where a packet (or one receiver's copy of a multicast packet) ended up. */
export interface NetworkStats {
  sent: number;
  /** Packets that crossed their sender's uplink and reached the switch. */
  switched: number;
  /** Copies the switch tried to forward: one per unicast packet, one per group member. */
  copies: number;
  delivered: number;
  lostUplink: number;
  queueDropsUplink: number;
  lostDownlink: number;
  queueDropsDownlink: number;
  partitionDrops: number;
  /** Copies that reached a host that was down, or a port nobody listened on. */
  undeliverable: number;
  /** Multicast packets sent to a group with no members. */
  noMembers: number;
  /** Packets on an uplink and copies on a downlink, not yet arrived. */
  inFlightUplink: number;
  inFlightDownlink: number;
  /** Copies that arrived at a paused host and wait for it to resume (or crash). */
  held: number;
}

/** Blocks traffic from side A to side B (and B to A unless one-way). */
export interface Partition {
  readonly id: number;
  readonly side: Uint8Array;
  readonly oneWay: boolean;
}

/** What became of a copy handed to a host. */
export const DELIVERED = 0;
/** Held for a paused host: it counts as delivered or undeliverable later, through `settleHeld`. */
export const HELD = 1;
export const UNDELIVERABLE = 2;
export type DeliverOutcome = typeof DELIVERED | typeof HELD | typeof UNDELIVERABLE;

/** Hands a packet to a host (host down or no listener: UNDELIVERABLE). */
export type Deliver = (host: number, packet: Packet) => DeliverOutcome;

/**
 * Hands a host the copies of a train that reached it (bit k of `kept` for packet k), in order, all
 * delivered; returns how many, or -1 without handing any when they must go one by one (`Deliver`:
 * the host is not simply up and listening).
 */
export type DeliverAll = (host: number, train: Train, kept: number) => number;

/** Most members one multicast group may have. */
export const GROUP_MEMBERS_MAX = 1_000_000;

/** Most packets one train carries: which of them reached a receiver is one 32-bit word. */
export const TRAIN_PACKETS_MAX = 32;

/**
 * Multicast packets one host sent to one group and port at one instant (a Frisbee server's burst),
 * each with its time at the switch. They cross the switch as one event, and each receiver takes the
 * copies that reached it in one delivery, when the first of them arrives (as a host that takes a
 * burst off its NIC in one poll). Every copy is still queued, serialised and lost on its own, so
 * only when a receiver sees a packet moves: earlier by at most the burst's time on its downlink
 * (1.3 ms for 16 blocks at 100 Mbit/s, under the server's 2 ms burst gap). A train of one packet is
 * exactly a packet. This is a model change: one event per burst instead of one per packet, and
 * the receiver's work on a burst in one call, which is what makes 80 clients run fast.
 */
export class Train {
  readonly packets: Packet[] = [];
  /** The packets' payloads, for a receiver that takes them all at once, and their sizes on the wire. */
  readonly payloads: Payload[] = [];
  readonly sizes: number[] = [];
  readonly switchUs: number[] = [];
  /** The packets' size on the wire when they all have the same (a burst of whole blocks), else -1. */
  sameBytes = -1;
  /** Reached the switch: no packet joins it any more. */
  switched = false;
}

/**
 * A star: each host has an uplink to the switch and a downlink from it. The switch has unlimited
 * fabric; queues form at the links' egress. Multicast is fanned out at the switch to every member
 * except the sender, each copy then crossing its member's downlink on its own.
 */
export class Network {
  readonly uplinks: Link[] = [];
  readonly downlinks: Link[] = [];
  /** The links' state, row h for host h. */
  private readonly uplinkTable = new LinkTable();
  private readonly downlinkTable = new LinkTable();
  readonly stats: NetworkStats = {
    sent: 0,
    switched: 0,
    copies: 0,
    delivered: 0,
    lostUplink: 0,
    queueDropsUplink: 0,
    lostDownlink: 0,
    queueDropsDownlink: 0,
    partitionDrops: 0,
    undeliverable: 0,
    noMembers: 0,
    inFlightUplink: 0,
    inFlightDownlink: 0,
    held: 0,
  };
  /** Bytes added to every payload on the wire (e.g. 28 for IPv4 + UDP). */
  headerBytes = 0;
  private readonly groups = new Map<Address, number[]>();
  private partitions: Partition[] = [];
  private partitionIdNext = 1;
  private readonly atSwitch: HandlerId<Packet | Train>;
  private readonly atHost: HandlerId<Packet>;
  private readonly atHosts: HandlerId<Batch<Packet, Train>>;
  private readonly fanOuts = new FanOutPool<Packet, Train>();
  /** The train the last multicast packet sent joined, while more may join it. */
  private openTrain: Train | null = null;

  constructor(
    private readonly engine: Engine,
    private readonly rng: Rng,
    private readonly deliver: Deliver,
    private readonly deliverAll: DeliverAll = () => -1,
  ) {
    // One handler (its name is part of every fingerprint) for packets and trains.
    this.atSwitch = engine.register<Packet | Train>("net.switch", (_arg, ref) => (ref instanceof Train ? this.switchTrain(ref) : this.switchPacket(ref)));
    this.atHost = engine.register<Packet>("net.deliver", (host, packet) => this.deliverCopy(host, packet));
    this.atHosts = engine.register<Batch<Packet, Train>>("net.deliver-batch", (_arg, batch) => this.deliverBatch(batch));
  }

  get hostCount(): number {
    return this.uplinks.length;
  }

  addHost(name: string, spec: LinkSpec): number {
    const id = this.uplinks.length;
    if (id >= GROUP_BASE) throw new Error("too many hosts");
    this.uplinks.push(new Link(`${name}.up`, spec, this.uplinkTable));
    this.downlinks.push(new Link(`${name}.down`, spec, this.downlinkTable));
    return id;
  }

  setLoss(link: Link, spec: LossSpec | null): void {
    link.loss = spec === null ? null : makeLossModel(spec, this.rng.fork(`loss:${link.name}`));
  }

  join(group: Address, host: number): void {
    let members = this.groups.get(group);
    if (members === undefined) {
      members = [];
      this.groups.set(group, members);
    }
    if (members.includes(host)) return;
    if (members.length >= GROUP_MEMBERS_MAX) throw new Error(`group ${group - GROUP_BASE} is full`);
    members.push(host);
  }

  leave(group: Address, host: number): void {
    const members = this.groups.get(group);
    if (members === undefined) return;
    const at = members.indexOf(host);
    if (at >= 0) members.splice(at, 1);
  }

  /** Removes a host from every group (it crashed). */
  leaveAll(host: number): void {
    for (const members of this.groups.values()) {
      const at = members.indexOf(host);
      if (at >= 0) members.splice(at, 1);
    }
  }

  members(group: Address): readonly number[] {
    return this.groups.get(group) ?? [];
  }

  /** Cuts traffic between two sets of hosts; returns an id for `heal`. */
  partition(sideA: readonly number[], sideB: readonly number[], oneWay: boolean): number {
    const side = new Uint8Array(this.hostCount);
    for (const h of sideA) side[h] = 1;
    for (const h of sideB) {
      if (side[h] === 1) throw new Error(`host ${h} is on both sides of a partition`);
      side[h] = 2;
    }
    const id = this.partitionIdNext++;
    this.partitions.push({ id, side, oneWay });
    return id;
  }

  heal(id: number): void {
    this.partitions = this.partitions.filter((p) => p.id !== id);
  }

  blocked(src: number, dst: number): boolean {
    for (const p of this.partitions) {
      const a = p.side[src];
      const b = p.side[dst];
      if (a === 1 && b === 2) return true;
      if (!p.oneWay && a === 2 && b === 1) return true;
    }
    return false;
  }

  send(src: number, srcPort: number, dst: Address, dstPort: number, payload: Payload): void {
    if (!isGroup(dst) && (dst < 0 || dst >= this.hostCount || !Number.isInteger(dst))) {
      throw new Error(`send to unknown host ${dst}`);
    }
    const bytes = payloadBytes(payload) + this.headerBytes;
    const now = this.engine.now;
    this.stats.sent++;
    const arrival = this.uplinkTable.transmit(src, now, bytes);
    if (arrival === LINK_QUEUE_DROP) {
      this.stats.queueDropsUplink++;
      return;
    }
    if (arrival === LINK_LOST) {
      this.stats.lostUplink++;
      return;
    }
    const packet: Packet = { src, srcPort, dst, dstPort, payload, bytes, sentUs: now };
    this.stats.inFlightUplink++;
    if (!isGroup(dst)) {
      this.engine.at(arrival, this.atSwitch, 0, packet);
      return;
    }
    const open = this.openTrain;
    if (open !== null && !open.switched && open.packets.length < TRAIN_PACKETS_MAX && sameFlow(open.packets[0] as Packet, packet)) {
      open.packets.push(packet);
      open.payloads.push(payload);
      open.sizes.push(bytes);
      open.switchUs.push(arrival);
      if (bytes !== open.sameBytes) open.sameBytes = -1;
      return;
    }
    const train = new Train();
    train.packets.push(packet);
    train.payloads.push(payload);
    train.sizes.push(bytes);
    train.switchUs.push(arrival);
    train.sameBytes = bytes;
    this.openTrain = train;
    this.engine.at(arrival, this.atSwitch, 0, train);
  }

  private switchTrain(train: Train): void {
    train.switched = true;
    const packets = train.packets;
    const n = packets.length;
    const first = packets[0] as Packet;
    if (n === 1) {
      this.switchPacket(first);
      return;
    }
    this.stats.inFlightUplink -= n;
    this.stats.switched += n;
    const members = this.groups.get(first.dst);
    if (members === undefined || members.length === 0) {
      this.stats.noMembers += n;
      return;
    }
    const src = first.src;
    const partitioned = this.partitions.length > 0;
    const links = this.downlinkTable;
    const fanOut = this.fanOuts.begin(first, train);
    let batch: Batch<Packet, Train> | null = null;
    for (let i = 0; i < members.length; i++) {
      const host = members[i] as number;
      if (host === src) continue;
      this.stats.copies += n;
      if (partitioned && this.blocked(src, host)) {
        this.stats.partitionDrops += n;
        continue;
      }
      const kept = links.transmitTrain(host, train.switchUs, train.sizes, train.sameBytes);
      this.stats.queueDropsDownlink += links.trainQueueDrops;
      this.stats.lostDownlink += links.trainLost;
      if (kept === 0) continue;
      this.stats.inFlightDownlink += n - links.trainQueueDrops - links.trainLost;
      const arrival = links.trainArrivalUs;
      if (batch === null || batch.arrivalUs !== arrival) {
        batch = this.fanOuts.batch(fanOut, arrival);
        this.engine.at(arrival, this.atHosts, 0, batch);
      }
      this.fanOuts.addKept(batch, host, kept);
    }
    this.fanOuts.end(fanOut);
  }

  private switchPacket(packet: Packet): void {
    this.stats.inFlightUplink--;
    this.stats.switched++;
    if (!isGroup(packet.dst)) {
      this.forward(packet, packet.dst);
      return;
    }
    const members = this.groups.get(packet.dst);
    if (members === undefined || members.length === 0) {
      this.stats.noMembers++;
      return;
    }
    // Copies arriving at the same instant are delivered by one event, in member order. That is
    // exactly what separate events would do: they would hold consecutive seqs at the same time,
    // and nothing scheduled meanwhile could run between them.
    const { src, bytes } = packet;
    const now = this.engine.now;
    const links = this.downlinkTable;
    const partitioned = this.partitions.length > 0;
    const fanOut = this.fanOuts.begin(packet);
    let batch: Batch<Packet, Train> | null = null;
    // The loop does transmitCopy's work itself: it runs for every copy, and one call per copy
    // instead of two is measurably cheaper.
    for (let i = 0; i < members.length; i++) {
      const host = members[i] as number;
      if (host === src) continue;
      this.stats.copies++;
      if (partitioned && this.blocked(src, host)) {
        this.stats.partitionDrops++;
        continue;
      }
      const arrival = this.countArrival(links.transmit(host, now, bytes));
      if (arrival < 0) continue;
      if (batch === null || batch.arrivalUs !== arrival) {
        batch = this.fanOuts.batch(fanOut, arrival);
        this.engine.at(arrival, this.atHosts, 0, batch);
      }
      this.fanOuts.add(batch, host);
    }
    this.fanOuts.end(fanOut);
  }

  private forward(packet: Packet, host: number): void {
    const arrival = this.transmitCopy(packet.src, host, this.engine.now, packet.bytes);
    if (arrival >= 0) this.engine.at(arrival, this.atHost, host, packet);
  }

  /** Puts one copy on a receiver's downlink; returns its arrival time, or -1 if it went no further. */
  private transmitCopy(src: number, host: number, nowUs: number, bytes: number): number {
    this.stats.copies++;
    if (this.partitions.length > 0 && this.blocked(src, host)) {
      this.stats.partitionDrops++;
      return -1;
    }
    return this.countArrival(this.downlinkTable.transmit(host, nowUs, bytes));
  }

  /** Counts what a downlink did with a copy; returns its arrival time, or -1 if it went no further. */
  private countArrival(arrival: number): number {
    if (arrival === LINK_QUEUE_DROP) {
      this.stats.queueDropsDownlink++;
      return -1;
    }
    if (arrival === LINK_LOST) {
      this.stats.lostDownlink++;
      return -1;
    }
    this.stats.inFlightDownlink++;
    return arrival;
  }

  /** A held copy reached its process (`delivered`) or was lost with its host's crash. */
  settleHeld(delivered: boolean): void {
    this.stats.held--;
    if (delivered) this.stats.delivered++;
    else this.stats.undeliverable++;
  }

  private deliverBatch(batch: Batch<Packet, Train>): void {
    // The event itself does not say who is in the batch; the trace must, or two runs that lost
    // different copies could share a fingerprint.
    const trace = this.engine.trace;
    const fanOut = batch.fanOut as FanOut<Packet, Train>;
    if (fanOut.train !== null) {
      this.deliverTrainBatch(batch, fanOut.train);
      return;
    }
    const packet = fanOut.packet as Packet;
    const hosts = fanOut.hosts;
    for (let i = batch.start; i < batch.end; i++) {
      const host = hosts[i] as number;
      trace.mix(host);
      this.deliverCopy(host, packet);
    }
    this.fanOuts.delivered(batch);
  }

  private deliverTrainBatch(batch: Batch<Packet, Train>, train: Train): void {
    const packets = train.packets;
    const trace = this.engine.trace;
    const fanOut = batch.fanOut as FanOut<Packet, Train>;
    const { hosts, kept } = fanOut;
    for (let i = batch.start; i < batch.end; i++) {
      const host = hosts[i] as number;
      const got = kept[i] as number;
      trace.mix(host);
      trace.mix(got);
      const delivered = this.deliverAll(host, train, got);
      if (delivered >= 0) {
        this.stats.inFlightDownlink -= delivered;
        this.stats.delivered += delivered;
        continue;
      }
      for (let k = 0; k < packets.length; k++) if ((got & (1 << k)) !== 0) this.deliverCopy(host, packets[k] as Packet);
    }
    this.fanOuts.delivered(batch);
  }

  private deliverCopy(host: number, packet: Packet): void {
    this.stats.inFlightDownlink--;
    const outcome = this.deliver(host, packet);
    if (outcome === DELIVERED) this.stats.delivered++;
    else if (outcome === HELD) this.stats.held++;
    else this.stats.undeliverable++;
  }
}

/** Two multicast packets of one train: from one host and port, to one group and port, sent at one instant. */
function sameFlow(a: Packet, b: Packet): boolean {
  return a.sentUs === b.sentUs && a.src === b.src && a.dst === b.dst && a.srcPort === b.srcPort && a.dstPort === b.dstPort;
}
