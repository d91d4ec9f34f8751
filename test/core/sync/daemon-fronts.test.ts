import { describe, expect, it } from "vitest";
import { createRng, type Env } from "../../../core/engine/index.js";
import {
  CODE_BROKEN,
  CODE_INVALID,
  CODE_LIMIT,
  CODE_RESET,
  CODE_TIMEOUT,
  decodeReply,
  encodeRequest,
  REPLY_PENDING,
  SyncDaemon,
  type SyncDaemonOptions,
  type SyncReply,
  type SyncRequest,
} from "../../../core/sync/index.js";
import { ext } from "./support.js";

type Req = Partial<SyncRequest> & { type: "init" | "wait" };

/** A daemon on a fake clock: UDP replies decoded by address, TCP replies by stream, events kept. */
function harness(more: Partial<SyncDaemonOptions> = { leaseUs: 1_000_000, replyKeepUs: 5_000_000 }) {
  let nowUs = 0;
  const timers = new Map<number, number>();
  const sent: { to: number; reply: SyncReply }[] = [];
  const events: { kind: string; fields: Record<string, unknown> }[] = [];
  const env: Env = {
    now: () => nowUs,
    rng: createRng(1),
    net: {
      self: 0, join: () => {}, leave: () => {},
      send: (to, _port, payload) => {
        const d = decodeReply(payload as Uint8Array);
        if (!d.ok) throw new Error(d.error);
        sent.push({ to, reply: d.value });
      },
    },
    timers: { set: (id, at) => void timers.set(id, at), cancel: (id) => void timers.delete(id) },
    events: { emit: (kind, fields) => void events.push({ kind, fields: { ...fields } }) },
  };
  const daemon = new SyncDaemon(env, more);
  const advance = (toUs: number): void => {
    for (;;) {
      const due = [...timers].filter(([, at]) => at <= toUs).sort((a, b) => a[1] - b[1] || a[0] - b[0])[0];
      if (due === undefined) break;
      timers.delete(due[0]);
      nowUs = Math.max(nowUs, due[1]);
      daemon.timer(due[0]);
    }
    nowUs = Math.max(nowUs, toUs);
  };
  const bytes = (r: Req): Uint8Array => encodeRequest({ name: "b", noWait: false, count: 0, error: 0, ext: null, ...r });
  const send = (from: number, r: Req): void => daemon.receive(from, 9000, bytes(r));
  /** Final (not pending) UDP replies to an address, as codes. */
  const finals = (to: number): number[] => sent.filter((s) => s.to === to && s.reply.code !== REPLY_PENDING).map((s) => s.reply.code);
  const stream = (r: Req | Uint8Array, origin = "7") => {
    const replies: SyncReply[] = [];
    const peer = daemon.streamRequest(r instanceof Uint8Array ? r : bytes(r), (b) => {
      const d = decodeReply(b);
      if (!d.ok) throw new Error(d.error);
      replies.push(d.value);
    }, origin);
    return { peer, replies };
  };
  const counter = (name = "b"): number | undefined => daemon.server.inspect(name)?.counter;
  return { daemon, sent, send, finals, stream, advance, timers, events, counter, now: () => nowUs, setNow: (us: number) => void (nowUs = us) };
}

