import type { Address, Env, Micros, Payload, Process } from "../engine/index.js";
import { decodeRequest, encodeReply, type SyncRequest } from "./codec.js";
import type { ServerLimits } from "./constants.js";
import { SyncServer } from "./server.js";

export interface SyncDaemonOptions {
  /** A UDP waiter using our extensions that is not heard from for this long is taken as crashed. */
  leaseUs: Micros;
  /** How long a reply to an extended UDP request is kept, so a lost one can be asked for again. */
  replyKeepUs: Micros;
  /** Most replies kept; beyond it the oldest is forgotten. */
  replyCacheMax: number;
  limits: Partial<ServerLimits>;
}

export const DAEMON_DEFAULTS: SyncDaemonOptions = {
  leaseUs: 15_000_000,
  replyKeepUs: 120_000_000,
  replyCacheMax: 200_000,
  limits: {},
};

/** Where a peer's reply goes: a UDP sender, or a stream (TCP connection) the adapter owns. */
type Route =
  | { kind: "udp"; addr: Address; port: number; key: string | null; requestId: number; heardUs: Micros; lapsed: boolean }
  | { kind: "stream"; extended: boolean; requestId: number; deliver: (reply: Uint8Array) => void };

const SWEEP_TIMER = 0;

export interface SyncDaemonStats {
  datagrams: number;
  duplicates: number;
  repliesResent: number;
  lapsed: number;
  cacheEvictions: number;
}

/**
 * The sync server with its fronts: UDP datagrams arrive through `receive` (as a Process), TCP
 * requests through `streamRequest` from the real adapter. Extended UDP requests carry an id: a
 * retransmission refreshes the waiter's lease instead of counting twice, and the reply is kept for
 * `replyKeepUs` so a lost one is sent again. Original UDP requests are served as the original does.
 */
export class SyncDaemon implements Process {
  readonly server: SyncServer;
  readonly options: SyncDaemonOptions;
  readonly stats: SyncDaemonStats = { datagrams: 0, duplicates: 0, repliesResent: 0, lapsed: 0, cacheEvictions: 0 };
  private readonly routes = new Map<number, Route>();
  /** Extended UDP requests still waiting, by sender and request id. */
  private readonly pending = new Map<string, number>();
  private readonly replies = new Map<string, { bytes: Uint8Array; expiresUs: Micros }>();
  private sweepArmed = false;

  constructor(private readonly env: Env, options: Partial<SyncDaemonOptions> = {}) {
    this.options = { ...DAEMON_DEFAULTS, ...options };
    this.server = new SyncServer(
      { now: () => env.now(), timers: env.timers, events: env.events, reply: (peer, code, gen) => this.route(peer, code, gen) },
      this.options.limits,
    );
  }

  get waitingUdp(): number {
    return this.pending.size;
  }

  receive(from: Address, fromPort: number, payload: Payload): void {
    this.stats.datagrams++;
    const bytes = payload instanceof Uint8Array ? payload : new Uint8Array(0);
    const decoded = decodeRequest(bytes);
    if (!decoded.ok) {
      const peer = this.server.newPeer();
      this.routes.set(peer, { kind: "udp", addr: from, port: fromPort, key: null, requestId: 0, heardUs: 0, lapsed: false });
      return this.server.invalid(peer, decoded.error);
    }
    const req = decoded.value;
    if (req.ext === null) return this.submit({ kind: "udp", addr: from, port: fromPort, key: null, requestId: 0, heardUs: 0, lapsed: false }, req);
    const key = `${from}:${fromPort}:${req.ext.requestId}`;
    const cached = this.replies.get(key);
    if (cached !== undefined) {
      this.stats.repliesResent++;
      return this.env.net.send(from, fromPort, cached.bytes);
    }
    const peer = this.pending.get(key);
    if (peer !== undefined) return this.heard(peer, req, from, fromPort, key);
    if (req.ext.cancel) return;
    this.submit({ kind: "udp", addr: from, port: fromPort, key, requestId: req.ext.requestId, heardUs: this.env.now(), lapsed: false }, req);
    this.armSweep();
  }

