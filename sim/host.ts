import type {
  Address,
  Env,
  EventHandle,
  Micros,
  Payload,
  Process,
  ProcessFactory,
  Rng,
} from "../core/engine/index.js";
import type { SimCpu } from "./cpu.js";
import type { SimDisk } from "./disk.js";

export type HostState = "up" | "crashed" | "paused";

/** A process bound to a port of a host, for one life of that host (a crash ends it). */
export interface ProcSlot {
  readonly host: Host;
  readonly port: number;
  readonly epoch: number;
  readonly process: Process;
  readonly timers: ProcTimers;
}

/** Timer ids below this are kept in an array; machines number their few timers from 0 or 1. */
export const TIMER_IDS_DIRECT = 32;

/**
 * A process's armed timers, by id: the engine handle of each. Timers are re-armed on most inputs,
 * so the small ids skip the map (whose number keys and values cost a lookup and a box each time).
 */
export class ProcTimers {
  private readonly direct = new Float64Array(TIMER_IDS_DIRECT).fill(-1);
  private readonly others = new Map<number, EventHandle>();

  get(id: number): EventHandle | undefined {
    if (isDirect(id)) {
      const handle = this.direct[id] as number;
      return handle < 0 ? undefined : handle;
    }
    return this.others.get(id);
  }

  set(id: number, handle: EventHandle): void {
    if (isDirect(id)) this.direct[id] = handle;
    else this.others.set(id, handle);
  }

  delete(id: number): void {
    if (isDirect(id)) this.direct[id] = -1;
    else this.others.delete(id);
  }

  handles(): EventHandle[] {
    return [...this.direct.filter((handle) => handle >= 0), ...this.others.values()];
  }
}

function isDirect(id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id < TIMER_IDS_DIRECT;
}

export interface HostClock {
  /** Local clock reading at global time 0. */
  offsetUs: Micros;
  /** Parts per million the local clock runs fast (negative: slow). */
  driftPpm: number;
}

/** Most inputs a paused host holds for when it resumes; beyond that, arriving packets are dropped. */
export const PAUSED_INPUTS_MAX = 65_536;

export class Host {
  state: HostState = "up";
  /** Bumped by every crash, so completions meant for a former life are recognised and dropped. */
  epoch = 0;
  readonly procs = new Map<number, ProcSlot>();
  readonly factories = new Map<number, ProcessFactory>();
  readonly deferred: (() => void)[] = [];
  readonly clock: HostClock = { offsetUs: 0, driftPpm: 0 };
  readonly rng: Rng;
  disk: SimDisk | null = null;
  cpu: SimCpu | null = null;
  crashes = 0;
  pausedDrops = 0;
  /** Packets among `deferred`, so a crash can account for them. */
  heldPackets = 0;

  constructor(
    readonly id: Address,
    readonly name: string,
    rootRng: Rng,
  ) {
    this.rng = rootRng.fork(`host:${name}`);
  }

  /** The host's own clock at global time `globalUs`. */
  localTime(globalUs: Micros): Micros {
    const clock = this.clock;
    if (clock.driftPpm === 0 && clock.offsetUs === 0) return globalUs;
    return Math.round(clock.offsetUs + globalUs * (1 + clock.driftPpm / 1e6));
  }

  /** The earliest global time at which the local clock reads at least `localUs`. */
  globalTime(localUs: Micros): Micros {
    // A true clock first reads localUs at the first whole microsecond at or after it (what the
    // general steps below also find, at four readings of the clock).
    if (this.clock.driftPpm === 0 && this.clock.offsetUs === 0) return Math.ceil(localUs);
    // localTime rounds, so it first reads localUs at the exact time localUs - 0.5; the steps correct
    // the division's floating-point error, which is under one microsecond.
    let globalUs = Math.ceil((localUs - 0.5 - this.clock.offsetUs) / (1 + this.clock.driftPpm / 1e6));
    for (let step = 0; step < 2 && this.localTime(globalUs) < localUs; step++) globalUs++;
    for (let step = 0; step < 2 && this.localTime(globalUs - 1) >= localUs; step++) globalUs--;
    return globalUs;
  }

  /** Runs an input now, or holds it until resume if paused. Returns false if it was dropped. */
  input(run: () => void, droppable: boolean): boolean {
    if (this.state === "crashed") return false;
    if (this.state === "paused") {
      if (droppable && this.deferred.length >= PAUSED_INPUTS_MAX) {
        this.pausedDrops++;
        return false;
      }
      this.deferred.push(run);
      return true;
    }
    run();
    return true;
  }
}

/** What a host's environment needs from the world that owns it. */
export interface HostWorld {
  now(): Micros;
  send(host: Host, srcPort: number, to: Address, port: number, payload: Payload): void;
  join(host: Host, group: Address): void;
  leave(host: Host, group: Address): void;
  setTimer(slot: ProcSlot, id: number, atGlobalUs: Micros): void;
  cancelTimer(slot: ProcSlot, id: number): void;
  diskWrite(slot: ProcSlot, op: number, offset: number, data: Uint8Array | number): void;
  diskRead(slot: ProcSlot, op: number, offset: number, length: number): void;
  cpuRun(slot: ProcSlot, op: number, work: string, units: number): void;
  emit(host: Host, kind: string, fields: Readonly<Record<string, string | number | boolean>>): void;
}

/** An env that carries its host and world, for `localNow`. */
interface HostEnv extends Env {
  readonly host: Host;
  readonly world: HostWorld;
}

/**
 * The `now` of every process: one shared function reading the env it is called on. A closure per
 * process costs two more dependent loads per call, and a multicast block is a call per receiver.
 */
function localNow(this: HostEnv): Micros {
  return this.host.localTime(this.world.now());
}

/** Builds the ports of DESIGN.md for one process; `slot` is filled once the process exists. */
export function makeEnv(world: HostWorld, host: Host, port: number, slotRef: { slot: ProcSlot | null }): Env {
  const slot = (): ProcSlot => {
    if (slotRef.slot === null) throw new Error("a process used its ports before its constructor returned");
    return slotRef.slot;
  };
  const env: HostEnv = {
    host,
    world,
    now: localNow,
    rng: host.rng.fork(`port:${port}`),
    net: {
      self: host.id,
      send: (to, toPort, payload) => world.send(host, port, to, toPort, payload),
      join: (group) => world.join(host, group),
      leave: (group) => world.leave(host, group),
    },
    timers: {
      set: (id, at) => world.setTimer(slot(), id, Math.max(world.now(), host.globalTime(at))),
      cancel: (id) => world.cancelTimer(slot(), id),
    },
    events: { emit: (kind, fields) => world.emit(host, kind, fields) },
  };
  if (host.disk !== null) {
    const sizeBytes = host.disk.spec.sizeBytes;
    env.disk = {
      sizeBytes,
      write: (op, offset, data) => world.diskWrite(slot(), op, offset, data),
      read: (op, offset, length) => world.diskRead(slot(), op, offset, length),
    };
  }
  if (host.cpu !== null) env.cpu = { run: (op, work, units) => world.cpuRun(slot(), op, work, units) };
  return env;
}