describe("the sync daemon's TCP front", () => {
  it("answers an extended TCP request with the 20-byte reply naming its request id, an original one with 4 bytes", () => {
    const h = harness();
    const e = h.stream({ type: "wait", ext: ext({ requestId: 77 }) });
    const o = h.stream({ type: "wait" });
    h.stream({ type: "init", count: 2 });
    expect(e.replies).toEqual([{ code: 0, ext: { requestId: 77, generation: 1, epoch: h.daemon.epoch } }]);
    expect(o.replies).toEqual([{ code: 0, ext: null }]);
    // Nothing goes out on the UDP side for a TCP request, not even a pending reply.
    expect(h.sent).toEqual([]);
  });

  it("answers garbage on a stream with 246", () => {
    const h = harness();
    const g = h.stream(new Uint8Array(10));
    expect(g.replies).toEqual([{ code: CODE_INVALID, ext: null }]);
    expect(g.peer).toBeGreaterThan(0);
  });

  it("answers a request read as it stops with 240, extended or not, and takes nothing", () => {
    const h = harness();
    h.daemon.stop();
    const e = h.stream({ type: "wait", ext: ext({ requestId: 5 }) });
    const o = h.stream({ type: "init", count: 1 });
    expect(e).toEqual({ peer: 0, replies: [{ code: CODE_RESET, ext: { requestId: 5, generation: 0, epoch: h.daemon.epoch } }] });
    expect(o).toEqual({ peer: 0, replies: [{ code: CODE_RESET, ext: null }] });
    expect(h.daemon.server.barrierCount).toBe(0);
  });

  it("undoes a TCP waiter whose connection closed, and ignores a close after the reply", () => {
    const h = harness();
    h.stream({ type: "init", count: 2 });
    const w = h.stream({ type: "wait" });
    expect(h.counter()).toBe(1);
    h.daemon.streamClosed(w.peer);
    expect(h.counter()).toBe(2);
    const a = h.stream({ type: "wait" });
    const b = h.stream({ type: "wait" });
    expect([a.replies, b.replies].map((r) => r.map((x) => x.code))).toEqual([[0], [0]]);
    h.daemon.streamClosed(a.peer);
    h.daemon.streamClosed(w.peer);
    expect(h.daemon.server.stats.crashed).toBe(1);
  });

  it("breaks an intolerant barrier when a TCP member closes, answering the others and not the closed one", () => {
    const h = harness();
    const i = h.stream({ type: "init", count: 3, ext: ext({ crash: "intolerant" }) });
    const w = h.stream({ type: "wait" });
    const gone = h.stream({ type: "wait" });
    h.daemon.streamClosed(gone.peer);
    expect([i.replies.map((r) => r.code), w.replies.map((r) => r.code), gone.replies]).toEqual([[CODE_BROKEN], [CODE_BROKEN], []]);
  });

  it("never takes a TCP waiter for idle or lapsed, and stops sweeping when no UDP request waits", () => {
    const h = harness();
    const t = h.stream({ type: "wait", name: "tcp" });
    h.send(1, { type: "wait", name: "udp" });
    h.send(2, { type: "init", name: "udp", count: 1 });
    h.advance(10_000_000);
    expect(h.daemon.stats).toMatchObject({ idled: 0, lapsed: 0 });
    expect(h.counter("tcp")).toBe(-1);
    expect(h.timers.size).toBe(0);
    expect(h.daemon.originOfPeer(t.peer)).toBe("7");
  });

  it("counts a TCP request in its origin's share, named for the address", () => {
    const h = harness();
    h.stream({ type: "wait" }, "66");
    h.send(66, { type: "wait", name: "x" });
    expect(h.daemon.inFlightOf("66")).toBe(2);
  });
});

describe("the sync daemon's deadlines", () => {
  it("fires a barrier's deadline through the daemon, whatever other barriers and sweeps are about", () => {
    const h = harness();
    h.send(1, { type: "wait", name: "first" });
    h.send(2, { type: "wait", name: "second" });
    h.send(3, { type: "init", name: "second", count: 5, ext: ext({ deadlineMs: 100 }) });
    h.advance(200_000);
    expect([h.finals(2), h.finals(3), h.finals(1)]).toEqual([[CODE_TIMEOUT], [CODE_TIMEOUT], []]);
  });
});

