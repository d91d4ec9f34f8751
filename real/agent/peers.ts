import { randomBytes } from "node:crypto";
import { CODEEN_LIVENESS, PeerLiveness, VersionGate, decodePeerMessage, encodePeerMessage, type LivenessRule } from "../../core/service/index.js";
import type { Micros } from "../../core/engine/index.js";
import { mac, macEqual } from "./channel.js";

/**
 * Heartbeats between agents, as CoDeeN's peers sent them: one datagram a second to every peer; a
 * peer is avoided if it missed the latest or 2 of the last 32 (core `PeerLiveness`), and one that
 * speaks another protocol version is ignored and counted (core `VersionGate`). This is the sans-IO
 * part: `tick` says what to send, `receive` judges what came; peer-mesh.ts binds the UDP socket.
 *
 * A datagram is the core heartbeat (`"SV"`, protocol version, type, sender index, sequence,
 * generation: version first), then the sender's incarnation (u64, larger at every start of the
 * agent), its nonce (16 bytes, fresh at every start), the receiver's nonce as the sender last heard
 * it (zeros before that), and HMAC-SHA256 under the operator's key over all of it.
 *
 * Replay-proof without synchronised clocks: a heartbeat counts only if it echoes the receiver's
 * current nonce (so nothing sent before the receiver started counts) and its (incarnation,
 * sequence) is above the last one taken from that peer (so nothing sent since counts twice).
 */
export const PEER_NONCE_BYTES = 16;
const HEARTBEAT_BYTES = 17;
const INCARNATION_AT = HEARTBEAT_BYTES;
const NONCE_AT = INCARNATION_AT + 8;
const ECHO_AT = NONCE_AT + PEER_NONCE_BYTES;
const MAC_AT = ECHO_AT + PEER_NONCE_BYTES;
export const PEER_DATAGRAM_BYTES = MAC_AT + 32;
/** Peers one agent heartbeats at most (a datagram each per period). */
export const PEERS_MAX = 1_024;
/** Datagrams taken from one peer per period at most; more are dropped before their MAC is computed. */
export const PEER_DATAGRAMS_PER_PERIOD_MAX = 4;
/** Heartbeats go out this far into each period, so that agents whose clocks agree to well within it land in the same slot. */
export const SEND_PHASE = 0.25;
const MAC_LABEL = "peer-heartbeat";
const U32 = 0x1_0000_0000;

export interface PeerAddress {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

/** Why datagrams were dropped, in the order they are checked. */
export interface PeerDrops {
  /** From an address that is not a peer (no state is kept for it). */
  unknown: number;
  /** Not a heartbeat of the right size or shape. */
  malformed: number;
  /** Beyond PEER_DATAGRAMS_PER_PERIOD_MAX from one peer. */
  flooded: number;
  badMac: number;
  /** The sender index in the heartbeat is not the peer it came from. */
  mismatch: number;
  /** Not newer than the last heartbeat taken from that peer. */
  replayed: number;
  /** Does not echo this agent's current nonce (the peer has not heard this agent yet, or it is old). */
  unverified: number;
  /** Came while this agent runs no service yet: it has no protocol to judge the heartbeat by. */
  notServing: number;
}

export interface PeerView {
  readonly name: string;
  readonly address: string;
  readonly avoided: boolean;
  readonly missedLatest: boolean;
  /** Missed slots in the window (since this agent first heard the peer). */
  readonly misses: number;
  readonly heard: number;
  /** Heartbeats ignored for their protocol version, and the last version the peer spoke. */
  readonly ignoredVersion: number;
  readonly lastProtocol: number | null;
  readonly heardAgoMs: number | null;
}

export interface PeerMeshStatus {
  readonly self: string | null;
  /** The service's protocol version; null while no service is installed (nothing sent, nothing judged). */
  readonly protocol: number | null;
  readonly periodMs: number;
  readonly sent: number;
  readonly accepted: number;
  readonly ignored: number;
  readonly dropped: PeerDrops;
  readonly peers: readonly PeerView[];
  readonly error: string | null;
}

interface PeerRecord {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  nonce: Buffer | null;
  lastIncarnation: bigint;
  lastSeq: number;
  watching: boolean;
  heard: number;
  ignored: number;
  lastProtocol: number | null;
  heardAtUs: Micros | null;
  floodSlot: number;
  floodCount: number;
}

export interface Outgoing {
  readonly host: string;
  readonly port: number;
  readonly bytes: Buffer;
}

export interface PeerLinkOptions {
  readonly key: Uint8Array;
  /** Larger at every start of this agent (peers take only heartbeats above the last they took). */
  readonly incarnation: bigint;
  readonly rule?: LivenessRule;
  readonly nonce?: Buffer;
}

export class PeerLink {
  readonly rule: LivenessRule;
  private readonly nonce: Buffer;
  private readonly gate = new VersionGate(0);
  private liveness: PeerLiveness;
  private peers: PeerRecord[] = [];
  private byAddress = new Map<string, number>();
  private self = -1;
  /** False until a service (and so a protocol) is installed: an agent without one is nobody's peer yet. */
  private serving = false;
  private seq = 0;
  generation = 0;
  sent = 0;
  readonly dropped: PeerDrops = { unknown: 0, malformed: 0, flooded: 0, badMac: 0, mismatch: 0, replayed: 0, unverified: 0, notServing: 0 };
  error: string | null = null;

