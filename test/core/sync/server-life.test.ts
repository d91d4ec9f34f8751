import { describe, expect, it } from "vitest";
import {
  CODE_INVALID,
  CODE_LATE,
  CODE_LIMIT,
  CODE_OVERFLOW,
  CODE_RESET,
  CODE_TIMEOUT,
  SampledEvents,
  type SyncRequest,
} from "../../../core/sync/index.js";
import { ext, Harness } from "./support.js";

const events = (h: Harness): [string, Record<string, unknown>][] => h.events.map((e) => [e.kind, e.fields]);

/** A request from a named origin (a sender's address), as the daemon passes it. */
const from = (h: Harness, origin: string, name: string, type: "init" | "wait" = "wait", more: Partial<SyncRequest> = {}): number => {
  const peer = h.server.newPeer();
  h.server.request(peer, { name, noWait: false, count: type === "init" ? 1 : 0, error: 0, ext: null, type, ...more }, origin);
  return peer;
};

describe("sync server: the event log the portal and the simulator read", () => {
  it("logs each arrival with the counter, the INIT with its count, and the release with its code and members", () => {
    const h = new Harness();
    const w1 = h.wait({ error: 0 });
    const i = h.init(2, { error: 9 });
    const w2 = h.wait();
    expect(events(h)).toEqual([
      ["sync.wait", { name: "b", generation: 1, counter: -1, peer: w1 }],
      ["sync.init", { name: "b", generation: 1, count: 2, counter: 1, peer: i, waits: true }],
      ["sync.wait", { name: "b", generation: 1, counter: 0, peer: w2 }],
      ["sync.release", { name: "b", generation: 1, code: 9, members: 3 }],
    ]);
    // The INIT's error is everyone's when it is the highest.
    expect([w1, i, w2].map((p) => h.codeOf(p))).toEqual([9, 9, 9]);
  });

  it("says an INIT_NOWAIT does not wait, and a crash before any INIT is pending", () => {
    const h = new Harness();
    const w = h.wait();
    expect(h.server.crash(w)).toBe("kept");
    const i = h.init(1, { noWait: true });
    expect(events(h).slice(1, 3)).toEqual([
      ["sync.crash", { name: "b", peer: w, policy: "pending" }],
      ["sync.init", { name: "b", generation: 1, count: 1, counter: 0, peer: i, waits: false }],
    ]);
  });

  it("logs refusals sampled, with the code and the reason", () => {
    const h = new Harness({ countMax: 10, waitersPerBarrierMax: 1, barriersPerPeerMax: 1 });
    const big = from(h, "p", "a", "init", { count: 11 });
    expect(h.replyTo(big)).toMatchObject({ code: CODE_LIMIT, generation: 1 });
    h.advance(10_000_000);
    from(h, "p", "a");
    const second = from(h, "p", "c");
    h.advance(20_000_000);
    const full = from(h, "q", "a");
    expect([h.codeOf(second), h.codeOf(full)]).toEqual([CODE_LIMIT, CODE_LIMIT]);
    const bad = h.server.newPeer();
    h.server.invalid(bad, "garbage");
    const limited = h.events.filter((e) => e.kind === "sync.limited").map((e) => e.fields);
    expect(limited).toEqual([
      { peer: big, code: CODE_LIMIT, why: "count", heldBack: 0 },
      { peer: second, code: CODE_LIMIT, why: "barriers of one peer", heldBack: 0 },
      { peer: full, code: CODE_LIMIT, why: "waiters", heldBack: 0 },
    ]);
    expect(h.events.filter((e) => e.kind === "sync.invalid").map((e) => e.fields)).toEqual([{ peer: bad, why: "garbage", heldBack: 0 }]);
  });

  it("logs the table-full refusal and a front's own refusal", () => {
    const h = new Harness({ barriersMax: 1 });
    h.wait({ name: "a" });
    const p = h.wait({ name: "c" });
    h.advance(10_000_000);
    const q = h.server.newPeer();
    h.server.refuse(q, "requests of one peer");
    expect(h.codeOf(q)).toBe(CODE_LIMIT);
    expect(h.events.filter((e) => e.kind === "sync.limited").map((e) => e.fields)).toEqual([
      { peer: p, code: CODE_LIMIT, why: "barriers", heldBack: 0 },
      { peer: q, code: CODE_LIMIT, why: "requests of one peer", heldBack: 0 },
    ]);
    expect(h.server.stats.limited).toBe(2);
  });

  it("logs an eviction with the barrier it dropped", () => {
    const h = new Harness({ barriersMax: 1 });
    const w = h.wait({ name: "a" });
    h.server.idle(w);
    h.wait({ name: "c" });
    expect(h.events.filter((e) => e.kind === "sync.evict").map((e) => e.fields)).toEqual([{ name: "a", generation: 1, members: 1, heldBack: 0 }]);
    expect(h.codeOf(w)).toBe(CODE_LIMIT);
  });

  it("logs a late arrival with its name, and counts it", () => {
    const h = new Harness();
    h.init(1, { ext: ext({ extra: "late" }) });
    h.wait();
    const late = h.wait();
    expect(h.events.filter((e) => e.kind === "sync.late").map((e) => e.fields)).toEqual([{ peer: late, code: CODE_LATE, why: "b", heldBack: 0 }]);
    expect(h.server.stats.late).toBe(1);
  });
});