describe("the sync daemon's UDP front, exactly", () => {
  it("gives the last arrival one reply, its outcome, and no pending reply after it", () => {
    const h = harness();
    h.send(1, { type: "init", count: 1, ext: ext({ requestId: 3 }) });
    h.send(2, { type: "wait", ext: ext({ requestId: 4 }) });
    expect(h.sent.filter((s) => s.to === 2).map((s) => s.reply.code)).toEqual([0]);
    expect(h.sent.filter((s) => s.to === 1).map((s) => s.reply.code)).toEqual([REPLY_PENDING, 0]);
  });

  it("takes nothing from a cancel for a request it never had", () => {
    const h = harness();
    h.send(1, { type: "wait", ext: ext({ requestId: 9, cancel: true }) });
    expect(h.daemon.server.barrierCount).toBe(0);
    expect(h.sent).toEqual([]);
  });

  it("tells which origin a waiting peer came from, and forgets it once answered", () => {
    const h = harness();
    h.send(66, { type: "wait" });
    const peer = h.events.find((e) => e.kind === "sync.wait")?.fields["peer"] as number;
    expect(h.daemon.originOfPeer(peer)).toBe("66");
    h.send(2, { type: "init", count: 1 });
    expect(h.daemon.originOfPeer(peer)).toBeUndefined();
  });

  it("refuses beyond requestsMax from everyone, with its reason", () => {
    const h = harness({ requestsMax: 2 });
    h.send(1, { type: "wait", name: "a" });
    h.send(2, { type: "wait", name: "a" });
    h.send(3, { type: "wait", name: "a" });
    expect(h.finals(3)).toEqual([CODE_LIMIT]);
    expect(h.events.filter((e) => e.kind === "sync.limited").map((e) => e.fields["why"])).toEqual(["requests"]);
    expect(h.daemon.stats.refused).toBe(1);
  });

  it("names the per-peer refusal", () => {
    const h = harness({ requestsPerPeerMax: 1 });
    h.send(1, { type: "wait", name: "a" });
    h.send(1, { type: "wait", name: "c" });
    expect(h.events.filter((e) => e.kind === "sync.limited").map((e) => e.fields["why"])).toEqual(["requests of one peer"]);
  });

  it("counts datagrams, duplicates and resent replies", () => {
    const h = harness();
    h.send(1, { type: "wait", ext: ext({ requestId: 4 }) });
    h.send(1, { type: "wait", ext: ext({ requestId: 4 }) });
    h.send(2, { type: "init", count: 1 });
    h.send(1, { type: "wait", ext: ext({ requestId: 4 }) });
    h.daemon.receive(3, 1, new Uint8Array(2));
    expect(h.daemon.stats).toEqual({ datagrams: 5, duplicates: 1, repliesResent: 1, lapsed: 0, cacheEvictions: 0, idled: 0, refused: 0 });
  });

  it("keeps a reply for replyKeepUs, then forgets it: a retransmission after that is a new request", () => {
    const h = harness({ leaseUs: 1_000_000, replyKeepUs: 2_000_000 });
    h.send(1, { type: "wait", ext: ext({ requestId: 4 }) });
    h.send(2, { type: "init", count: 1 });
    h.advance(1_900_000);
    h.send(1, { type: "wait", ext: ext({ requestId: 4 }) });
    expect(h.daemon.stats.repliesResent).toBe(1);
    h.advance(2_600_000);
    h.send(1, { type: "wait", ext: ext({ requestId: 4 }) });
    expect(h.daemon.stats.repliesResent).toBe(1);
    expect(h.counter()).toBe(-1);
  });

  it("forgets a kept reply at the sweep that finds it exactly expired", () => {
    // Sweeps every lease / 4 from the first request: at 250 and 500 ms; the reply expires at 500 ms.
    const h = harness({ leaseUs: 1_000_000, replyKeepUs: 500_000 });
    h.send(1, { type: "wait", ext: ext({ requestId: 4 }) });
    h.send(2, { type: "init", count: 1 });
    h.advance(500_000);
    h.send(1, { type: "wait", ext: ext({ requestId: 4 }) });
    expect(h.daemon.stats.repliesResent).toBe(0);
    expect(h.counter()).toBe(-1);
  });

  it("keeps at most replyCacheMax replies, forgetting the oldest, and original replies take no room", () => {
    const h = harness({ leaseUs: 1_000_000, replyKeepUs: 60_000_000, replyCacheMax: 2 });
    for (const [id, name] of [[1, "x"], [2, "y"], [3, "z"]] as const) {
      h.send(10 + id, { type: "wait", name, ext: ext({ requestId: id }) });
      h.send(20 + id, { type: "init", name, count: 1 });
    }
    expect(h.daemon.stats.cacheEvictions).toBe(1);
    h.send(13, { type: "wait", name: "z", ext: ext({ requestId: 3 }) });
    h.send(12, { type: "wait", name: "y", ext: ext({ requestId: 2 }) });
    expect(h.daemon.stats.repliesResent).toBe(2);
    h.send(11, { type: "wait", name: "x", ext: ext({ requestId: 1 }) });
    expect(h.daemon.stats.repliesResent).toBe(2);
    expect(h.counter("x")).toBe(-1);
  });

  it("with the default options, a waiter unheard for 15 s lapses within a quarter lease after", () => {
    const h = harness({});
    h.send(1, { type: "init", count: 2, noWait: true });
    h.send(2, { type: "wait", ext: ext({ requestId: 1 }) });
    h.advance(15_000_000);
    expect(h.daemon.stats.lapsed).toBe(0);
    h.advance(18_750_000);
    expect(h.daemon.stats.lapsed).toBe(1);
    expect(h.counter()).toBe(2);
  });
});

