import { describe, expect, it } from "vitest";
import { createRng, type Env } from "../../../core/engine/index.js";
import {
  CLIENT_DEFAULTS,
  CODE_TIMEOUT,
  decodeRequest,
  encodeReply,
  REPLY_PENDING,
  SyncClient,
  type SyncClientOptions,
  type SyncOutcome,
  type SyncRequest,
} from "../../../core/sync/index.js";

const SERVER = 9;
const RETRANSMIT = 1;
const GIVE_UP = 2;

function client(more: Partial<SyncClientOptions> = {}, seed = 3, callback = true) {
  let nowUs = 0;
  const sent: SyncRequest[] = [];
  const timers = new Map<number, number>();
  const events: { kind: string; fields: Record<string, unknown> }[] = [];
  const env: Env = {
    now: () => nowUs,
    rng: createRng(seed),
    net: {
      self: 1, join: () => {}, leave: () => {},
      send: (to, _port, p) => {
        expect(to).toBe(SERVER);
        const d = decodeRequest(p as Uint8Array);
        if (!d.ok) throw new Error(d.error);
        sent.push(d.value);
      },
    },
    timers: { set: (id, at) => void timers.set(id, at), cancel: (id) => void timers.delete(id) },
    events: { emit: (kind, fields) => void events.push({ kind, fields: { ...fields } }) },
  };
  const outcomes: SyncOutcome[] = [];
  const options: SyncClientOptions = { ...CLIENT_DEFAULTS, server: SERVER, port: 1, type: "wait", name: "b", ...more };
  if (callback) options.onDone = (o) => void outcomes.push(o);
  const c = new SyncClient(env, options);
  c.start();
  /** Fires the earliest timer, moving the clock to it. */
  const fire = (): number => {
    const [id, at] = [...timers].sort((a, b) => a[1] - b[1])[0] as [number, number];
    timers.delete(id);
    nowUs = at;
    c.timer(id);
    return id;
  };
  const reply = (code: number, epoch: number | null, requestId = c.requestId, from = SERVER): void =>
    c.receive(from, 1, encodeReply({ code, ext: epoch === null ? null : { requestId, generation: 4, epoch } }));
  return { c, sent, timers, outcomes, events, fire, reply, now: () => nowUs };
}

describe("the UDP sync client's retransmissions", () => {
  it("sends its request at once, then again after 250 ms ±20%, doubling up to 4 s ±20%", () => {
    const t = client();
    expect(t.sent).toHaveLength(1);
    expect(t.sent[0]?.ext).toMatchObject({ cancel: false, epochKnown: false, requestId: t.c.requestId });
    const gaps: number[] = [];
    for (let i = 0; i < 8; i++) {
      const before = t.now();
      const at = t.timers.get(RETRANSMIT) as number;
      gaps.push(at - before);
      expect(t.fire()).toBe(RETRANSMIT);
    }
    const nominal = [250_000, 500_000, 1_000_000, 2_000_000, 4_000_000, 4_000_000, 4_000_000, 4_000_000];
    gaps.forEach((g, i) => {
      expect(g).toBeGreaterThanOrEqual(nominal[i]! * 0.8);
      expect(g).toBeLessThanOrEqual(nominal[i]! * 1.2);
    });
    expect(t.sent).toHaveLength(9);
    expect(t.c.sends).toBe(9);
    expect(t.sent.every((r) => r.ext?.cancel === false)).toBe(true);
  });

  it("spreads the first retry over the whole ±20% across many clients", () => {
    const gaps = Array.from({ length: 200 }, (_, seed) => client({}, seed + 1).timers.get(RETRANSMIT) as number);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(200_000);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(300_000);
    expect(Math.max(...gaps) - Math.min(...gaps)).toBeGreaterThan(80_000);
  });

  it("tells the server it has the epoch once a reply brought it", () => {
    const t = client();
    t.reply(REPLY_PENDING, 5);
    t.fire();
    expect(t.sent.map((r) => r.ext?.epochKnown)).toEqual([false, true]);
  });

  it("sends an original request once, with no timer, when not extended", () => {
    const t = client({ extended: false });
    expect(t.sent).toEqual([{ type: "wait", name: "b", noWait: false, count: 0, error: 0, ext: null }]);
    expect(t.timers.size).toBe(0);
    t.reply(7, null);
    expect(t.outcomes).toEqual([{ code: 7, generation: 0, atUs: 0, source: "server" }]);
  });

  it("an initializer sends its count and waits by default; a waiter sends no count", () => {
    expect(client({ type: "init", count: 5 }).sent[0]).toMatchObject({ type: "init", count: 5, noWait: false });
    expect(client({ type: "wait", count: 5 }).sent[0]).toMatchObject({ type: "wait", count: 0, noWait: false });
    expect(client({ type: "wait", count: 5 }).c.request(false)).toMatchObject({ type: "wait", count: 0 });
  });
});

