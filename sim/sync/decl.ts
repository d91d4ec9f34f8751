import type { CrashPolicy, ExtraPolicy } from "../../core/sync/codec.js";
import type { StartPattern } from "../frisbee/decl.js";

/**
 * The sync part of a typed scenario: what the installer puts into a World. A scenario file is read
 * into it (scenarios/sync/schema.ts).
 */

export interface SyncBarrierDecl {
  index: number;
  name: string;
  initializer: number;
  waiters: number[];
  /** What the INIT adds; by default the number of waiters. */
  count: number;
  initAtUs: number;
  arriveAtUs: number;
  arrive: StartPattern;
  /** Explicit arrival time of each waiter, in order, instead of a pattern. */
  arrivalsUs: number[] | null;
  deadlineMs: number;
  crash: CrashPolicy;
  extra: ExtraPolicy;
  noWait: boolean;
  /** Our UDP client with request ids and retransmission, or the original's single datagram. */
  extended: boolean;
  /** Error code each participant passes, by host id; absent is 0. */
  errors: Map<number, number>;
  retransmitUs: number;
  retransmitMaxUs: number;
}

export interface SyncDecl {
  server: number;
  port: number;
  leaseUs: number;
  barriers: SyncBarrierDecl[];
}

/** Client processes listen on this port plus the barrier's index. */
export const SYNC_CLIENT_PORT_BASE = 30_000;