  constructor(private readonly o: PeerLinkOptions) {
    this.rule = o.rule ?? CODEEN_LIVENESS;
    this.nonce = o.nonce ?? randomBytes(PEER_NONCE_BYTES);
    this.liveness = new PeerLiveness(this.rule, 1);
  }

  get protocol(): number | null {
    return this.serving ? this.gate.version : null;
  }

  /**
   * The service's protocol version: what heartbeats carry, and what peers must speak to count.
   * Until it is first set the agent sends no heartbeat and judges none: a node being deployed
   * (peers told, service not yet in place) would otherwise be counted by its peers as speaking
   * another version, and count theirs so.
   */
  setProtocol(protocol: number): void {
    this.gate.version = protocol;
    this.serving = true;
  }

  /** The node file's nodes (this agent is `self` among them); what was heard of the old list is forgotten. */
  setPeers(list: readonly PeerAddress[], self: number): void {
    if (list.length > PEERS_MAX) throw new Error(`peers: ${list.length} nodes, at most ${PEERS_MAX}`);
    if (!Number.isInteger(self) || self < 0 || self >= list.length) throw new Error(`peers: self ${self} is not an index of the ${list.length} nodes`);
    this.peers = list.map((p) => ({ name: p.name, host: p.host, port: p.port, nonce: null, lastIncarnation: -1n, lastSeq: -1, watching: false, heard: 0, ignored: 0, lastProtocol: null, heardAtUs: null, floodSlot: -1, floodCount: 0 }));
    this.byAddress = new Map(list.map((p, i) => [addressKey(p.host, p.port), i]));
    this.self = self;
    this.liveness = new PeerLiveness(this.rule, Math.max(1, list.length));
  }

  get selfName(): string | null {
    return this.peers[this.self]?.name ?? null;
  }

  /** When the next heartbeats are due: SEND_PHASE into the period after `now`'s. */
  nextSendUs(now: Micros): Micros {
    const period = this.rule.periodUs;
    const phase = Math.floor(period * SEND_PHASE);
    const start = Math.floor(now / period) * period;
    return now < start + phase ? start + phase : start + period + phase;
  }

  /** One heartbeat to every other peer. */
  tick(): Outgoing[] {
    if (this.self < 0 || !this.serving) return [];
    this.seq = (this.seq + 1) % U32;
    const out: Outgoing[] = [];
    this.peers.forEach((p, i) => {
      if (i === this.self) return;
      out.push({ host: p.host, port: p.port, bytes: this.seal(p) });
    });
    this.sent += out.length;
    return out;
  }

