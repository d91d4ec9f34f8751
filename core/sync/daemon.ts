import type { Address, Env, Micros, Payload, Process } from "../engine/index.js";
import { decodeRequest, encodeReply, type SyncRequest } from "./codec.js";
import { CODE_RESET, REPLY_PENDING, type ServerLimits } from "./constants.js";
import { SyncServer } from "./server.js";

export interface SyncDaemonOptions {
  /** A UDP waiter using our extensions that is not heard from for this long is taken as crashed. */
  leaseUs: Micros;
  /** How long a reply to an extended UDP request is kept, so a lost one can be asked for again. */
  replyKeepUs: Micros;
  /** Most replies kept; beyond it the oldest is forgotten. */
  replyCacheMax: number;
  /** Requests waiting for their reply from one sender address (UDP and TCP together). */
  requestsPerPeerMax: number;
  /** Requests waiting for their reply from everyone. */
  requestsMax: number;
  limits: Partial<ServerLimits>;
}

export const DAEMON_DEFAULTS: SyncDaemonOptions = {
  leaseUs: 15_000_000,
  replyKeepUs: 120_000_000,
  replyCacheMax: 200_000,
  requestsPerPeerMax: 4_096,
  requestsMax: 250_000,
  limits: {},
};

/**
 * Where a peer's reply goes: a UDP sender, or a stream (TCP connection) the adapter owns. `counted`:
 * it holds one of its origin's requests in flight (not once it lapsed or went idle: gone, it holds
 * nothing of its peer's share).
 */
type Route = { origin: string; counted: boolean } & (
  | { kind: "udp"; addr: Address; port: number; key: string | null; requestId: number; heardUs: Micros; lapsed: boolean }
  | { kind: "stream"; extended: boolean; requestId: number; deliver: (reply: Uint8Array) => void }
);
type UdpRoute = Extract<Route, { kind: "udp" }>;

const SWEEP_TIMER = 0;

export interface SyncDaemonStats {
  datagrams: number;
  duplicates: number;
  repliesResent: number;
  lapsed: number;
  cacheEvictions: number;
  /** Original UDP requests unanswered for a lease: marked idle, their barrier may make room. */
  idled: number;
  /** Requests refused because their sender, or everyone, had too many waiting. */
  refused: number;
}

/** The name of a UDP sender's address, as the per-peer limits count it (the TCP front uses the same). */
export function originOf(addr: Address): string {
  return String(addr);
}

/**
 * The sync server with its fronts: UDP datagrams arrive through `receive` (as a Process), TCP
 * requests through `streamRequest` from the real adapter. Extended UDP requests carry an id: a
 * retransmission refreshes the waiter's lease instead of counting twice, is answered with a
 * pending reply carrying the server's epoch (so a client notices a restart), and the final reply
 * is kept for `replyKeepUs` so a lost one is sent again. Original UDP requests are served as the
 * original does; one unanswered for a lease is marked idle, so its barrier can make room.
 */
export class SyncDaemon implements Process {
  readonly server: SyncServer;
  readonly options: SyncDaemonOptions;
  readonly stats: SyncDaemonStats = { datagrams: 0, duplicates: 0, repliesResent: 0, lapsed: 0, cacheEvictions: 0, idled: 0, refused: 0 };
  /** Drawn at start, never 0: in every extended reply, so clients notice a restart. */
  readonly epoch: number;
  private readonly routes = new Map<number, Route>();
  /** Requests waiting for their reply, by origin. */
  private readonly inFlight = new Map<string, number>();
  /** Extended UDP requests still waiting, by sender and request id. */
  private readonly pending = new Map<string, number>();
  /** Original UDP requests still waiting, with when they came, oldest first. */
  private readonly plain = new Map<number, Micros>();
  private readonly replies = new Map<string, { bytes: Uint8Array; expiresUs: Micros }>();
  private sweepArmed = false;
  private stopped = false;

  constructor(private readonly env: Env, options: Partial<SyncDaemonOptions> = {}) {
    this.options = { ...DAEMON_DEFAULTS, ...options };
    this.epoch = 1 + env.rng.fork("epoch").int(0xffff_fffe);
    this.server = new SyncServer(
      { now: () => env.now(), timers: env.timers, events: env.events, reply: (peer, code, gen) => this.route(peer, code, gen) },
      this.options.limits,
    );
  }

