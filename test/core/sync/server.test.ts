import { describe, expect, it } from "vitest";
import { CODE_BROKEN, CODE_INVALID, CODE_LATE, CODE_LIMIT, CODE_OVERFLOW, CODE_RESET, CODE_TIMEOUT } from "../../../core/sync/index.js";
import { SAMPLE_EVERY_US, type SyncRequest } from "../../../core/sync/index.js";
import { ext, Harness } from "./support.js";

describe("sync server: the original's semantics", () => {
  it("holds the initializer until its count of waiters arrives, then releases everyone with the highest error", () => {
    const h = new Harness();
    const init = h.init(2, { error: 3 });
    const w1 = h.wait({ error: 7 });
    expect(h.replies).toEqual([]);
    const w2 = h.wait({ error: 1 });
    expect([h.codeOf(init), h.codeOf(w1), h.codeOf(w2)]).toEqual([7, 7, 7]);
    expect(h.server.barrierCount).toBe(0);
  });

  it("accepts waiters before the initializer (the counter goes negative)", () => {
    const h = new Harness();
    const w = [h.wait(), h.wait()];
    expect(h.server.inspect("b")?.counter).toBe(-2);
    const init = h.init(2);
    expect([...w, init].map((p) => h.codeOf(p))).toEqual([0, 0, 0]);
  });

  it("answers an INIT_NOWAIT at once and releases the waiters later", () => {
    const h = new Harness();
    const init = h.init(1, { noWait: true });
    expect(h.codeOf(init)).toBe(0);
    const w = h.wait();
    expect(h.codeOf(w)).toBe(0);
  });

  it("keeps barriers apart by name and frees a name at release", () => {
    const h = new Harness();
    const a = h.init(1, { name: "a" });
    const b = h.init(1, { name: "c" });
    h.wait({ name: "a" });
    expect(h.codeOf(a)).toBe(0);
    expect(h.codeOf(b)).toBeUndefined();
    expect(h.server.inspect("a")).toBeNull();
    const again = h.wait({ name: "a" });
    expect(h.server.inspect("a")?.counter).toBe(-1);
    expect(h.codeOf(again)).toBeUndefined();
  });

  it("undoes a disconnected waiter's contribution, and an initializer's", () => {
    const h = new Harness();
    h.init(2);
    const w = h.wait();
    expect(h.server.crash(w)).toBe("undone");
    expect(h.server.inspect("b")?.counter).toBe(2);
    const h2 = new Harness();
    const i = h2.init(3);
    h2.wait();
    h2.server.crash(i);
    expect(h2.server.inspect("b")?.counter).toBe(-1);
  });

  it("with more early waiters than the count, holds everyone until the counter is exactly zero", () => {
    const h = new Harness();
    const w = [h.wait(), h.wait(), h.wait()];
    const i = h.init(2);
    expect(h.server.inspect("b")?.counter).toBe(-1);
    expect(h.replies).toEqual([]);
    expect(h.server.crash(w[2] as number)).toBe("undone");
    expect([w[0], w[1], i].map((p) => h.codeOf(p as number))).toEqual([0, 0, 0]);
    expect(h.server.barrierCount).toBe(0);
  });

  it("adds the counts of two original INITs, as the original does", () => {
    const h = new Harness();
    h.init(1);
    h.init(1);
    expect(h.server.inspect("b")?.counter).toBe(2);
  });

  it("releases everyone with 240 on reset and clears every barrier", () => {
    const h = new Harness();
    const peers = [h.init(5, { name: "x" }), h.wait({ name: "y" }), h.wait({ name: "x" })];
    h.server.reset();
    expect(peers.map((p) => h.codeOf(p))).toEqual([CODE_RESET, CODE_RESET, CODE_RESET]);
    expect(h.server.barrierCount).toBe(0);
  });

  it("tells a peer its request was invalid without disturbing others", () => {
    const h = new Harness();
    const i = h.init(1);
    const bad = h.server.newPeer();
    h.server.invalid(bad, "garbage");
    expect(h.codeOf(bad)).toBe(CODE_INVALID);
    const w = h.wait();
    expect([h.codeOf(i), h.codeOf(w)]).toEqual([0, 0]);
  });
});

