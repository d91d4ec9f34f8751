import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRng, type Env } from "../../../core/engine/index.js";
import {
  CODE_INVALID,
  CODE_LIMIT,
  CODE_RESET,
  decodeReply,
  encodeRequest,
  REPLY_PENDING,
  SAMPLE_EVERY_US,
  SyncDaemon,
  type SyncDaemonOptions,
  type SyncRequest,
} from "../../../core/sync/index.js";
import { ext } from "./support.js";

function harness(leaseUs = 1_000_000, more: Partial<SyncDaemonOptions> = {}) {
  let nowUs = 0;
  const timers = new Map<number, number>();
  const sent: { to: number; port: number; code: number; requestId: number | null; epoch?: number; generation?: number }[] = [];
  const events: { kind: string; fields: Record<string, unknown> }[] = [];
  const env: Env = {
    now: () => nowUs,
    rng: createRng(1),
    net: {
      self: 0,
      join: () => {},
      leave: () => {},
      send: (to, port, payload) => {
        const d = decodeReply(payload as Uint8Array);
        if (!d.ok) throw new Error(d.error);
        const e = d.value.ext;
        sent.push({ to, port, code: d.value.code, requestId: e?.requestId ?? null, ...(e === null ? {} : { epoch: e.epoch, generation: e.generation }) });
      },
    },
    timers: { set: (id, at) => void timers.set(id, at), cancel: (id) => void timers.delete(id) },
    events: { emit: (kind, fields) => void events.push({ kind, fields: { ...fields } }) },
  };
  const daemon = new SyncDaemon(env, { leaseUs, replyKeepUs: 5_000_000, ...more });
  const advance = (toUs: number): void => {
    for (;;) {
      const due = [...timers].filter(([, at]) => at <= toUs).sort((a, b) => a[1] - b[1])[0];
      if (due === undefined) break;
      timers.delete(due[0]);
      nowUs = due[1];
      daemon.timer(due[0]);
    }
    nowUs = toUs;
  };
  const send = (from: number, r: Partial<SyncRequest> & { type: "init" | "wait" }): void =>
    daemon.receive(from, 9000, encodeRequest({ name: "b", noWait: false, count: 0, error: 0, ext: null, ...r }));
  const finals = (to: number) => sent.filter((s) => s.to === to && s.code !== REPLY_PENDING);
  return { daemon, sent, send, advance, events, finals };
}

describe("the sync daemon's UDP front", () => {
  it("counts a retransmitted request once and resends its kept reply when asked again", () => {
    const h = harness();
    h.send(1, { type: "wait", ext: ext({ requestId: 7 }) });
    h.send(1, { type: "wait", ext: ext({ requestId: 7 }) });
    expect(h.daemon.server.inspect("b")?.counter).toBe(-1);
    h.send(2, { type: "init", count: 1 });
    expect(h.finals(1)).toEqual([{ to: 1, port: 9000, code: 0, requestId: 7, epoch: h.daemon.epoch, generation: 1 }]);
    h.send(1, { type: "wait", ext: ext({ requestId: 7 }) });
    expect(h.finals(1)).toHaveLength(2);
    expect(h.daemon.server.barrierCount).toBe(0);
  });

  it("answers an original UDP request once with the 4-byte reply and never notices its sender gone", () => {
    const h = harness();
    h.send(1, { type: "wait" });
    h.advance(10_000_000);
    expect(h.daemon.server.inspect("b")?.counter).toBe(-1);
    h.send(2, { type: "init", count: 1, noWait: true });
    expect(h.sent.map((s) => [s.to, s.code, s.requestId])).toEqual([[2, 0, null], [1, 0, null]]);
  });

  it("takes a waiter unheard for its lease as crashed, and counts it again when it is heard", () => {
    const h = harness(1_000_000);
    h.send(2, { type: "init", count: 2 });
    h.send(1, { type: "wait", ext: ext({ requestId: 5 }) });
    expect(h.daemon.server.inspect("b")?.counter).toBe(1);
    h.advance(3_000_000);
    expect(h.daemon.stats.lapsed).toBe(1);
    expect(h.daemon.server.inspect("b")?.counter).toBe(2);
    h.send(1, { type: "wait", ext: ext({ requestId: 5 }) });
    expect(h.daemon.server.inspect("b")?.counter).toBe(1);
  });

  it("withdraws a waiter that cancels", () => {
    const h = harness();
    h.send(2, { type: "init", count: 2, noWait: true });
    h.send(1, { type: "wait", ext: ext({ requestId: 5 }) });
    h.send(1, { type: "wait", ext: ext({ requestId: 5, cancel: true }) });
    expect(h.daemon.server.inspect("b")?.counter).toBe(2);
  });

  it("answers garbage datagrams with 246 and keeps serving", () => {
    const h = harness();
    h.daemon.receive(3, 1, new Uint8Array([1, 2, 3]));
    expect(h.sent).toEqual([{ to: 3, port: 1, code: CODE_INVALID, requestId: null }]);
    h.send(2, { type: "init", count: 0 });
    expect(h.sent.at(-1)?.code).toBe(0);
  });
});