  /** Where a peer's request came from (its origin: an IPv4 address as a number), while it waits; the sync.wait and sync.init events name the peer. */
  originOfPeer(peer: number): string | undefined {
    return this.routes.get(peer)?.origin;
  }

  /** Requests from `origin` waiting for their reply. */
  inFlightOf(origin: string): number {
    return this.inFlight.get(origin) ?? 0;
  }

  receive(from: Address, fromPort: number, payload: Payload): void {
    if (this.stopped) return;
    this.stats.datagrams++;
    const bytes = payload instanceof Uint8Array ? payload : new Uint8Array(0);
    const decoded = decodeRequest(bytes);
    const origin = originOf(from);
    const udp = (key: string | null, requestId: number): UdpRoute =>
      ({ kind: "udp", origin, counted: false, addr: from, port: fromPort, key, requestId, heardUs: this.env.now(), lapsed: false });
    if (!decoded.ok) return this.server.invalid(this.addRoute(udp(null, 0)), decoded.error);
    const req = decoded.value;
    if (req.ext === null) {
      this.submit(udp(null, 0), req);
      return;
    }
    const key = `${from}:${fromPort}:${req.ext.requestId}`;
    const cached = this.replies.get(key);
    if (cached !== undefined) {
      this.stats.repliesResent++;
      return this.env.net.send(from, fromPort, cached.bytes);
    }
    const peer = this.pending.get(key);
    if (peer !== undefined) return this.heard(peer, req, from, fromPort, key);
    if (req.ext.cancel) return;
    this.submit(udp(key, req.ext.requestId), req);
  }

  /** A whole request read from a TCP connection; returns the peer to pass to `streamClosed`. */
  streamRequest(bytes: Uint8Array, deliver: (reply: Uint8Array) => void, origin: string): number {
    const decoded = decodeRequest(bytes);
    const ext = decoded.ok ? decoded.value.ext : null;
    const route: Route = { kind: "stream", origin, counted: false, extended: ext !== null, requestId: ext?.requestId ?? 0, deliver };
    if (this.stopped) {
      // Read as the daemon stopped: answered as everyone waiting was.
      deliver(encodeReply({ code: CODE_RESET, ext: ext === null ? null : { requestId: ext.requestId, generation: 0, epoch: this.epoch } }));
      return 0;
    }
    if (!decoded.ok) {
      const peer = this.addRoute(route);
      this.server.invalid(peer, decoded.error);
      return peer;
    }
    return this.submit(route, decoded.value);
  }

  /** The TCP connection closed before its reply: the barrier's crash policy decides. */
  streamClosed(peer: number): void {
    if (!this.forget(peer)) return;
    this.server.crash(peer);
  }

  timer(id: number): void {
    if (this.stopped) return;
    if (id === SWEEP_TIMER) this.sweep();
    else this.server.timer(id);
  }

  /** The daemon is stopping: everyone waiting is answered with 240, as at a reset, and nothing more is taken. */
  stop(): void {
    if (this.stopped) return;
    this.server.reset();
    this.stopped = true;
    this.env.timers.cancel(SWEEP_TIMER);
  }

  private addRoute(route: Route): number {
    const peer = this.server.newPeer();
    this.routes.set(peer, route);
    this.count(route, true);
    if (route.kind === "udp" && route.key !== null) this.pending.set(route.key, peer);
    if (route.kind === "udp" && route.key === null) this.plain.set(peer, route.heardUs);
    return peer;
  }

  /** Drops a peer's route; false if it had none (already answered or forgotten). */
  private forget(peer: number): boolean {
    const route = this.routes.get(peer);
    if (route === undefined) return false;
    this.routes.delete(peer);
    this.count(route, false);
    if (route.kind === "udp") {
      if (route.key !== null && this.pending.get(route.key) === peer) this.pending.delete(route.key);
      this.plain.delete(peer);
    }
    return true;
  }

  /** Takes (or gives back) one of the route's origin's requests in flight. */
  private count(route: Route, counted: boolean): void {
    if (route.counted === counted) return;
    route.counted = counted;
    const n = this.inFlightOf(route.origin) + (counted ? 1 : -1);
    if (n > 0) this.inFlight.set(route.origin, n);
    else this.inFlight.delete(route.origin);
  }