describe("sync server: extensions", () => {
  it("releases everyone with the timeout code at the deadline, not later", () => {
    const h = new Harness();
    const w = h.wait();
    h.nowUs = 1_000;
    const i = h.init(3, { ext: ext({ deadlineMs: 500 }) });
    h.advance(1_000 + 499_999);
    expect(h.replies).toEqual([]);
    h.advance(10_000_000);
    expect(h.replyTo(w)).toMatchObject({ code: CODE_TIMEOUT, generation: 1, atUs: 501_000 });
    expect(h.codeOf(i)).toBe(CODE_TIMEOUT);
  });

  it("harmlessly ignores a deadline timer firing late or twice", () => {
    const h = new Harness();
    h.init(1, { ext: ext({ deadlineMs: 1 }) });
    const w = h.wait();
    h.server.timer(1);
    h.nowUs = 5_000;
    h.server.timer(1);
    expect(h.codeOf(w)).toBe(0);
  });

  it("under a tolerant policy a crashed member still counts", () => {
    const h = new Harness();
    const i = h.init(2, { ext: ext({ crash: "tolerant" }) });
    const w1 = h.wait();
    expect(h.server.crash(w1)).toBe("kept");
    const w2 = h.wait();
    expect([h.codeOf(i), h.codeOf(w2)]).toEqual([0, 0]);
  });

  it("under an intolerant policy a crash breaks the barrier for everyone", () => {
    const h = new Harness();
    const i = h.init(3, { ext: ext({ crash: "intolerant" }) });
    const w1 = h.wait();
    const w2 = h.wait();
    h.server.crash(w1);
    expect([h.codeOf(i), h.codeOf(w2)]).toEqual([CODE_BROKEN, CODE_BROKEN]);
  });

  it("judges a crash before the INIT by the policy the INIT brings", () => {
    for (const [crash, expected] of [["tolerant", 0], ["intolerant", CODE_BROKEN]] as const) {
      const h = new Harness();
      const w1 = h.wait();
      h.server.crash(w1);
      const w2 = h.wait();
      const i = h.init(2, { ext: ext({ crash }) });
      expect([h.codeOf(i), h.codeOf(w2)]).toEqual([expected, expected]);
    }
    const h = new Harness();
    h.server.crash(h.wait());
    const i = h.init(1);
    expect(h.codeOf(i)).toBeUndefined();
    expect(h.server.inspect("b")?.counter).toBe(1);
  });

  it("tells an arrival after release that it is late, under the late policy", () => {
    const h = new Harness();
    h.init(1, { ext: ext({ extra: "late" }) });
    h.wait();
    const extra = h.wait();
    expect(h.replyTo(extra)).toMatchObject({ code: CODE_LATE, generation: 1 });
    const next = h.init(1, { ext: ext({ extra: "late" }) });
    const w = h.wait();
    expect(h.replyTo(w)).toMatchObject({ code: 0, generation: 2 });
    expect(h.replyTo(next)).toMatchObject({ generation: 2 });
  });

  it("under the original's policy an arrival after release starts a new barrier", () => {
    const h = new Harness();
    h.init(1);
    h.wait();
    const extra = h.wait();
    expect(h.codeOf(extra)).toBeUndefined();
    expect(h.server.inspect("b")?.generation).toBe(2);
  });

  it("tells a request for a generation already over that it is late", () => {
    const h = new Harness();
    h.init(1);
    h.wait();
    const stale = h.wait({ ext: ext({ generation: 1 }) });
    expect(h.codeOf(stale)).toBe(CODE_LATE);
    const fresh = h.wait({ ext: ext({ generation: 2 }) });
    expect(h.codeOf(fresh)).toBeUndefined();
  });

  it("turns away the surplus when more waiters came early than the count", () => {
    const h = new Harness();
    const w = [h.wait(), h.wait(), h.wait()];
    const i = h.init(2, { ext: ext({ extra: "late" }) });
    expect([...w, i].map((p) => h.codeOf(p))).toEqual([0, 0, CODE_OVERFLOW, 0]);
  });

  it("refuses a second extended INIT instead of adding the counts", () => {
    const h = new Harness();
    h.init(1, { ext: ext() });
    const second = h.init(1, { ext: ext() });
    expect(h.codeOf(second)).toBe(CODE_INVALID);
    expect(h.server.inspect("b")?.counter).toBe(1);
  });

  it("enforces its named limits with a defined error", () => {
    const h = new Harness({ barriersMax: 2, waitersPerBarrierMax: 2, countMax: 10 });
    h.wait({ name: "a" });
    h.wait({ name: "c" });
    expect(h.codeOf(h.wait({ name: "d" }))).toBe(CODE_LIMIT);
    h.wait({ name: "a" });
    expect(h.codeOf(h.wait({ name: "a" }))).toBe(CODE_LIMIT);
    expect(h.codeOf(h.init(11, { name: "c" }))).toBe(CODE_LIMIT);
    expect(h.server.inspect("a")?.counter).toBe(-2);
  });

  it("a withdrawn waiter's contribution is undone whatever the policy", () => {
    const h = new Harness();
    h.init(2, { ext: ext({ crash: "intolerant" }) });
    const w = h.wait();
    h.server.withdraw(w);
    expect(h.server.inspect("b")?.counter).toBe(2);
    expect(h.replies).toEqual([]);
  });
});

