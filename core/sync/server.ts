import type { EventSink, Micros, Timers } from "../engine/index.js";
import type { CrashPolicy, ExtraPolicy, SyncRequest } from "./codec.js";
import { SampledEvents } from "./sampled.js";
import {
  CODE_BROKEN,
  CODE_INVALID,
  CODE_LATE,
  CODE_LIMIT,
  CODE_OVERFLOW,
  CODE_RESET,
  CODE_TIMEOUT,
  SERVER_LIMITS,
  type ServerLimits,
} from "./constants.js";

/** What the server needs from its world. Replies go to a peer; the front that made it routes them. */
export interface SyncServerPorts {
  now(): Micros;
  timers: Timers;
  events: EventSink;
  reply(peer: number, code: number, generation: number): void;
}

interface Member {
  peer: number;
  barrier: Barrier;
  init: boolean;
  count: number;
  /** Its host crashed or its connection closed; it still counts under a tolerant policy. */
  crashed: boolean;
  /** It can never be heard from again (an original UDP request, sent once, long ago): maybe gone. */
  idle: boolean;
}

interface Barrier {
  id: number;
  name: string;
  generation: number;
  counter: number;
  inits: number;
  /** Set by the first INIT; until then crashes are held pending. */
  crash: CrashPolicy | null;
  extra: ExtraPolicy;
  /** The first INIT carried our extensions: a second INIT is refused instead of adding up. */
  extended: boolean;
  deadlineUs: Micros | null;
  errorMax: number;
  members: Member[];
  /** Members crashed or idle: when all are, nobody can still be waiting here. */
  gone: number;
  /** Who made it (a front's name for the sender's address), for the per-peer limit. */
  origin: string;
}

interface Released {
  generation: number;
  extra: ExtraPolicy;
  atUs: Micros;
}

/** What became of a member whose host crashed or whose connection closed. */
export type CrashOutcome = "undone" | "kept" | "gone";

export interface SyncServerStats {
  requests: number;
  releases: number;
  released: number;
  timeouts: number;
  broken: number;
  late: number;
  overflow: number;
  limited: number;
  invalid: number;
  undone: number;
  crashed: number;
  resets: number;
  /** Barriers dropped to make room because none of their members could still be there. */
  evicted: number;
}



/**
 * Named barriers with the original's semantics (../shared/reference/sync.md) and our extensions:
 * deadlines, crash policies, generations, a policy for extra arrivals and named limits. Sans-IO:
 * fronts (UDP in `udp.ts`, TCP in real/) turn bytes into `request` calls and route replies.
 */
export class SyncServer {
  readonly stats: SyncServerStats = {
    requests: 0, releases: 0, released: 0, timeouts: 0, broken: 0, late: 0, overflow: 0, limited: 0, invalid: 0, undone: 0, crashed: 0, resets: 0, evicted: 0,
  };
  readonly limits: ServerLimits;
  private readonly live = new Map<string, Barrier>();
  private readonly byTimer = new Map<number, Barrier>();
  private readonly peers = new Map<number, Member>();
  /** Most recently released generation of each name, oldest first. */
  private readonly released = new Map<string, Released>();
  /** Live barriers each origin made. */
  private readonly madeBy = new Map<string, number>();
  /**
   * Barriers that may have nobody left waiting, oldest mark first: added whenever a member is
   * marked gone or leaves; checked (and dropped from here) only when room is needed. Each check is
   * paid for by the mark that added it, so a refused flood at a full table costs O(1) a request.
   */
  private readonly suspects = new Set<Barrier>();
  /** Events a peer can cause at will (garbage, refusals) go out sampled. */
  readonly sampled: SampledEvents;
  private nextBarrierId = 1;
  private nextPeer = 1;

  constructor(private readonly ports: SyncServerPorts, limits: Partial<ServerLimits> = {}) {
    this.limits = { ...SERVER_LIMITS, ...limits };
    this.sampled = new SampledEvents(ports.events, ports.now);
  }

  /** A fresh peer id for a front to hand to `request`. */
  newPeer(): number {
    return this.nextPeer++;
  }

  get barrierCount(): number {
    return this.live.size;
  }

  /** The live barrier's counter and members, for tests and status lines. */
  inspect(name: string): { counter: number; members: number; generation: number } | null {
    const b = this.live.get(name);
    return b === undefined ? null : { counter: b.counter, members: b.members.length, generation: b.generation };
  }