  private seal(p: PeerRecord): Buffer {
    const body = Buffer.alloc(MAC_AT);
    body.set(encodePeerMessage({ type: "heartbeat", protocol: this.gate.version, node: this.self, seq: this.seq, generation: this.generation % U32 }), 0);
    body.writeBigUInt64BE(this.o.incarnation, INCARNATION_AT);
    this.nonce.copy(body, NONCE_AT);
    if (p.nonce !== null) p.nonce.copy(body, ECHO_AT);
    return Buffer.concat([body, mac(this.o.key, MAC_LABEL, body)]);
  }

  /** A datagram from host:port, judged in order: source, size, rate, MAC, sender, freshness, version, echo. */
  receive(now: Micros, bytes: Uint8Array, host: string, port: number): void {
    const i = this.byAddress.get(addressKey(host, port));
    if (i === undefined || i === this.self) return void this.dropped.unknown++;
    if (!this.serving) return void this.dropped.notServing++;
    const p = this.peers[i] as PeerRecord;
    const slot = this.liveness.slotOf(now);
    if (p.floodSlot !== slot) {
      p.floodSlot = slot;
      p.floodCount = 0;
    }
    if (++p.floodCount > PEER_DATAGRAMS_PER_PERIOD_MAX) return void this.dropped.flooded++;
    if (bytes.byteLength !== PEER_DATAGRAM_BYTES) return void this.dropped.malformed++;
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (!macEqual(mac(this.o.key, MAC_LABEL, b.subarray(0, MAC_AT)), b.subarray(MAC_AT))) return void this.dropped.badMac++;
    const m = decodePeerMessage(b.subarray(0, HEARTBEAT_BYTES));
    if (!m.ok || m.value.type !== "heartbeat") return void this.dropped.malformed++;
    if (m.value.node !== i) return void this.dropped.mismatch++;
    const incarnation = b.readBigUInt64BE(INCARNATION_AT);
    const newer = incarnation > p.lastIncarnation || (incarnation === p.lastIncarnation && m.value.seq > p.lastSeq);
    if (!newer) return void this.dropped.replayed++;
    p.lastIncarnation = incarnation;
    p.lastSeq = m.value.seq;
    p.nonce = Buffer.from(b.subarray(NONCE_AT, ECHO_AT));
    p.lastProtocol = m.value.protocol;
    if (!this.gate.accept(m.value.protocol)) return void p.ignored++;
    if (!b.subarray(ECHO_AT, MAC_AT).equals(this.nonce)) return void this.dropped.unverified++;
    // Watching starts at the first heartbeat that counts, so the slots before it are not misses.
    if (!p.watching) {
      p.watching = true;
      this.liveness.watch(now, i);
    }
    this.liveness.heard(now, i);
    p.heard++;
    p.heardAtUs = now;
  }

  avoided(now: Micros, i: number): boolean {
    return i === this.self || !(this.peers[i]?.watching ?? false) || this.liveness.avoided(now, i);
  }

  /** The peers to use now, in node-file order: heard on this agent's protocol, not avoided. */
  usable(now: Micros): PeerAddress[] {
    return this.peers.flatMap((p, i) => (this.avoided(now, i) ? [] : [{ name: p.name, host: p.host, port: p.port }]));
  }

  status(now: Micros): PeerMeshStatus {
    const peers = this.peers.flatMap((p, i): PeerView[] => {
      if (i === this.self) return [];
      const watching = p.watching;
      return [{
        name: p.name,
        address: `${p.host}:${p.port}`,
        avoided: this.avoided(now, i),
        missedLatest: watching ? this.liveness.missedLatest(now, i) : true,
        misses: watching ? this.liveness.misses(now, i) : 0,
        heard: p.heard,
        ignoredVersion: p.ignored,
        lastProtocol: p.lastProtocol,
        heardAgoMs: p.heardAtUs === null ? null : Math.floor((now - p.heardAtUs) / 1000),
      }];
    });
    return { self: this.selfName, protocol: this.protocol, periodMs: this.rule.periodUs / 1000, sent: this.sent, accepted: this.gate.accepted, ignored: this.gate.ignored, dropped: { ...this.dropped }, peers, error: this.error };
  }
}

export function addressKey(host: string, port: number): string {
  return `${host.replace(/^::ffff:/, "")}|${port}`;
}
