import {
  createRng,
  Engine,
  type Address,
  type HandlerId,
  type Micros,
  type Payload,
  type ProcessFactory,
  type Rng,
} from "../core/engine/index.js";
import { SimCpu, type CpuSpec } from "./cpu.js";
import { SimDisk, type DiskSpec } from "./disk.js";
import { Host, makeEnv, ProcTimers, type HostWorld, type ProcSlot } from "./host.js";
import { bitCount, type LinkSpec } from "./link.js";
import { DELIVERED, HELD, Network, UNDELIVERABLE, type DeliverOutcome, type Packet, type Train } from "./network.js";

export interface SimEvent {
  timeUs: Micros;
  host: string;
  kind: string;
  fields: Readonly<Record<string, string | number | boolean>>;
}

/** Most structured events a world keeps for the caller; the rest are only counted by kind. */
export const EVENTS_KEPT_MAX = 10_000;

interface Completion {
  slot: ProcSlot;
  error: string | null;
  data: Uint8Array | undefined;
}

/**
 * The simulated world: one engine, one seed, hosts on a switched network with disks and CPUs, and
 * the faults that can strike them. Core machines run here unmodified through the ports of `Env`.
 */
export class World implements HostWorld {
  readonly engine = new Engine();
  readonly rng: Rng;
  readonly network: Network;
  readonly hosts: Host[] = [];
  readonly events: SimEvent[] = [];
  readonly eventCounts = new Map<string, number>();
  private readonly hostsByName = new Map<string, Host>();
  /**
   * The live process on each port, indexed by host id: the delivery of each multicast copy is one
   * array read instead of a map lookup per host. Mirrors `host.procs`, which stays the record.
   */
  private readonly slotsByPort = new Map<number, (ProcSlot | undefined)[]>();
  private lastPort = -1;
  private lastPortSlots: (ProcSlot | undefined)[] = [];
  private readonly onCall: HandlerId<() => void>;
  private readonly onStart: HandlerId<ProcSlot>;
  private readonly onTimer: HandlerId<ProcSlot>;
  private readonly onDiskDone: HandlerId<Completion>;
  private readonly onCpuDone: HandlerId<ProcSlot>;

  constructor(readonly seed: number | string) {
    this.rng = createRng(seed);
    this.network = new Network(
      this.engine,
      this.rng.fork("net"),
      (host, packet) => this.deliver(host, packet),
      (host, train, kept) => this.deliverAll(host, train, kept),
    );
    this.onCall = this.engine.register<() => void>("world.call", (_arg, fn) => fn());
    this.onStart = this.engine.register<ProcSlot>("proc.start", (_arg, slot) => this.startProcess(slot));
    this.onTimer = this.engine.register<ProcSlot>("proc.timer", (id, slot) => this.fireTimer(slot, id));
    this.onDiskDone = this.engine.register<Completion>("disk.done", (op, c) => this.completeDisk(op, c));
    this.onCpuDone = this.engine.register<ProcSlot>("cpu.done", (op, slot) => this.completeCpu(op, slot));
  }

  now(): Micros {
    return this.engine.now;
  }

  addHost(name: string, link: LinkSpec): Host {
    if (this.hostsByName.has(name)) throw new Error(`host ${name} already exists`);
    const id = this.network.addHost(name, link);
    const host = new Host(id, name, this.rng);
    this.hosts.push(host);
    for (const slots of this.slotsByPort.values()) slots.push(undefined);
    this.hostsByName.set(name, host);
    return host;
  }

  host(name: string): Host {
    const host = this.hostsByName.get(name);
    if (host === undefined) throw new Error(`no host named ${name}`);
    return host;
  }

  attachDisk(host: Host, spec: DiskSpec): void {
    host.disk = new SimDisk(spec, host.rng.fork("disk"));
  }

  attachCpu(host: Host, spec: CpuSpec): void {
    host.cpu = new SimCpu(spec);
  }