  /** A request the front could not decode: the peer is told at once. */
  invalid(peer: number, why: string): void {
    this.stats.invalid++;
    this.sampled.emit("sync.invalid", { peer, why });
    this.ports.reply(peer, CODE_INVALID, 0);
  }

  /** A request a front refused for a limit of its own (requests in flight per peer): told at once. */
  refuse(peer: number, why: string): void {
    this.answer(peer, CODE_LIMIT, 0, "limited", why);
  }

  /** The generation of the barrier the peer waits in, or 0. */
  generationOf(peer: number): number {
    return this.peers.get(peer)?.barrier.generation ?? 0;
  }

  /** `origin` names the sender's address: one origin makes at most `barriersPerPeerMax` live barriers. */
  request(peer: number, req: SyncRequest, origin = ""): void {
    this.stats.requests++;
    const now = this.ports.now();
    const wanted = req.ext?.generation ?? 0;
    let barrier = this.live.get(req.name);
    const past = this.lastReleased(req.name, now);
    const over = barrier !== undefined ? barrier.generation - 1 : (past?.generation ?? 0);
    const late = wanted !== 0
      ? wanted <= over
      : barrier === undefined && req.type === "wait" && past !== null && past.extra === "late";
    if (late) return this.answer(peer, CODE_LATE, over, "late", req.name);
    if (req.type === "init" && req.count > this.limits.countMax) return this.answer(peer, CODE_LIMIT, over + 1, "limited", "count");
    if (barrier === undefined) {
      if ((this.madeBy.get(origin) ?? 0) >= this.limits.barriersPerPeerMax) return this.answer(peer, CODE_LIMIT, 0, "limited", "barriers of one peer");
      if (this.live.size >= this.limits.barriersMax && !this.evictGone()) return this.answer(peer, CODE_LIMIT, 0, "limited", "barriers");
      barrier = this.create(req.name, (past?.generation ?? 0) + 1, origin);
    }
    const joins = !(req.type === "init" && req.noWait);
    if (joins && barrier.members.length >= this.limits.waitersPerBarrierMax) return this.answer(peer, CODE_LIMIT, barrier.generation, "limited", "waiters");
    if (req.type === "init") this.init(peer, req, barrier, now);
    else this.wait(peer, req, barrier);
  }

  private wait(peer: number, req: SyncRequest, barrier: Barrier): void {
    barrier.counter -= 1;
    barrier.errorMax = Math.max(barrier.errorMax, req.error);
    this.join(peer, barrier, false, 0);
    this.ports.events.emit("sync.wait", { name: barrier.name, generation: barrier.generation, counter: barrier.counter, peer });
    this.settle(barrier);
  }

  private init(peer: number, req: SyncRequest, barrier: Barrier, now: Micros): void {
    if (barrier.inits > 0 && (barrier.extended || req.ext !== null)) {
      this.stats.invalid++;
      this.sampled.emit("sync.invalid", { peer, why: `second INIT of ${barrier.name}` });
      return this.ports.reply(peer, CODE_INVALID, barrier.generation);
    }
    barrier.counter += req.count;
    barrier.inits++;
    barrier.errorMax = Math.max(barrier.errorMax, req.error);
    if (barrier.crash === null) {
      barrier.crash = req.ext?.crash ?? "original";
      barrier.extra = req.ext?.extra ?? "new";
      barrier.extended = req.ext !== null;
    }
    const deadlineMs = req.ext?.deadlineMs ?? 0;
    if (deadlineMs > 0) this.setDeadline(barrier, now + Math.min(deadlineMs, this.limits.deadlineMsMax) * 1000);
    if (req.noWait) {
      this.ports.reply(peer, 0, barrier.generation);
      // Its initializer has left; if nobody else is here, nobody waits at it yet.
      this.suspect(barrier);
    }
    else this.join(peer, barrier, true, req.count);
    this.ports.events.emit("sync.init", { name: barrier.name, generation: barrier.generation, count: req.count, counter: barrier.counter, peer, waits: !req.noWait });
    if (this.applyPendingCrashes(barrier)) return;
    if (barrier.extra === "late" && barrier.counter < 0) this.turnAwaySurplus(barrier);
    this.settle(barrier);
  }