describe("the sync daemon's sweep: leases to the microsecond", () => {
  // The sweep runs every lease / 4 from the first UDP request: 350, 600, 850, 1,100, 1,350 ms.
  it("lapses an extended waiter and idles an original one unheard for more than the lease, not at exactly the lease", () => {
    const h = harness({ leaseUs: 1_000_000 });
    h.setNow(100_000);
    h.send(1, { type: "wait", name: "e", ext: ext({ requestId: 1 }) });
    h.send(2, { type: "wait", name: "o" });
    h.advance(1_100_000);
    expect(h.daemon.stats).toMatchObject({ lapsed: 0, idled: 0 });
    h.advance(1_350_000);
    expect(h.daemon.stats).toMatchObject({ lapsed: 1, idled: 1 });
  });

  it("keeps sweeping for a lone extended waiter, a lone original one and a lone kept reply; then stops", () => {
    const lone = harness();
    lone.send(1, { type: "wait", ext: ext({ requestId: 1 }) });
    lone.advance(3_000_000);
    expect(lone.daemon.stats.lapsed).toBe(1);

    const plain = harness();
    plain.send(1, { type: "wait" });
    plain.advance(3_000_000);
    expect(plain.daemon.stats.idled).toBe(1);

    const kept = harness({ leaseUs: 1_000_000, replyKeepUs: 2_000_000 });
    kept.send(1, { type: "wait", ext: ext({ requestId: 4 }) });
    kept.stream({ type: "init", count: 1 });
    kept.advance(3_000_000);
    kept.send(1, { type: "wait", ext: ext({ requestId: 4 }) });
    expect(kept.daemon.stats.repliesResent).toBe(0);
    kept.stream({ type: "init", count: 1 });
    kept.advance(10_000_000);
    expect(kept.timers.size).toBe(0);
  });

  it("sweeps on time while other requests keep coming", () => {
    const h = harness({ leaseUs: 1_000_000 });
    h.send(1, { type: "wait", name: "quiet", ext: ext({ requestId: 1 }) });
    for (let t = 100_000; t <= 2_000_000; t += 100_000) {
      h.advance(t);
      h.send(100 + t / 100_000, { type: "wait", name: `busy${t}` });
    }
    expect(h.daemon.stats.lapsed).toBe(1);
  });

  it("lapses a waiter again after it was heard and then went quiet", () => {
    const h = harness({ leaseUs: 1_000_000 });
    h.send(9, { type: "init", count: 2, noWait: true, ext: ext({ requestId: 9, crash: "tolerant" }) });
    h.send(1, { type: "wait", ext: ext({ requestId: 1 }) });
    h.advance(1_500_000);
    expect(h.daemon.stats.lapsed).toBe(1);
    h.send(1, { type: "wait", ext: ext({ requestId: 1 }) });
    h.advance(3_000_000);
    expect(h.daemon.stats.lapsed).toBe(2);
  });

  it("a waiter whose lapse was undone by the INIT's policy arrives anew when heard, and can lapse again", () => {
    const h = harness({ leaseUs: 1_000_000 });
    h.send(1, { type: "wait", ext: ext({ requestId: 1 }) });
    h.advance(1_500_000);
    expect(h.daemon.stats.lapsed).toBe(1);
    // The INIT brings the original policy: the lapsed waiter's arrival is undone.
    h.send(2, { type: "init", count: 2, noWait: true });
    expect(h.counter()).toBe(2);
    h.send(1, { type: "wait", ext: ext({ requestId: 1 }) });
    expect(h.counter()).toBe(1);
    expect(h.daemon.inFlightOf("1")).toBe(1);
    h.advance(3_000_000);
    expect(h.daemon.stats.lapsed).toBe(2);
    h.send(1, { type: "wait", ext: ext({ requestId: 1 }) });
    h.send(3, { type: "wait" });
    expect(h.finals(1)).toEqual([0]);
  });

  it("a waiter undone while lapsed and never heard again holds nothing: the sweep stops", () => {
    const h = harness({ leaseUs: 1_000_000 });
    h.send(1, { type: "wait", ext: ext({ requestId: 1 }) });
    h.advance(1_500_000);
    h.stream({ type: "init", count: 2, noWait: true });
    h.advance(10_000_000);
    expect(h.timers.size).toBe(0);
    expect(h.daemon.inFlightOf("1")).toBe(0);
  });

  it("a cancel from a waiter undone while lapsed takes nothing", () => {
    const h = harness({ leaseUs: 1_000_000 });
    h.send(1, { type: "wait", ext: ext({ requestId: 1 }) });
    h.advance(1_500_000);
    h.send(2, { type: "init", count: 2, noWait: true });
    h.send(1, { type: "wait", ext: ext({ requestId: 1, cancel: true }) });
    expect(h.counter()).toBe(2);
  });

  it("a lapsed waiter answered later does not take back another request's share", () => {
    const h = harness({ leaseUs: 1_000_000 });
    h.send(66, { type: "wait", name: "a", ext: ext({ requestId: 1 }) });
    h.advance(1_500_000);
    expect(h.daemon.inFlightOf("66")).toBe(0);
    h.send(66, { type: "wait", name: "c" });
    expect(h.daemon.inFlightOf("66")).toBe(1);
    h.send(2, { type: "init", name: "a", count: 1, ext: ext({ requestId: 2, crash: "tolerant" }) });
    expect(h.finals(66)).toEqual([0]);
    expect(h.daemon.inFlightOf("66")).toBe(1);
  });
});
