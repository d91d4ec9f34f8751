import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { PEER_DATAGRAM_BYTES, PEER_DATAGRAMS_PER_PERIOD_MAX, PeerLink, type Outgoing, type PeerAddress } from "../../../real/agent/peers.js";
import { KEY } from "./support.js";

const SEC = 1_000_000;
const LIST: PeerAddress[] = [0, 1, 2].map((i) => ({ name: `n${i}`, host: "127.0.0.1", port: 41_000 + i }));

/** Three links on one clock; `deliver` passes each tick's datagrams to their receivers (all but `drop`). */
function mesh(protocols: number[] = [1, 1, 1], key: Uint8Array = KEY) {
  const links = LIST.map((_, i) => {
    const l = new PeerLink({ key, incarnation: 100n });
    l.setPeers(LIST, i);
    l.setProtocol(protocols[i] as number);
    return l;
  });
  const deliver = (now: number, drop: Set<number> = new Set()): Outgoing[][] => {
    const sent = links.map((l) => l.tick());
    sent.forEach((outs, from) => {
      if (drop.has(from)) return;
      for (const o of outs) links[o.port - 41_000]?.receive(now, o.bytes, "127.0.0.1", 41_000 + from);
    });
    return sent;
  };
  return { links, deliver };
}

/** Runs `seconds` slots of heartbeats, each sent a quarter into its slot. */
function run(m: ReturnType<typeof mesh>, fromSec: number, seconds: number, drop: (sec: number) => Set<number> = () => new Set()): number {
  for (let s = fromSec; s < fromSec + seconds; s++) m.deliver(s * SEC + SEC / 4, drop(s));
  return (fromSec + seconds) * SEC + SEC / 4;
}