describe("sync server: the counters a status line reads", () => {
  it("counts requests, releases, who was released, timeouts, breaks, undos, crashes, overflows, invalids and resets", () => {
    const h = new Harness();
    // Released with 0: an INIT and two waiters.
    h.init(2, { name: "ok" });
    h.wait({ name: "ok" });
    h.wait({ name: "ok" });
    // Timed out: one waiter and its INIT.
    h.wait({ name: "slow" });
    h.init(5, { name: "slow", ext: ext({ deadlineMs: 1 }) });
    h.advance(1_000);
    // Broken: a crash under the intolerant policy; the crashed member is not counted as released.
    h.init(3, { name: "brittle", ext: ext({ crash: "intolerant" }) });
    const gone = h.wait({ name: "brittle" });
    expect(h.server.crash(gone)).toBe("gone");
    // Undone: a crash under the original policy.
    h.init(2, { name: "orig" });
    expect(h.server.crash(h.wait({ name: "orig" }))).toBe("undone");
    // Overflow: three early waiters for a count of two under the late policy.
    h.wait({ name: "full" });
    h.wait({ name: "full" });
    h.wait({ name: "full" });
    h.init(2, { name: "full", ext: ext({ extra: "late" }) });
    // A second extended INIT: invalid.
    h.init(1, { name: "orig", ext: ext() });
    h.server.reset();
    expect(h.server.stats).toEqual({
      requests: 14, releases: 5, released: 10, timeouts: 1, broken: 1, late: 0, overflow: 1, limited: 0,
      invalid: 1, undone: 1, crashed: 2, resets: 1, evicted: 0,
    });
  });

  it("answers each reset with 240 and counts it even with nothing to release", () => {
    const h = new Harness();
    const w = h.wait();
    h.server.reset();
    h.server.reset();
    expect(h.codeOf(w)).toBe(CODE_RESET);
    expect(h.server.stats.resets).toBe(2);
    expect(h.server.stats.releases).toBe(1);
  });
});

describe("sync server: generations and who is late", () => {
  it("tells a request for the generation now waiting that it is on time, and for the one before that it is late", () => {
    const h = new Harness();
    h.init(1);
    h.wait();
    h.wait();
    expect(h.server.inspect("b")?.generation).toBe(2);
    const stale = h.wait({ ext: ext({ generation: 1 }) });
    expect(h.replyTo(stale)).toMatchObject({ code: CODE_LATE, generation: 1 });
    const current = h.wait({ ext: ext({ generation: 2 }) });
    expect(h.codeOf(current)).toBeUndefined();
    expect(h.server.inspect("b")?.counter).toBe(-2);
  });

  it("answers an INIT refused for its count with the generation it would have made", () => {
    const h = new Harness({ countMax: 3 });
    h.init(1);
    h.wait();
    const ok = h.init(3);
    expect(h.codeOf(ok)).toBeUndefined();
    h.server.reset();
    h.init(1, { name: "n" });
    h.wait({ name: "n" });
    expect(h.replyTo(h.init(4, { name: "n" }))).toMatchObject({ code: CODE_LIMIT, generation: 2 });
  });

  it("forgets the oldest released generations beyond releasedKeptMax", () => {
    const h = new Harness({ releasedKeptMax: 2 });
    for (const name of ["x", "y", "z"]) {
      h.init(1, { name, ext: ext({ extra: "late" }) });
      h.wait({ name });
    }
    // x was forgotten: a wait starts its next barrier; y and z are still known to be over.
    expect(h.codeOf(h.wait({ name: "x" }))).toBeUndefined();
    expect(h.codeOf(h.wait({ name: "y" }))).toBe(CODE_LATE);
    expect(h.codeOf(h.wait({ name: "z" }))).toBe(CODE_LATE);
  });

  it("remembers a released generation for exactly releasedKeepUs", () => {
    const h = new Harness({ releasedKeepUs: 1_000 });
    h.nowUs = 500;
    h.init(1, { ext: ext({ extra: "late" }) });
    h.wait();
    h.nowUs = 1_500;
    expect(h.codeOf(h.wait())).toBe(CODE_LATE);
    h.nowUs = 1_501;
    const next = h.wait();
    expect(h.codeOf(next)).toBeUndefined();
    expect(h.server.inspect("b")).toMatchObject({ counter: -1, generation: 1 });
  });
});