  /** A whole request read from a TCP connection; returns the peer to pass to `streamClosed`. */
  streamRequest(bytes: Uint8Array, deliver: (reply: Uint8Array) => void): number {
    const decoded = decodeRequest(bytes);
    const ext = decoded.ok ? decoded.value.ext : null;
    const route: Route = { kind: "stream", extended: ext !== null, requestId: ext?.requestId ?? 0, deliver };
    const peer = this.server.newPeer();
    this.routes.set(peer, route);
    if (!decoded.ok) this.server.invalid(peer, decoded.error);
    else this.server.request(peer, decoded.value);
    return peer;
  }

  /** The TCP connection closed before its reply: the barrier's crash policy decides. */
  streamClosed(peer: number): void {
    if (!this.routes.has(peer)) return;
    this.routes.delete(peer);
    this.server.crash(peer);
  }

  timer(id: number): void {
    if (id === SWEEP_TIMER) this.sweep();
    else this.server.timer(id);
  }

  private submit(route: Route, req: SyncRequest): void {
    const peer = this.server.newPeer();
    if (route.kind === "udp" && route.key !== null) this.pending.set(route.key, peer);
    this.routes.set(peer, route);
    this.server.request(peer, req);
  }

  private heard(peer: number, req: SyncRequest, from: Address, fromPort: number, key: string): void {
    this.stats.duplicates++;
    const route = this.routes.get(peer);
    if (route === undefined || route.kind !== "udp") return;
    if (!this.server.knows(peer)) {
      // Its lapse was judged an undo (the INIT brought the original's policy): it arrives anew.
      this.pending.delete(key);
      this.routes.delete(peer);
      if (req.ext?.cancel === true) return;
      return this.submit({ kind: "udp", addr: from, port: fromPort, key, requestId: route.requestId, heardUs: this.env.now(), lapsed: false }, req);
    }
    if (req.ext?.cancel === true) {
      this.pending.delete(route.key as string);
      this.routes.delete(peer);
      return this.server.withdraw(peer);
    }
    route.heardUs = this.env.now();
    if (route.lapsed) {
      route.lapsed = false;
      this.server.revive(peer);
    }
  }

  private route(peer: number, code: number, generation: number): void {
    const route = this.routes.get(peer);
    if (route === undefined) return;
    this.routes.delete(peer);
    if (route.kind === "stream") {
      route.deliver(encodeReply({ code, ext: route.extended ? { requestId: route.requestId, generation } : null }));
      return;
    }
    const bytes = encodeReply(route.key === null ? { code, ext: null } : { code, ext: { requestId: route.requestId, generation } });
    if (route.key !== null) {
      this.pending.delete(route.key);
      this.keepReply(route.key, bytes);
    }
    this.env.net.send(route.addr, route.port, bytes);
  }

  private keepReply(key: string, bytes: Uint8Array): void {
    this.replies.set(key, { bytes, expiresUs: this.env.now() + this.options.replyKeepUs });
    if (this.replies.size > this.options.replyCacheMax) {
      this.replies.delete(this.replies.keys().next().value as string);
      this.stats.cacheEvictions++;
    }
    this.armSweep();
  }

  private armSweep(): void {
    if (this.sweepArmed) return;
    this.sweepArmed = true;
    this.env.timers.set(SWEEP_TIMER, this.env.now() + Math.max(1, Math.floor(this.options.leaseUs / 4)));
  }

  /** Lapses waiters not heard from within the lease, and forgets replies past their keeping time. */
  private sweep(): void {
    this.sweepArmed = false;
    const now = this.env.now();
    for (const [key, entry] of this.replies) {
      if (entry.expiresUs > now) break;
      this.replies.delete(key);
    }
    for (const [key, peer] of [...this.pending]) {
      const route = this.routes.get(peer);
      if (route !== undefined && route.kind === "udp" && route.lapsed && !this.server.knows(peer)) {
        // Held as crashed, then undone by the policy its INIT brought: nothing waits for it now.
        this.pending.delete(key);
        this.routes.delete(peer);
        continue;
      }
      if (route === undefined || route.kind !== "udp" || route.lapsed || now - route.heardUs <= this.options.leaseUs) continue;
      this.stats.lapsed++;
      const outcome = this.server.crash(peer);
      if (outcome === "kept") route.lapsed = true;
      else {
        this.pending.delete(key);
        this.routes.delete(peer);
      }
    }
    if (this.pending.size > 0 || this.replies.size > 0) this.armSweep();
  }
}