  /** A member's host crashed or its TCP connection closed: its barrier's crash policy decides. */
  crash(peer: number): CrashOutcome {
    const m = this.peers.get(peer);
    if (m === undefined) return "gone";
    const b = m.barrier;
    this.stats.crashed++;
    this.ports.events.emit("sync.crash", { name: b.name, peer, policy: b.crash ?? "pending" });
    switch (b.crash) {
      case null:
      case "tolerant":
        this.mark(m, "crashed", true);
        return "kept";
      case "original":
        this.undo(m);
        return "undone";
      case "intolerant":
        this.mark(m, "crashed", true);
        this.release(b, CODE_BROKEN);
        return "gone";
    }
  }

  /** Whether the peer is still a member waiting for its reply. */
  knows(peer: number): boolean {
    return this.peers.has(peer);
  }

  /** A member thought crashed was heard from again (a UDP lease that lapsed under loss). */
  revive(peer: number): void {
    const m = this.peers.get(peer);
    if (m !== undefined) this.mark(m, "crashed", false);
  }

  /**
   * A member that cannot be heard from again (an original UDP request long unanswered): it still
   * counts, but its barrier may be dropped to make room when the table is full.
   */
  idle(peer: number): void {
    const m = this.peers.get(peer);
    if (m !== undefined) this.mark(m, "idle", true);
  }

  private mark(m: Member, what: "crashed" | "idle", on: boolean): void {
    const wasGone = m.crashed || m.idle;
    m[what] = on;
    const isGone = m.crashed || m.idle;
    if (wasGone === isGone) return;
    m.barrier.gone += isGone ? 1 : -1;
    if (isGone) this.suspect(m.barrier);
  }

  /** Notes a barrier all of whose members may have gone (or that has none), for `evictGone`. */
  private suspect(b: Barrier): void {
    if (b.gone === b.members.length && this.live.get(b.name) === b) this.suspects.add(b);
  }

  /** Takes a member out of its barrier's list and the peer table. */
  private remove(m: Member): void {
    const b = m.barrier;
    const i = b.members.indexOf(m);
    if (i >= 0) b.members.splice(i, 1);
    if (m.crashed || m.idle) b.gone--;
    this.peers.delete(m.peer);
    this.suspect(b);
  }

  /** A member gives up of its own accord (a UDP client's own timeout): its contribution is undone. */
  withdraw(peer: number): void {
    const m = this.peers.get(peer);
    if (m !== undefined) this.undo(m);
  }

  /** SIGHUP: every barrier is cleared and everyone released with 240. */
  reset(): void {
    this.stats.resets++;
    for (const barrier of [...this.live.values()]) this.release(barrier, CODE_RESET);
    this.released.clear();
  }

  timer(id: number): void {
    const barrier = this.byTimer.get(id);
    if (barrier === undefined || barrier.deadlineUs === null || this.ports.now() < barrier.deadlineUs) return;
    this.release(barrier, CODE_TIMEOUT);
  }

  private create(name: string, generation: number, origin: string): Barrier {
    const barrier: Barrier = {
      id: this.nextBarrierId++, name, generation, counter: 0, inits: 0, crash: null, extra: "new", extended: false, deadlineUs: null, errorMax: 0, members: [], gone: 0, origin,
    };
    this.madeBy.set(origin, (this.madeBy.get(origin) ?? 0) + 1);
    this.live.set(name, barrier);
    this.released.delete(name);
    this.byTimer.set(barrier.id, barrier);
    return barrier;
  }

  private join(peer: number, barrier: Barrier, init: boolean, count: number): void {
    const m: Member = { peer, barrier, init, count, crashed: false, idle: false };
    barrier.members.push(m);
    this.peers.set(peer, m);
  }

  private setDeadline(barrier: Barrier, atUs: Micros): void {
    if (barrier.deadlineUs !== null && barrier.deadlineUs <= atUs) return;
    barrier.deadlineUs = atUs;
    this.ports.timers.set(barrier.id, atUs);
  }

  /** Crashes seen before the policy was known are judged now; true if that released the barrier. */
  private applyPendingCrashes(barrier: Barrier): boolean {
    const crashed = barrier.members.filter((m) => m.crashed);
    if (crashed.length === 0 || barrier.crash === "tolerant") return false;
    if (barrier.crash === "intolerant") {
      this.release(barrier, CODE_BROKEN);
      return true;
    }
    for (const m of crashed) this.undo(m, false);
    return false;
  }