describe("sync server: edges of the limits and the rules", () => {
  it("takes an INIT of exactly countMax", () => {
    const h = new Harness({ countMax: 3 });
    expect(h.codeOf(h.init(3))).toBeUndefined();
    expect(h.server.inspect("b")?.counter).toBe(3);
  });

  it("lets an INIT_NOWAIT into a barrier full of waiters (it does not join), but not a waiting INIT", () => {
    const h = new Harness({ waitersPerBarrierMax: 2 });
    const w = [h.wait(), h.wait()];
    expect(h.codeOf(h.init(3))).toBe(CODE_LIMIT);
    const i = h.init(3, { noWait: true });
    expect(h.codeOf(i)).toBe(0);
    const third = h.wait();
    expect(h.codeOf(third)).toBe(CODE_LIMIT);
    expect(w.map((p) => h.codeOf(p))).toEqual([undefined, undefined]);
    expect(h.server.inspect("b")?.counter).toBe(1);
  });

  it("refuses an extended INIT after an original one, and an original INIT after an extended one", () => {
    for (const [first, second] of [[null, ext()], [ext(), null]] as const) {
      const h = new Harness();
      h.init(1, { ext: first });
      const again = h.init(1, { ext: second });
      expect(h.replyTo(again)).toMatchObject({ code: CODE_INVALID, generation: 1 });
      expect(h.server.inspect("b")?.counter).toBe(1);
      expect(h.events.filter((e) => e.kind === "sync.invalid").map((e) => e.fields)).toEqual([{ peer: again, why: "second INIT of b", heldBack: 0 }]);
    }
  });

  it("under the late policy with an INIT of count 0, every early waiter is surplus", () => {
    const h = new Harness();
    const w = h.wait();
    const i = h.init(0, { noWait: true, ext: ext({ extra: "late" }) });
    expect([h.codeOf(w), h.codeOf(i)]).toEqual([CODE_OVERFLOW, 0]);
    expect(h.server.stats.overflow).toBe(1);
  });

  it("judges every crash before the INIT before releasing: the original policy undoes them all first", () => {
    const h = new Harness();
    const [c1, c2] = [h.wait(), h.wait()];
    const alive = h.wait();
    h.server.crash(c1);
    h.server.crash(c2);
    const i = h.init(2);
    // -3 + 2 = -1, then both crashed waiters undone: +1. Not released on the way through 0.
    expect(h.server.inspect("b")?.counter).toBe(1);
    expect([h.codeOf(alive), h.codeOf(i)]).toEqual([undefined, undefined]);
    h.wait();
    expect([h.codeOf(alive), h.codeOf(i)]).toEqual([0, 0]);
  });

  it("releases once the pending crashes are undone and the counter is zero", () => {
    const h = new Harness();
    const c = h.wait();
    h.server.crash(c);
    const w = h.wait();
    const i = h.init(1);
    expect([h.codeOf(w), h.codeOf(i), h.codeOf(c)]).toEqual([0, 0, undefined]);
  });

  it("shortens a deadline when a later INIT asks for an earlier one, never lengthens it", () => {
    const h = new Harness();
    const first = h.init(2, { ext: ext({ deadlineMs: 100 }) });
    h.server.crash(first);
    const second = h.init(2, { ext: ext({ deadlineMs: 10 }) });
    h.advance(10_000);
    expect(h.replyTo(second)).toMatchObject({ code: CODE_TIMEOUT, atUs: 10_000 });
  });

  it("ignores a stray timer: one before the deadline, one for a barrier without a deadline", () => {
    const h = new Harness();
    const i = h.init(2, { name: "d", ext: ext({ deadlineMs: 10 }) });
    const plain = h.init(2, { name: "p" });
    h.nowUs = 9_999;
    for (const id of [1, 2, 3]) h.server.timer(id);
    expect([h.codeOf(i), h.codeOf(plain)]).toEqual([undefined, undefined]);
  });

  it("holds no timer for a barrier released before its deadline", () => {
    const h = new Harness();
    h.init(1, { ext: ext({ deadlineMs: 10 }) });
    expect(h.timers.size).toBe(1);
    h.wait();
    expect(h.timers.size).toBe(0);
  });
});