  private submit(route: Route, req: SyncRequest): number {
    const refusal = this.inFlightOf(route.origin) >= this.options.requestsPerPeerMax ? "requests of one peer"
      : this.routes.size >= this.options.requestsMax ? "requests" : null;
    const peer = this.addRoute(route);
    if (refusal !== null) {
      this.stats.refused++;
      this.server.refuse(peer, refusal);
      return peer;
    }
    this.server.request(peer, req, route.origin);
    if (route.kind === "udp" && this.routes.has(peer)) {
      if (route.key !== null) this.sendPending(peer, route);
      this.armSweep();
    }
    return peer;
  }

  private sendPending(peer: number, route: UdpRoute): void {
    const ext = { requestId: route.requestId, generation: this.server.generationOf(peer), epoch: this.epoch };
    this.env.net.send(route.addr, route.port, encodeReply({ code: REPLY_PENDING, ext }));
  }

  private heard(peer: number, req: SyncRequest, from: Address, fromPort: number, key: string): void {
    this.stats.duplicates++;
    const route = this.routes.get(peer);
    if (route === undefined || route.kind !== "udp") return;
    if (!this.server.knows(peer)) {
      // Its lapse was judged an undo (the INIT brought the original's policy): it arrives anew.
      this.forget(peer);
      if (req.ext?.cancel === true) return;
      this.submit({ ...route, counted: false, addr: from, port: fromPort, key, heardUs: this.env.now(), lapsed: false }, req);
      return;
    }
    if (req.ext?.cancel === true) {
      this.forget(peer);
      return this.server.withdraw(peer);
    }
    route.heardUs = this.env.now();
    if (route.lapsed) {
      route.lapsed = false;
      this.count(route, true);
      this.server.revive(peer);
    }
    // A client that has our epoch needs no answer until the outcome; one that lost the first does.
    if (req.ext?.epochKnown !== true) this.sendPending(peer, route);
  }

  private route(peer: number, code: number, generation: number): void {
    const route = this.routes.get(peer);
    if (route === undefined) return;
    this.forget(peer);
    if (route.kind === "stream") {
      route.deliver(encodeReply({ code, ext: route.extended ? { requestId: route.requestId, generation, epoch: this.epoch } : null }));
      return;
    }
    const bytes = encodeReply(route.key === null ? { code, ext: null } : { code, ext: { requestId: route.requestId, generation, epoch: this.epoch } });
    if (route.key !== null) this.keepReply(route.key, bytes);
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
    if (this.sweepArmed || this.stopped) return;
    this.sweepArmed = true;
    this.env.timers.set(SWEEP_TIMER, this.env.now() + Math.max(1, Math.floor(this.options.leaseUs / 4)));
  }

  /** Lapses waiters not heard from within the lease, idles old original requests, forgets old replies. */
  private sweep(): void {
    this.sweepArmed = false;
    const now = this.env.now();
    for (const [key, entry] of this.replies) {
      if (entry.expiresUs > now) break;
      this.replies.delete(key);
    }
    for (const [peer, cameUs] of this.plain) {
      if (now - cameUs <= this.options.leaseUs) break;
      // Sent once and never again: it may have gone. It still counts, but no longer holds room.
      this.plain.delete(peer);
      const route = this.routes.get(peer);
      if (route !== undefined) this.count(route, false);
      this.stats.idled++;
      this.server.idle(peer);
    }
    for (const peer of [...this.pending.values()]) this.sweepExtended(peer, now);
    if (this.pending.size > 0 || this.plain.size > 0 || this.replies.size > 0) this.armSweep();
  }

  private sweepExtended(peer: number, now: Micros): void {
    const route = this.routes.get(peer);
    if (route === undefined || route.kind !== "udp") return;
    if (route.lapsed && !this.server.knows(peer)) {
      // Held as crashed, then undone by the policy its INIT brought: nothing waits for it now.
      this.forget(peer);
      return;
    }
    if (route.lapsed || now - route.heardUs <= this.options.leaseUs) return;
    this.stats.lapsed++;
    const outcome = this.server.crash(peer);
    if (outcome === "kept") {
      route.lapsed = true;
      this.count(route, false);
    }
    else this.forget(peer);
  }
}