describe("heartbeats between agents (real/agent/peers.ts)", () => {
  it("counts a peer once it echoes this agent's nonce, and avoids one that missed the latest or 2 of the last 32", () => {
    const m = mesh();
    const now = run(m, 10, 40);
    const a = m.links[0] as PeerLink;
    expect(a.status(now).peers.map((p) => [p.name, p.avoided, p.misses])).toEqual([["n1", false, 0], ["n2", false, 0]]);
    // n2 misses two slots, far apart: still heard at the latest, but 2 of the last 32 are gone.
    const later = run(m, 50, 20, (s) => (s === 52 || s === 60 ? new Set([2]) : new Set()));
    expect(a.avoided(later, 2)).toBe(true);
    expect(a.avoided(later, 1)).toBe(false);
    // One miss only: avoided while the latest is missed, not after.
    const m2 = mesh();
    run(m2, 10, 40);
    const missed = run(m2, 50, 1, () => new Set([1]));
    expect((m2.links[0] as PeerLink).avoided(missed, 1)).toBe(true);
    const back = run(m2, 51, 1);
    expect((m2.links[0] as PeerLink).avoided(back, 1)).toBe(false);
  });

  it("ignores and counts heartbeats of another protocol version, so a half-done rollout never pairs old with new", () => {
    const m = mesh([1, 1, 2]);
    const now = run(m, 10, 40);
    const old = (m.links[0] as PeerLink).status(now);
    expect(old.peers.find((p) => p.name === "n2")).toMatchObject({ avoided: true, heard: 0, lastProtocol: 2 });
    expect(old.peers.find((p) => p.name === "n2")?.ignoredVersion).toBeGreaterThan(30);
    expect(old.peers.find((p) => p.name === "n1")).toMatchObject({ avoided: false, ignoredVersion: 0 });
    const fresh = (m.links[2] as PeerLink).status(now);
    expect(fresh.peers.every((p) => p.avoided && p.heard === 0 && p.ignoredVersion > 30)).toBe(true);
    expect(fresh.accepted).toBe(0);
  });

  it("sends and judges nothing before a service is installed, so a node being deployed is not counted as another version", () => {
    const m = mesh();
    const deploying = new PeerLink({ key: KEY, incarnation: 100n });
    deploying.setPeers(LIST, 2);
    m.links[2] = deploying;
    const now = run(m, 10, 5);
    expect(deploying.tick()).toEqual([]);
    expect(deploying.status(now)).toMatchObject({ protocol: null, sent: 0, accepted: 0, ignored: 0 });
    expect(deploying.dropped.notServing).toBeGreaterThan(0);
    const a = (m.links[0] as PeerLink).status(now);
    expect(a.peers.find((p) => p.name === "n2")).toMatchObject({ heard: 0, ignoredVersion: 0, lastProtocol: null, avoided: true });
    // Its service in place: heard, on the same protocol, never counted as ignored.
    deploying.setProtocol(1);
    const later = run(m, 15, 5);
    expect((m.links[0] as PeerLink).status(later).peers.find((p) => p.name === "n2")).toMatchObject({ avoided: false, ignoredVersion: 0, lastProtocol: 1 });
    expect(deploying.status(later).protocol).toBe(1);
  });

  it("drops a replayed, altered, misdirected, oversized, flooding or foreign-keyed datagram, and counts why", () => {
    const m = mesh();
    run(m, 10, 5);
    const a = m.links[0] as PeerLink;
    const sent = m.deliver(15 * SEC + SEC / 4);
    const fromN1 = sent[1]?.find((o) => o.port === 41_000) as Outgoing;
    const at = 16 * SEC;
    a.receive(at, fromN1.bytes, "127.0.0.1", 41_001);
    expect(a.dropped.replayed).toBe(1);
    const altered = Buffer.from(fromN1.bytes);
    altered[10] = (altered[10] as number) ^ 1;
    a.receive(at, altered, "127.0.0.1", 41_001);
    expect(a.dropped.badMac).toBe(1);
    a.receive(at, fromN1.bytes, "127.0.0.1", 41_002);
    expect(a.dropped.badMac + a.dropped.mismatch).toBe(2);
    a.receive(at, Buffer.alloc(PEER_DATAGRAM_BYTES + 1), "127.0.0.1", 41_001);
    expect(a.dropped.malformed).toBe(1);
    a.receive(at, fromN1.bytes, "10.0.0.9", 41_001);
    expect(a.dropped.unknown).toBe(1);
    for (let k = 0; k < PEER_DATAGRAMS_PER_PERIOD_MAX + 2; k++) a.receive(17 * SEC, Buffer.alloc(3), "127.0.0.1", 41_002);
    expect(a.dropped.flooded).toBe(2);
    const stranger = new PeerLink({ key: Buffer.from("another-operators-key-000"), incarnation: 999n });
    stranger.setPeers(LIST, 1);
    stranger.setProtocol(1);
    a.receive(18 * SEC, (stranger.tick()[0] as Outgoing).bytes, "127.0.0.1", 41_001);
    expect(a.dropped.badMac).toBe(2);
  });

  it("does not count heartbeats sent before it started (they echo an old nonce), even from a newer incarnation", () => {
    const m = mesh();
    run(m, 10, 5);
    const captured = m.deliver(15 * SEC + SEC / 4);
    // n0 restarts: a new link, new nonce; n1's old datagram to it is fresh by sequence, stale by echo.
    const restarted = new PeerLink({ key: KEY, incarnation: 101n });
    restarted.setPeers(LIST, 0);
    restarted.setProtocol(1);
    restarted.receive(16 * SEC, (captured[1]?.find((o) => o.port === 41_000) as Outgoing).bytes, "127.0.0.1", 41_001);
    expect(restarted.dropped.unverified).toBe(1);
    expect(restarted.status(16 * SEC).peers.find((p) => p.name === "n1")).toMatchObject({ heard: 0, avoided: true });
  });

  it("never throws on random bytes from a peer's address", () => {
    const m = mesh();
    run(m, 10, 3);
    const a = m.links[0] as PeerLink;
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 2 }), (bytes, from) => {
      a.receive(20 * SEC, bytes, "127.0.0.1", 41_000 + from);
    }));
    expect(a.status(20 * SEC).peers.length).toBe(2);
  });
});