describe("sync server: members that leave", () => {
  it("drops a barrier whose only waiter withdrew, and keeps one where others still wait", () => {
    const h = new Harness();
    h.server.withdraw(h.wait({ name: "alone" }));
    expect(h.server.inspect("alone")).toBeNull();
    const w1 = h.wait();
    const w2 = h.wait();
    h.server.withdraw(w2);
    expect(h.server.inspect("b")).toMatchObject({ counter: -1, members: 1 });
    const i = h.init(1);
    expect([h.codeOf(w1), h.codeOf(i), h.codeOf(w2)]).toEqual([0, 0, undefined]);
  });

  it("releases a barrier whose last waiter left exactly at the count, though nobody is left to answer", () => {
    const h = new Harness();
    const w = h.wait();
    h.init(0, { noWait: true });
    h.server.withdraw(w);
    expect(h.events.filter((e) => e.kind === "sync.release").map((e) => e.fields)).toEqual([{ name: "b", generation: 1, code: 0, members: 0 }]);
    expect(h.server.inspect("b")).toBeNull();
  });

  it("takes the first member out when it leaves: it gets no reply at the release", () => {
    const h = new Harness();
    h.init(3, { noWait: true });
    const [first, second] = [h.wait(), h.wait()];
    h.server.withdraw(first);
    expect(h.server.inspect("b")).toMatchObject({ counter: 2, members: 1 });
    const rest = [h.wait(), h.wait()];
    expect([second, ...rest].map((p) => h.codeOf(p))).toEqual([0, 0, 0]);
    expect(h.codeOf(first)).toBeUndefined();
  });

  it("ignores a crash, revive, idle or withdraw for a peer it does not know", () => {
    const h = new Harness();
    expect(h.server.crash(42)).toBe("gone");
    h.server.revive(42);
    h.server.idle(42);
    h.server.withdraw(42);
    expect(h.server.generationOf(42)).toBe(0);
    expect(h.replies).toEqual([]);
  });

  it("never hands out peer 0 (a front's 'no peer')", () => {
    const h = new Harness();
    const peers = [h.server.newPeer(), h.server.newPeer(), h.server.newPeer()];
    expect(new Set(peers).size).toBe(3);
    expect(peers.every((p) => p > 0)).toBe(true);
  });
});

describe("sync server: room made by members that have gone, counted exactly", () => {
  it("a member both crashed and idle counts once as gone", () => {
    const h = new Harness({ barriersMax: 1 });
    const w = h.wait({ name: "a" });
    h.server.crash(w);
    h.server.idle(w);
    expect(h.codeOf(h.wait({ name: "c" }))).toBeUndefined();
    expect(h.codeOf(w)).toBe(CODE_LIMIT);
  });

  it("a member that crashed, came back and crashed again counts once", () => {
    const h = new Harness({ barriersMax: 1 });
    const w = h.wait({ name: "a" });
    h.server.crash(w);
    h.server.revive(w);
    h.server.crash(w);
    expect(h.codeOf(h.wait({ name: "c" }))).toBeUndefined();
    expect(h.codeOf(w)).toBe(CODE_LIMIT);
  });

  it("a gone member that leaves takes its mark with it; one that was there does not", () => {
    const h = new Harness({ barriersMax: 1 });
    const [w1, w2, w3] = [h.wait({ name: "a" }), h.wait({ name: "a" }), h.wait({ name: "a" })];
    h.server.idle(w1);
    h.server.withdraw(w1);
    h.server.withdraw(w2);
    expect(h.codeOf(h.wait({ name: "c" }))).toBe(CODE_LIMIT);
    h.server.idle(w3);
    expect(h.codeOf(h.wait({ name: "c" }))).toBeUndefined();
    expect(h.codeOf(w3)).toBe(CODE_LIMIT);
  });

  it("gives a peer back exactly one of its share when one of its barriers goes", () => {
    const h = new Harness({ barriersPerPeerMax: 2 });
    const a = from(h, "p", "a");
    from(h, "p", "c");
    expect(h.codeOf(from(h, "p", "d"))).toBe(CODE_LIMIT);
    from(h, "q", "a", "init");
    expect(h.codeOf(a)).toBe(0);
    expect(h.codeOf(from(h, "p", "d"))).toBeUndefined();
    expect(h.codeOf(from(h, "p", "e"))).toBe(CODE_LIMIT);
  });
});

describe("sampled events: what a summary at stop reports as held back", () => {
  it("lists only the kinds that held events back, with how many", () => {
    let nowUs = 0;
    const out: string[] = [];
    const s = new SampledEvents({ emit: (kind) => void out.push(kind) }, () => nowUs, 100);
    s.emit("x", {});
    s.emit("x", {});
    s.emit("x", {});
    s.emit("y", {});
    expect(s.held()).toEqual({ x: 2 });
    nowUs = 100;
    s.emit("x", {});
    expect(s.held()).toEqual({});
    expect(out).toEqual(["x", "y", "x"]);
  });
});
