import type { Micros } from "../../core/engine/time.js";
import type { Rng } from "../../core/engine/rng.js";
import { CODEEN_LIVENESS, PeerLiveness, VersionGate, type GateRule } from "../../core/service/index.js";

const SEC = 1_000_000;

/** What the pairs need to know of the world; constant between two flushes of a pair. */
export interface PairWorld {
  /** The node's service is running (it sends heartbeats, and listens for them). */
  serving(node: number): boolean;
  /** Heartbeats pass between the two nodes (no partition between them). */
  connected(a: number, b: number): boolean;
  /** The protocol version the node's service speaks. */
  protocol(node: number): number;
}

/**
 * Observer nodes watching peers with the core liveness rule, fed in runs instead of one event per
 * heartbeat: between two changes of either node the heartbeats of a pair are regular, so a flush
 * hands the liveness record every slot from the last flush on, less the losses (drawn geometrically
 * per pair, one draw per loss). Every run first passes the observer's version gate; the no-cross-
 * version check is made here, independently of the gate, from the two nodes' versions.
 */
export class PeerPairs {
  readonly observer: Int32Array;
  readonly peer: Int32Array;
  readonly byNode: number[][];
  readonly liveness: PeerLiveness;
  private readonly flushedUs: Float64Array;
  private readonly phaseUs: Float64Array;
  private readonly nextLoss: Float64Array;
  private readonly gates = new Map<number, VersionGate>();
  private readonly logKeep: number;
  heartbeatsHeard = 0;
  crossVersionAccepted = 0;
  samples = 0;
  staleUses = 0;
  falseAvoids = 0;
  availableSamples = 0;
  unavailableSamples = 0;

  constructor(nodes: number, observers: number, peersPer: number, private readonly rng: Rng, readonly loss: number, gateRule: GateRule | undefined) {
    const pairs = observers * peersPer;
    this.observer = new Int32Array(pairs);
    this.peer = new Int32Array(pairs);
    this.byNode = Array.from({ length: nodes }, () => []);
    this.flushedUs = new Float64Array(pairs);
    this.phaseUs = new Float64Array(nodes);
    this.nextLoss = new Float64Array(pairs).fill(-1);
    this.liveness = new PeerLiveness(CODEEN_LIVENESS, Math.max(1, pairs));
    this.logKeep = loss > 0 ? Math.log(1 - loss) : 0;
    for (let n = 0; n < nodes; n++) this.phaseUs[n] = rng.int(SEC);
    let i = 0;
    for (let o = 0; o < observers; o++) {
      const obs = Math.floor((o * nodes) / observers);
      this.gates.set(obs, new VersionGate(0, gateRule));
      for (let k = 1; k <= peersPer; k++) {
        const peer = (obs + k * Math.max(1, Math.floor(nodes / (peersPer + 1)))) % nodes;
        this.observer[i] = obs;
        this.peer[i] = peer === obs ? (obs + 1) % nodes : peer;
        (this.byNode[obs] as number[]).push(i);
        (this.byNode[this.peer[i] as number] as number[]).push(i);
        i++;
      }
    }
  }

  get pairs(): number {
    return this.observer.length;
  }

  get ignoredByVersion(): number {
    let n = 0;
    for (const g of this.gates.values()) n += g.ignored;
    return n;
  }

  /** Before any change to a node: bring its pairs up to now. */
  flushNode(node: number, now: Micros, world: PairWorld): void {
    for (const p of this.byNode[node] as number[]) this.flush(p, now, world);
  }

  /** The observer's service (re)started: its liveness records start afresh. */
  restartObserver(node: number, now: Micros): void {
    for (const p of this.byNode[node] as number[]) if (this.observer[p] === node) this.liveness.watch(now, p);
  }

  flush(p: number, now: Micros, world: PairWorld): void {
    const from = this.flushedUs[p] as number;
    if (now <= from) return;
    this.flushedUs[p] = now;
    const obs = this.observer[p] as number;
    const peer = this.peer[p] as number;
    if (!world.serving(obs) || !world.serving(peer) || !world.connected(obs, peer)) return;
    const phase = this.phaseUs[peer] as number;
    const kFrom = Math.floor((from - phase) / SEC) + 1;
    const kTo = Math.floor((now - phase) / SEC);
    if (kTo < kFrom) return;
    const gate = this.gates.get(obs) as VersionGate;
    gate.version = world.protocol(obs);
    const senderVersion = world.protocol(peer);
    let k = kFrom;
    while (k <= kTo) {
      let loss = this.nextLoss[p] as number;
      if (loss < k) loss = this.drawLoss(p, k);
      const end = Math.min(kTo, loss - 1);
      if (end >= k) this.deliver(p, k, end, gate, senderVersion);
      k = end + 1;
      if (k === loss && k <= kTo) {
        k++;
        this.drawLoss(p, k);
      }
    }
  }

  private drawLoss(p: number, fromK: number): number {
    const kept = this.loss > 0 ? Math.floor(Math.log(1 - this.rng.next()) / this.logKeep) : Infinity;
    const at = fromK + kept;
    this.nextLoss[p] = at;
    return at;
  }

  private deliver(p: number, k0: number, k1: number, gate: VersionGate, senderVersion: number): void {
    const count = k1 - k0 + 1;
    if (!gate.accept(senderVersion, count)) return;
    if (senderVersion !== gate.version) this.crossVersionAccepted += count;
    this.heartbeatsHeard += count;
    this.liveness.heardRange(p, k0, k1);
  }

  /** Each observer judges each of its peers now; the verdict is compared with the truth. */
  sample(now: Micros, world: PairWorld): void {
    for (let p = 0; p < this.pairs; p++) {
      const obs = this.observer[p] as number;
      if (!world.serving(obs)) continue;
      this.flush(p, now, world);
      const peer = this.peer[p] as number;
      const available = world.serving(peer) && world.connected(obs, peer) && world.protocol(peer) === world.protocol(obs);
      const avoided = this.liveness.avoided(now, p);
      this.samples++;
      if (available) {
        this.availableSamples++;
        if (avoided) this.falseAvoids++;
      } else {
        this.unavailableSamples++;
        if (!avoided) this.staleUses++;
      }
    }
  }
}
