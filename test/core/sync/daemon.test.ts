import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRng, type Env } from "../../../core/engine/index.js";
import { CODE_INVALID, decodeReply, encodeRequest, SyncDaemon, type SyncRequest } from "../../../core/sync/index.js";
import { ext } from "./support.js";

function harness(leaseUs = 1_000_000) {
  let nowUs = 0;
  const timers = new Map<number, number>();
  const sent: { to: number; port: number; code: number; requestId: number | null }[] = [];
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
        sent.push({ to, port, code: d.value.code, requestId: d.value.ext?.requestId ?? null });
      },
    },
    timers: { set: (id, at) => void timers.set(id, at), cancel: (id) => void timers.delete(id) },
    events: { emit: () => {} },
  };
  const daemon = new SyncDaemon(env, { leaseUs, replyKeepUs: 5_000_000 });
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
  return { daemon, sent, send, advance };
}

describe("the sync daemon's UDP front", () => {
  it("counts a retransmitted request once and resends its kept reply when asked again", () => {
    const h = harness();
    h.send(1, { type: "wait", ext: ext({ requestId: 7 }) });
    h.send(1, { type: "wait", ext: ext({ requestId: 7 }) });
    expect(h.daemon.server.inspect("b")?.counter).toBe(-1);
    h.send(2, { type: "init", count: 1 });
    expect(h.sent.filter((s) => s.to === 1)).toEqual([{ to: 1, port: 9000, code: 0, requestId: 7 }]);
    h.send(1, { type: "wait", ext: ext({ requestId: 7 }) });
    expect(h.sent.filter((s) => s.to === 1)).toHaveLength(2);
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