  /** Runs `factory` as the process on `port` of `host`, now and again after every restart. */
  install(host: Host, port: number, factory: ProcessFactory): void {
    if (host.factories.has(port)) throw new Error(`port ${port} of ${host.name} is taken`);
    host.factories.set(port, factory);
    if (host.state !== "crashed") this.spawn(host, port, factory);
  }

  /** Runs `fn` inside the simulation at global time `atUs`. */
  call(atUs: Micros, fn: () => void): void {
    this.engine.at(atUs, this.onCall, 0, fn);
  }

  run(untilUs?: Micros): void {
    this.engine.run(untilUs === undefined ? {} : { untilUs });
  }

  crash(host: Host): void {
    if (host.state === "crashed") return;
    host.state = "crashed";
    host.epoch++;
    host.crashes++;
    for (const slot of host.procs.values()) {
      for (const handle of slot.timers.handles()) this.engine.cancel(handle);
    }
    for (const port of host.procs.keys()) this.slotsOn(port)[host.id] = undefined;
    host.procs.clear();
    host.deferred.length = 0;
    for (; host.heldPackets > 0; host.heldPackets--) this.network.settleHeld(false);
    this.network.leaveAll(host.id);
    this.emit(host, "host.crash", {});
  }

  restart(host: Host): void {
    if (host.state !== "crashed") return;
    host.state = "up";
    this.emit(host, "host.restart", {});
    for (const [port, factory] of host.factories) this.spawn(host, port, factory);
  }

  pause(host: Host): void {
    if (host.state !== "up") return;
    host.state = "paused";
    this.emit(host, "host.pause", {});
  }

  resume(host: Host): void {
    if (host.state !== "paused") return;
    host.state = "up";
    this.emit(host, "host.resume", { heldInputs: host.deferred.length });
    const held = host.deferred.splice(0, host.deferred.length);
    for (const run of held) {
      if (host.state !== "up") break;
      run();
    }
  }

  send(host: Host, srcPort: number, to: Address, port: number, payload: Payload): void {
    if (host.state !== "up") return;
    this.network.send(host.id, srcPort, to, port, payload);
  }

  join(host: Host, group: Address): void {
    this.network.join(group, host.id);
  }

  leave(host: Host, group: Address): void {
    this.network.leave(group, host.id);
  }

  setTimer(slot: ProcSlot, id: number, atGlobalUs: Micros): void {
    const old = slot.timers.get(id);
    if (old !== undefined) this.engine.cancel(old);
    slot.timers.set(id, this.engine.at(atGlobalUs, this.onTimer, id, slot));
  }

  cancelTimer(slot: ProcSlot, id: number): void {
    const old = slot.timers.get(id);
    if (old === undefined) return;
    this.engine.cancel(old);
    slot.timers.delete(id);
  }

  diskWrite(slot: ProcSlot, op: number, offset: number, data: Uint8Array | number): void {
    const disk = slot.host.disk;
    if (disk === null) throw new Error(`${slot.host.name} has no disk`);
    const [doneUs, error] = disk.scheduleWrite(this.engine.now, offset, data);
    this.engine.at(doneUs, this.onDiskDone, op, { slot, error, data: undefined });
  }

  diskRead(slot: ProcSlot, op: number, offset: number, length: number): void {
    const disk = slot.host.disk;
    if (disk === null) throw new Error(`${slot.host.name} has no disk`);
    const [doneUs, error, data] = disk.scheduleRead(this.engine.now, offset, length);
    this.engine.at(doneUs, this.onDiskDone, op, { slot, error, data });
  }

  cpuRun(slot: ProcSlot, op: number, work: string, units: number): void {
    const cpu = slot.host.cpu;
    if (cpu === null) throw new Error(`${slot.host.name} has no CPU model`);
    this.engine.at(cpu.schedule(this.engine.now, work, units), this.onCpuDone, op, slot);
  }