describe("the UDP sync client's own timeout", () => {
  it("gives up at its timeout with 241, withdraws with two cancels, and ignores its timers after", () => {
    const t = client({ timeoutUs: 5_000_000 });
    expect(t.timers.get(GIVE_UP)).toBe(5_000_000);
    while (t.outcomes.length === 0) t.fire();
    expect(t.now()).toBe(5_000_000);
    expect(t.outcomes).toEqual([{ code: CODE_TIMEOUT, generation: 0, atUs: 5_000_000, source: "local" }]);
    expect(t.sent.slice(-2).map((r) => r.ext?.cancel)).toEqual([true, true]);
    expect(t.sent.filter((r) => r.ext?.cancel === true)).toHaveLength(2);
    expect(t.timers.size).toBe(0);
    const sends = t.sent.length;
    t.c.timer(RETRANSMIT);
    t.c.timer(GIVE_UP);
    expect(t.sent).toHaveLength(sends);
    // A server's answer after we gave up is not a conflict: we did not take its outcome.
    t.reply(0, 5);
    expect(t.c.conflicts).toBe(0);
    expect(t.outcomes).toHaveLength(1);
  });

  it("sends no cancel when giving up on an original request (there is nothing to cancel by id)", () => {
    const t = client({ extended: false, timeoutUs: 1_000 });
    t.fire();
    expect(t.sent).toHaveLength(1);
    expect(t.outcomes).toMatchObject([{ code: CODE_TIMEOUT, source: "local" }]);
  });

  it("has no give-up timer without a timeout", () => {
    const t = client({ timeoutUs: 0 });
    expect([...t.timers.keys()]).toEqual([RETRANSMIT]);
  });
});

describe("the UDP sync client's replies", () => {
  it("ignores a reply from another address, for another request id, or not bytes", () => {
    const t = client();
    t.reply(0, 5, t.c.requestId, 8);
    t.reply(0, 5, t.c.requestId + 1);
    t.c.receive(SERVER, 1, "0000" as unknown as Uint8Array);
    expect(t.outcomes).toEqual([]);
    expect(t.c.epoch).toBeNull();
  });

  it("reports a reply it cannot read and keeps waiting", () => {
    const t = client();
    t.c.receive(SERVER, 1, new Uint8Array(3));
    expect(t.events).toEqual([{ kind: "sync.bad-reply", fields: { why: "a reply is 4 or 20 bytes, got 3" } }]);
    expect(t.outcomes).toEqual([]);
  });

  it("counts the same outcome twice as no conflict", () => {
    const t = client();
    t.reply(0, 5);
    t.reply(0, 5);
    expect(t.c.conflicts).toBe(0);
    expect(t.outcomes).toEqual([{ code: 0, generation: 4, atUs: 0, source: "server" }]);
  });

  it("logs a server restart with both epochs", () => {
    const t = client();
    t.reply(REPLY_PENDING, 5);
    t.reply(REPLY_PENDING, 6);
    expect(t.events).toEqual([{ kind: "sync.server-restarted", fields: { name: "b", epochWas: 5, epoch: 6 } }]);
  });

  it("finishes without an onDone callback", () => {
    const t = client({}, 3, false);
    t.reply(0, 5);
    expect(t.c.outcome).toMatchObject({ code: 0, source: "server" });
  });
});
