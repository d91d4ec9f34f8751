import type { Rng } from "./rng.js";
import type { Micros } from "./time.js";

/**
 * The ports through which a machine acts on its world (DESIGN.md, "How a machine talks to the
 * world"). All are synchronous; the adapter behind them (sim/ or real/) does the actual work and
 * reports completions back as inputs on the machine's `Process` methods.
 */

/** A host id, or a multicast group at or above GROUP_BASE. */
export type Address = number;
export const GROUP_BASE = 0x4000_0000;
export const GROUPS_MAX = 0x3fff_ffff;

export function groupAddress(group: number): Address {
  if (!Number.isInteger(group) || group < 0 || group > GROUPS_MAX) throw new Error(`bad multicast group ${group}`);
  return GROUP_BASE + group;
}

export function isGroup(address: Address): boolean {
  return address >= GROUP_BASE;
}

/**
 * A message sent without encoding, for simulations where encoding thousands of packets would only
 * cost time. `wireBytes` is what its encoding would occupy on the wire.
 */
export interface WireMessage {
  readonly type: string;
  readonly wireBytes: number;
}

export type Payload = Uint8Array | WireMessage;

export function payloadBytes(payload: Payload): number {
  return payload instanceof Uint8Array ? payload.byteLength : payload.wireBytes;
}

export interface Net {
  /** This host's address. */
  readonly self: Address;
  /** Sends a datagram to a host or group, on a port. Delivery is not guaranteed. */
  send(to: Address, port: number, payload: Payload): void;
  join(group: Address): void;
  leave(group: Address): void;
}

export interface Timers {
  /** Arms timer `id` to fire at local time `at`, replacing any earlier arming of the same id. */
  set(id: number, at: Micros): void;
  cancel(id: number): void;
}

export interface Disk {
  readonly sizeBytes: number;
  /** Writes `data` (or `data` zero bytes, when a length is given) at `offset`; completion arrives as diskDone(op). */
  write(op: number, offset: number, data: Uint8Array | number): void;
  /** Reads `length` bytes at `offset`; completion arrives as diskDone(op, null, bytes). */
  read(op: number, offset: number, length: number): void;
}

export interface Cpu {
  /** Runs `units` of work of kind `work` (e.g. "inflate" bytes); completion arrives as cpuDone(op). */
  run(op: number, work: string, units: number): void;
}

/** Structured events: progress reports, state changes, protocol errors. */
export interface EventSink {
  emit(kind: string, fields: Readonly<Record<string, string | number | boolean>>): void;
}

export interface Env {
  now(): Micros;
  rng: Rng;
  net: Net;
  timers: Timers;
  disk?: Disk;
  cpu?: Cpu;
  events: EventSink;
}

/** The inputs a machine accepts from its world. A late or repeated timer must be harmless. */
export interface Process {
  start?(): void;
  receive?(from: Address, fromPort: number, payload: Payload): void;
  /**
   * Datagrams from one sender that arrived together: `payloads[k]` for each bit k of `kept`, in
   * order. Must do exactly what a receive of each in turn would; lets a machine take a burst in one
   * call (a simulation delivers a multicast burst this way). Only with `receive`.
   */
  receiveAll?(from: Address, fromPort: number, payloads: readonly Payload[], kept: number): void;
  timer?(id: number): void;
  diskDone?(op: number, error: string | null, data?: Uint8Array): void;
  cpuDone?(op: number): void;
  /** The host is going down cleanly; a crash does not call this. */
  stop?(): void;
}

export type ProcessFactory = (env: Env) => Process;