  emit(host: Host, kind: string, fields: Readonly<Record<string, string | number | boolean>>): void {
    this.record(host.name, kind, fields);
  }

  /** Records an event of the world itself (a partition, a change of loss), not of one host. */
  record(host: string, kind: string, fields: Readonly<Record<string, string | number | boolean>>): void {
    this.eventCounts.set(kind, (this.eventCounts.get(kind) ?? 0) + 1);
    if (this.events.length < EVENTS_KEPT_MAX) this.events.push({ timeUs: this.engine.now, host, kind, fields });
  }

  private spawn(host: Host, port: number, factory: ProcessFactory): void {
    const ref: { slot: ProcSlot | null } = { slot: null };
    const process = factory(makeEnv(this, host, port, ref));
    const slot: ProcSlot = { host, port, epoch: host.epoch, process, timers: new ProcTimers() };
    ref.slot = slot;
    host.procs.set(port, slot);
    this.slotsOn(port)[host.id] = slot;
    this.engine.at(this.engine.now, this.onStart, 0, slot);
  }

  private live(slot: ProcSlot): boolean {
    return slot.epoch === slot.host.epoch && slot.host.state !== "crashed";
  }

  private startProcess(slot: ProcSlot): void {
    if (this.live(slot)) slot.host.input(() => slot.process.start?.(), false);
  }

  private fireTimer(slot: ProcSlot, id: number): void {
    if (!this.live(slot)) return;
    slot.timers.delete(id);
    if (slot.host.state === "up") slot.process.timer?.(id);
    else slot.host.input(() => slot.process.timer?.(id), false);
  }

  private completeDisk(op: number, c: Completion): void {
    if (this.live(c.slot)) c.slot.host.input(() => c.slot.process.diskDone?.(op, c.error, c.data), false);
  }

  private completeCpu(op: number, slot: ProcSlot): void {
    if (this.live(slot)) slot.host.input(() => slot.process.cpuDone?.(op), false);
  }

  private slotsOn(port: number): (ProcSlot | undefined)[] {
    if (port === this.lastPort) return this.lastPortSlots;
    let slots = this.slotsByPort.get(port);
    if (slots === undefined) {
      // Dense from the start (holes would make element reads slower); addHost keeps it so.
      slots = new Array<ProcSlot | undefined>(this.hosts.length).fill(undefined);
      this.slotsByPort.set(port, slots);
    }
    this.lastPort = port;
    this.lastPortSlots = slots;
    return slots;
  }

  private deliverAll(hostId: number, train: Train, kept: number): number {
    // A train's packets share their source and ports.
    const first = train.packets[0] as Packet;
    const slot = this.slotsOn(first.dstPort)[hostId];
    if (slot === undefined || slot.host.state !== "up") return -1;
    const process = slot.process;
    if (process.receive === undefined) return -1;
    if (process.receiveAll !== undefined) process.receiveAll(first.src, first.srcPort, train.payloads, kept);
    else for (let k = 0; k < train.payloads.length; k++) if ((kept & (1 << k)) !== 0) process.receive(first.src, first.srcPort, train.payloads[k] as Payload);
    return bitCount(kept);
  }

  private deliver(hostId: number, packet: Packet): DeliverOutcome {
    // A crashed host has no slots, so one read answers "down or nobody listening".
    const slot = this.slotsOn(packet.dstPort)[hostId];
    if (slot === undefined || slot.process.receive === undefined) return UNDELIVERABLE;
    const host = slot.host;
    if (host.state === "up") {
      slot.process.receive(packet.src, packet.srcPort, packet.payload);
      return DELIVERED;
    }
    const held = host.input(() => {
      host.heldPackets--;
      this.network.settleHeld(true);
      slot.process.receive?.(packet.src, packet.srcPort, packet.payload);
    }, true);
    if (!held) return UNDELIVERABLE;
    host.heldPackets++;
    return HELD;
  }
}