  /** More early arrivals than the count: the latest are told so, and the rest can go. */
  private turnAwaySurplus(barrier: Barrier): void {
    for (let i = barrier.members.length - 1; i >= 0 && barrier.counter < 0; i--) {
      const m = barrier.members[i] as Member;
      if (m.init) continue;
      this.remove(m);
      barrier.counter += 1;
      this.stats.overflow++;
      this.ports.reply(m.peer, CODE_OVERFLOW, barrier.generation);
    }
  }

  private undo(m: Member, settle = true): void {
    const b = m.barrier;
    this.remove(m);
    this.stats.undone++;
    if (m.init) {
      b.counter -= m.count;
      b.inits--;
    } else b.counter += 1;
    // A deadline, once set, is kept: members that come back (a lapsed lease) find it unchanged.
    if (b.members.length === 0 && b.inits === 0 && b.counter === 0 && b.deadlineUs === null) this.drop(b);
    else if (settle) this.settle(b);
  }

  /** Releases at exactly zero, as the original does, once an INIT has spoken. */
  private settle(barrier: Barrier): void {
    if (barrier.counter === 0 && barrier.inits > 0 && this.live.get(barrier.name) === barrier) this.release(barrier, barrier.errorMax);
  }

  private release(barrier: Barrier, code: number): void {
    const now = this.ports.now();
    this.stats.releases++;
    if (code === CODE_TIMEOUT) this.stats.timeouts++;
    if (code === CODE_BROKEN) this.stats.broken++;
    this.ports.events.emit("sync.release", { name: barrier.name, generation: barrier.generation, code, members: barrier.members.length });
    this.drop(barrier);
    if (code !== CODE_RESET) this.remember(barrier, now);
    for (const m of barrier.members) {
      this.peers.delete(m.peer);
      // A member taken for crashed is answered too: if it was only cut off, it hears on its next retry.
      if (!m.crashed) this.stats.released++;
      this.ports.reply(m.peer, code, barrier.generation);
    }
    barrier.members.length = 0;
  }

  /**
   * The table is full: drops the barrier longest suspected of having nobody left (every member
   * crashed, lapsed or idle; or none, as after an INIT_NOWAIT), answering its members with the
   * limit code. The table never stays full because of peers that have gone.
   */
  private evictGone(): boolean {
    for (const b of this.suspects) {
      this.suspects.delete(b);
      if (this.live.get(b.name) !== b || b.gone !== b.members.length) continue;
      this.stats.evicted++;
      this.sampled.emit("sync.evict", { name: b.name, generation: b.generation, members: b.members.length });
      this.release(b, CODE_LIMIT);
      return true;
    }
    return false;
  }

  private drop(barrier: Barrier): void {
    if (this.live.get(barrier.name) === barrier) {
      const made = (this.madeBy.get(barrier.origin) ?? 1) - 1;
      if (made > 0) this.madeBy.set(barrier.origin, made);
      else this.madeBy.delete(barrier.origin);
    }
    this.live.delete(barrier.name);
    this.suspects.delete(barrier);
    this.byTimer.delete(barrier.id);
    if (barrier.deadlineUs !== null) this.ports.timers.cancel(barrier.id);
  }

  private remember(barrier: Barrier, now: Micros): void {
    this.released.delete(barrier.name);
    this.released.set(barrier.name, { generation: barrier.generation, extra: barrier.extra, atUs: now });
    while (this.released.size > this.limits.releasedKeptMax) {
      const oldest = this.released.keys().next().value as string;
      this.released.delete(oldest);
    }
  }

  private lastReleased(name: string, now: Micros): Released | null {
    const r = this.released.get(name);
    if (r === undefined) return null;
    if (now - r.atUs > this.limits.releasedKeepUs) {
      this.released.delete(name);
      return null;
    }
    return r;
  }

  private answer(peer: number, code: number, generation: number, stat: "late" | "limited", why: string): void {
    this.stats[stat]++;
    this.sampled.emit(`sync.${stat}`, { peer, code, why });
    this.ports.reply(peer, code, generation);
  }
}