describe("sync server: a deadline is never extended", () => {
  it("keeps the deadline of a barrier whose every member was undone, for those who come back", () => {
    const h = new Harness();
    const i = h.init(2, { ext: ext({ deadlineMs: 100 }) });
    h.server.crash(i);
    expect(h.server.inspect("b")).not.toBeNull();
    h.nowUs = 50_000;
    const again = h.init(2, { ext: ext({ deadlineMs: 100 }) });
    h.advance(100_000);
    expect(h.replyTo(again)).toMatchObject({ code: CODE_TIMEOUT, atUs: 100_000 });
  });
});

describe("sync server: what one peer may hold, and room made by peers that have gone", () => {
  const from = (h: Harness, origin: string, name: string, type: "init" | "wait" = "wait", more: Partial<SyncRequest> = {}): number => {
    const peer = h.server.newPeer();
    h.server.request(peer, { name, noWait: false, count: type === "init" ? 1 : 0, error: 0, ext: null, type, ...more }, origin);
    return peer;
  };

  it("refuses a peer's barrier beyond its share and serves the others", () => {
    const h = new Harness({ barriersPerPeerMax: 3 });
    for (const n of ["a", "b", "c"]) from(h, "flood", n);
    expect(h.codeOf(from(h, "flood", "d"))).toBe(CODE_LIMIT);
    // Joining a barrier that exists makes none: still allowed.
    expect(h.codeOf(from(h, "flood", "a"))).toBeUndefined();
    const w = from(h, "good", "d");
    const i = from(h, "good", "d", "init");
    expect([h.codeOf(w), h.codeOf(i)]).toEqual([0, 0]);
    expect(h.server.stats.limited).toBe(1);
  });

  it("gives a peer its share back when its barriers are released", () => {
    const h = new Harness({ barriersPerPeerMax: 1 });
    const w = from(h, "p", "a");
    from(h, "q", "a", "init");
    expect(h.codeOf(w)).toBe(0);
    expect(h.codeOf(from(h, "p", "b"))).toBeUndefined();
  });

  it("makes room in a full table by dropping a barrier whose members have all gone, answering them with 245", () => {
    const h = new Harness({ barriersMax: 3 });
    const gone = [from(h, "1", "a"), from(h, "2", "b")];
    const here = from(h, "3", "c");
    expect(h.codeOf(from(h, "4", "d"))).toBe(CODE_LIMIT);
    h.server.idle(gone[0] as number);
    expect(h.server.crash(gone[1] as number)).toBe("kept");
    const d = from(h, "4", "d");
    expect(h.codeOf(d)).toBeUndefined();
    expect(h.codeOf(gone[0] as number)).toBe(CODE_LIMIT);
    expect(h.server.stats.evicted).toBe(1);
    const e = from(h, "5", "e");
    expect(h.codeOf(e)).toBeUndefined();
    expect(h.codeOf(gone[1] as number)).toBe(CODE_LIMIT);
    // Nobody else has gone: the table is full for good reason.
    expect(h.codeOf(from(h, "6", "f"))).toBe(CODE_LIMIT);
    expect(h.codeOf(here)).toBeUndefined();
  });

  it("makes room by dropping a barrier only an INIT_NOWAIT made, leaving every wanted one", () => {
    const h = new Harness({ barriersMax: 200 });
    const names = Array.from({ length: 199 }, (_, i) => `w${i}`);
    for (const n of names) from(h, n, n);
    from(h, "init", "lonely", "init", { noWait: true });
    expect(h.codeOf(from(h, "x", "new"))).toBeUndefined();
    expect(h.server.inspect("lonely")).toBeNull();
    expect(names.every((n) => h.server.inspect(n) !== null)).toBe(true);
    expect(h.codeOf(from(h, "x", "newer"))).toBe(CODE_LIMIT);
  });

  it("does not make room from a barrier whose gone member came back, or that a new member joined", () => {
    const h = new Harness({ barriersMax: 2 });
    const a = from(h, "1", "a");
    const b = from(h, "2", "b");
    h.server.crash(a);
    h.server.revive(a);
    h.server.idle(b);
    from(h, "3", "b");
    expect(h.codeOf(from(h, "4", "c"))).toBe(CODE_LIMIT);
    expect(h.server.stats.evicted).toBe(0);
  });

  it("samples refusals: one event per interval, with how many were held back", () => {
    const h = new Harness({ barriersPerPeerMax: 1 });
    from(h, "flood", "a");
    for (let i = 0; i < 1000; i++) from(h, "flood", `n${i}`);
    const limited = (): { kind: string; fields: Record<string, unknown> }[] => h.events.filter((e) => e.kind === "sync.limited");
    expect(limited()).toHaveLength(1);
    h.advance(SAMPLE_EVERY_US);
    from(h, "flood", "late");
    expect(limited()).toHaveLength(2);
    expect(limited()[1]?.fields["heldBack"]).toBe(999);
    expect(h.server.stats.limited).toBe(1001);
  });
});
