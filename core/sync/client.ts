import type { Address, Env, Micros, Payload, Process } from "../engine/index.js";
import { decodeReply, encodeRequest, type CrashPolicy, type ExtraPolicy, type SyncRequest } from "./codec.js";
import { CODE_RESET, CODE_TIMEOUT, REPLY_PENDING } from "./constants.js";

export interface SyncClientOptions {
  server: Address;
  port: number;
  type: "init" | "wait";
  name: string;
  count: number;
  error: number;
  noWait: boolean;
  /** false: the original's request, sent once, for an original server over UDP. */
  extended: boolean;
  crash: CrashPolicy;
  extra: ExtraPolicy;
  /** Barrier deadline an initializer asks for, 0 for none. */
  deadlineMs: number;
  generation: number;
  /** First retransmission after this long; doubles up to `retransmitMaxUs`. Also the lease keepalive. */
  retransmitUs: Micros;
  retransmitMaxUs: Micros;
  /** Give up locally after this long (0: never) and withdraw the request. */
  timeoutUs: Micros;
  onDone?: (outcome: SyncOutcome) => void;
}

export const CLIENT_DEFAULTS = {
  retransmitUs: 250_000,
  retransmitMaxUs: 4_000_000,
  crash: "original" as CrashPolicy,
  extra: "new" as ExtraPolicy,
  deadlineMs: 0,
  generation: 0,
  timeoutUs: 0,
  noWait: false,
  count: 0,
  error: 0,
  extended: true,
};

export interface SyncOutcome {
  code: number;
  generation: number;
  /** Local time the outcome was known. */
  atUs: Micros;
  /**
   * "server" for a reply, "local" when our own timeout gave up first, "restart" when a reply came
   * from a server with another epoch: it restarted and forgot our request (the code is 240, reset).
   */
  source: "server" | "local" | "restart";
}

const RETRANSMIT_TIMER = 1;
const GIVE_UP_TIMER = 2;
/** Copies of a cancel sent when giving up; it is best effort, the lease covers a lost one. */
const CANCEL_COPIES = 2;

/**
 * The UDP sync client. With extensions, it retransmits with exponential backoff and jitter until
 * answered (the server deduplicates by request id and keeps its reply), which also keeps its lease.
 */
export class SyncClient implements Process {
  outcome: SyncOutcome | null = null;
  sends = 0;
  /** Replies to our request after the outcome that carried a different code: must stay 0. */
  conflicts = 0;
  firstSendUs: Micros | null = null;
  /** Our request's id, drawn at start (0 before). */
  requestId = 0;
  /** The server's epoch from its first extended reply; null before one came. */
  epoch: number | null = null;
  /** Pending replies: the server has our request and it still waits. */
  pendingReplies = 0;
  private backoffUs: Micros;

  constructor(private readonly env: Env, readonly options: SyncClientOptions) {
    this.backoffUs = options.retransmitUs;
  }

  start(): void {
    this.requestId = 1 + this.env.rng.int(0xffff_fffe);
    this.firstSendUs = this.env.now();
    this.send(false);
    if (this.options.extended) this.env.timers.set(RETRANSMIT_TIMER, this.env.now() + this.jittered());
    if (this.options.timeoutUs > 0) this.env.timers.set(GIVE_UP_TIMER, this.env.now() + this.options.timeoutUs);
  }

  timer(id: number): void {
    if (this.outcome !== null) return;
    if (id === GIVE_UP_TIMER) {
      if (this.options.extended) for (let i = 0; i < CANCEL_COPIES; i++) this.send(true);
      return this.finish(CODE_TIMEOUT, 0, "local");
    }
    this.send(false);
    this.backoffUs = Math.min(this.backoffUs * 2, this.options.retransmitMaxUs);
    this.env.timers.set(RETRANSMIT_TIMER, this.env.now() + this.jittered());
  }

  receive(from: Address, _fromPort: number, payload: Payload): void {
    if (from !== this.options.server || !(payload instanceof Uint8Array)) return;
    const decoded = decodeReply(payload);
    if (!decoded.ok) return this.env.events.emit("sync.bad-reply", { why: decoded.error });
    const reply = decoded.value;
    if (reply.ext !== null && reply.ext.requestId !== this.requestId) return;
    if (this.outcome !== null) {
      if (this.outcome.source === "server" && reply.code !== REPLY_PENDING && reply.code !== this.outcome.code) this.conflicts++;
      return;
    }
    if (reply.ext !== null) {
      if (this.epoch !== null && reply.ext.epoch !== this.epoch) return this.restarted(reply.ext.epoch);
      this.epoch = reply.ext.epoch;
    }
    if (reply.code === REPLY_PENDING) {
      this.pendingReplies++;
      return;
    }
    this.finish(reply.code, reply.ext?.generation ?? 0, "server");
  }

  /** The server answering now is not the one that took our request: it restarted and forgot it. */
  private restarted(epoch: number): void {
    this.env.events.emit("sync.server-restarted", { name: this.options.name, epochWas: this.epoch ?? 0, epoch });
    // Our retransmission made us a member of the new server's barrier: withdraw it.
    for (let i = 0; i < CANCEL_COPIES; i++) this.send(true);
    this.finish(CODE_RESET, 0, "restart");
  }

  request(cancel: boolean): SyncRequest {
    const o = this.options;
    return {
      type: o.type,
      name: o.name,
      noWait: o.noWait,
      count: o.type === "init" ? o.count : 0,
      error: o.error,
      ext: o.extended
        ? { requestId: this.requestId, deadlineMs: o.deadlineMs, generation: o.generation, crash: o.crash, extra: o.extra, cancel, epochKnown: this.epoch !== null }
        : null,
    };
  }

  private send(cancel: boolean): void {
    this.sends++;
    this.env.net.send(this.options.server, this.options.port, encodeRequest(this.request(cancel)));
  }

  /** The backoff with ±20% jitter, so a thousand waiters started together do not retry in step. */
  private jittered(): Micros {
    return Math.max(1, Math.round(this.backoffUs * this.env.rng.uniform(0.8, 1.2)));
  }

  private finish(code: number, generation: number, source: SyncOutcome["source"]): void {
    this.outcome = { code, generation, atUs: this.env.now(), source };
    this.env.timers.cancel(RETRANSMIT_TIMER);
    this.env.timers.cancel(GIVE_UP_TIMER);
    this.options.onDone?.(this.outcome);
  }
}