describe("the sync daemon under random datagrams", () => {
  it("never throws, answers each bad datagram with at most one reply, and keeps serving", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 90 }), { maxLength: 30 }), (datagrams) => {
        const h = harness();
        datagrams.forEach((d, i) => h.daemon.receive(100 + i, 1, d));
        expect(h.sent.length).toBeLessThanOrEqual(datagrams.length);
        h.send(1, { type: "init", count: 1, name: "ok" });
        h.send(2, { type: "wait", name: "ok" });
        expect(h.sent.filter((x) => x.to === 1 || x.to === 2).map((x) => x.code)).toEqual([0, 0]);
      }),
      { numRuns: 300 },
    );
  });
});

describe("the sync daemon tells extended UDP clients who it is", () => {
  it("answers a waiting request and each retransmission with a pending reply carrying its epoch and the generation", () => {
    const h = harness();
    h.send(1, { type: "wait", ext: ext({ requestId: 7 }) });
    h.send(1, { type: "wait", ext: ext({ requestId: 7 }) });
    expect(h.sent).toEqual([
      { to: 1, port: 9000, code: REPLY_PENDING, requestId: 7, epoch: h.daemon.epoch, generation: 1 },
      { to: 1, port: 9000, code: REPLY_PENDING, requestId: 7, epoch: h.daemon.epoch, generation: 1 },
    ]);
    expect(h.daemon.epoch).toBeGreaterThan(0);
  });

  it("does not answer a retransmission from a client that has its epoch already", () => {
    const h = harness();
    h.send(1, { type: "wait", ext: ext({ requestId: 7 }) });
    h.send(1, { type: "wait", ext: ext({ requestId: 7, epochKnown: true }) });
    expect(h.sent.map((s) => s.code)).toEqual([REPLY_PENDING]);
    expect(h.daemon.stats.duplicates).toBe(1);
  });

  it("sends an original request no pending reply, only its 4-byte outcome", () => {
    const h = harness();
    h.send(1, { type: "wait" });
    expect(h.sent).toEqual([]);
  });

  it("draws another epoch when started again (another seed)", () => {
    const epochs = new Set([1, 2, 3, 4].map((seed) => new SyncDaemon({ ...fakeEnv(), rng: createRng(seed) }).epoch));
    expect(epochs.size).toBe(4);
  });
});

function fakeEnv(): Env {
  return {
    now: () => 0, rng: createRng(1), net: { self: 0, join: () => {}, leave: () => {}, send: () => {} },
    timers: { set: () => {}, cancel: () => {} }, events: { emit: () => {} },
  };
}

describe("the sync daemon's per-peer limits", () => {
  it("refuses a sender's requests beyond its share with 245 and serves another sender", () => {
    const h = harness(1_000_000, { requestsPerPeerMax: 3 });
    for (let id = 1; id <= 3; id++) h.send(66, { type: "wait", name: `n${id}`, ext: ext({ requestId: id }) });
    h.send(66, { type: "wait", name: "n4", ext: ext({ requestId: 4 }) });
    h.send(66, { type: "wait", name: "n5" });
    expect(h.finals(66).map((s) => s.code)).toEqual([CODE_LIMIT, CODE_LIMIT]);
    expect(h.daemon.inFlightOf("66")).toBe(3);
    h.send(2, { type: "wait", name: "ok" });
    h.send(3, { type: "init", name: "ok", count: 1 });
    expect([...h.finals(2), ...h.finals(3)].map((s) => s.code)).toEqual([0, 0]);
  });

  it("gives the share back as requests are answered", () => {
    const h = harness(1_000_000, { requestsPerPeerMax: 1 });
    h.send(66, { type: "wait", name: "a" });
    h.send(2, { type: "init", name: "a", count: 1 });
    expect(h.daemon.inFlightOf("66")).toBe(0);
    h.send(66, { type: "wait", name: "b" });
    expect(h.finals(66).map((s) => s.code)).toEqual([0]);
  });

  it("gives a peer's share back when its waiters lapse or go idle, and takes it again when one is heard", () => {
    const h = harness(1_000_000, { requestsPerPeerMax: 2 });
    h.send(66, { type: "wait", name: "a", ext: ext({ requestId: 1 }) });
    h.send(66, { type: "wait", name: "b" });
    expect(h.daemon.inFlightOf("66")).toBe(2);
    h.advance(3_000_000);
    expect(h.daemon.inFlightOf("66")).toBe(0);
    h.send(66, { type: "wait", name: "a", ext: ext({ requestId: 1 }) });
    expect(h.daemon.inFlightOf("66")).toBe(1);
    h.send(66, { type: "wait", name: "c" });
    expect(h.finals(66)).toEqual([]);
  });

  it("counts TCP requests in the same share as the address's UDP ones", () => {
    const h = harness(1_000_000, { requestsPerPeerMax: 1 });
    h.send(66, { type: "wait", name: "a" });
    const replies: Uint8Array[] = [];
    h.daemon.streamRequest(encodeRequest({ type: "wait", name: "b", noWait: false, count: 0, error: 0, ext: null }), (r) => void replies.push(r), "66");
    expect(replies.map((r) => new DataView(r.buffer).getInt32(0, true))).toEqual([CODE_LIMIT]);
  });
});

describe("the sync daemon frees what gone peers held", () => {
  it("marks an original UDP request unanswered for a lease idle, so its barrier makes room in a full table", () => {
    const h = harness(1_000_000, { limits: { barriersMax: 2 } });
    h.send(10, { type: "wait", name: "a" });
    h.send(11, { type: "wait", name: "b", ext: ext({ requestId: 1 }) });
    h.send(12, { type: "wait", name: "c" });
    expect(h.finals(12).map((s) => s.code)).toEqual([CODE_LIMIT]);
    h.advance(3_000_000);
    expect(h.daemon.stats.idled).toBe(1);
    expect(h.daemon.stats.lapsed).toBe(1);
    h.send(12, { type: "wait", name: "d" });
    h.send(13, { type: "wait", name: "e" });
    expect(h.finals(10).map((s) => s.code)).toEqual([CODE_LIMIT]);
    expect(h.finals(11).map((s) => s.code)).toEqual([CODE_LIMIT]);
    expect(h.daemon.server.barrierCount).toBe(2);
    expect(h.daemon.inFlightOf("10") + h.daemon.inFlightOf("11")).toBe(0);
  });

  it("never stays full after 20,000 distinct names from senders that then go away", () => {
    const h = harness(1_000_000, { limits: { barriersMax: 1_000 } });
    for (let i = 0; i < 20_000; i++) h.send(1_000 + (i % 500), { type: "wait", name: `flood${i}`, ...(i % 2 === 0 ? { ext: ext({ requestId: i + 1 }) } : {}) });
    expect(h.daemon.server.barrierCount).toBe(1_000);
    h.advance(3_000_000);
    h.send(1, { type: "wait", name: "legit" });
    h.send(2, { type: "init", name: "legit", count: 1 });
    expect([...h.finals(1), ...h.finals(2)].map((s) => s.code)).toEqual([0, 0]);
  });
});

describe("the sync daemon's stop and its garbage", () => {
  it("answers every waiter with 240 at stop and takes nothing afterwards", () => {
    const h = harness();
    h.send(1, { type: "wait", name: "a" });
    h.send(2, { type: "wait", name: "b", ext: ext({ requestId: 3 }) });
    h.daemon.stop();
    expect([...h.finals(1), ...h.finals(2)].map((s) => s.code)).toEqual([CODE_RESET, CODE_RESET]);
    h.send(3, { type: "wait", name: "c" });
    expect(h.daemon.server.barrierCount).toBe(0);
    expect(h.sent.filter((s) => s.to === 3)).toEqual([]);
  });

  it("counts every invalid datagram but emits one event per interval", () => {
    const h = harness();
    for (let i = 0; i < 1_000; i++) h.daemon.receive(5, 1, new Uint8Array([i & 255, 1, 2]));
    expect(h.daemon.server.stats.invalid).toBe(1_000);
    expect(h.events.filter((e) => e.kind === "sync.invalid")).toHaveLength(1);
    h.advance(SAMPLE_EVERY_US + 1);
    h.daemon.receive(5, 1, new Uint8Array(3));
    const sampled = h.events.filter((e) => e.kind === "sync.invalid");
    expect(sampled.map((e) => e.fields["heldBack"])).toEqual([0, 999]);
  });
});
