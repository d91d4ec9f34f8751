import { describe, expect, it } from "vitest";
import { createRng, type Env } from "../../../core/engine/index.js";
import { CLIENT_DEFAULTS, CODE_RESET, decodeRequest, encodeReply, REPLY_PENDING, SyncClient, type SyncOutcome } from "../../../core/sync/index.js";

const SERVER = 9;

function client() {
  const sent: Uint8Array[] = [];
  const timers = new Map<number, number>();
  const env: Env = {
    now: () => 0,
    rng: createRng(3),
    net: { self: 1, join: () => {}, leave: () => {}, send: (_to, _port, p) => void sent.push(p as Uint8Array) },
    timers: { set: (id, at) => void timers.set(id, at), cancel: (id) => void timers.delete(id) },
    events: { emit: () => {} },
  };
  const outcomes: SyncOutcome[] = [];
  const c = new SyncClient(env, { ...CLIENT_DEFAULTS, server: SERVER, port: 1, type: "wait", name: "b", onDone: (o) => void outcomes.push(o) });
  c.start();
  const reply = (code: number, epoch: number): void =>
    c.receive(SERVER, 1, encodeReply({ code, ext: { requestId: c.requestId, generation: 1, epoch } }));
  return { c, sent, timers, outcomes, reply };
}

describe("the UDP sync client and the server's epoch", () => {
  it("keeps waiting on pending replies and ends on the outcome", () => {
    const t = client();
    t.reply(REPLY_PENDING, 77);
    t.reply(REPLY_PENDING, 77);
    expect(t.outcomes).toEqual([]);
    expect(t.c.epoch).toBe(77);
    expect(t.c.pendingReplies).toBe(2);
    t.reply(0, 77);
    expect(t.outcomes).toMatchObject([{ code: 0, generation: 1, source: "server" }]);
  });

  it("fails with 240 when a reply comes from another epoch (the server restarted), and withdraws from the new one", () => {
    const t = client();
    t.reply(REPLY_PENDING, 77);
    t.reply(REPLY_PENDING, 78);
    expect(t.outcomes).toMatchObject([{ code: CODE_RESET, source: "restart" }]);
    const cancels = t.sent.slice(1).map((b) => decodeRequest(b)).map((d) => d.ok && d.value.ext?.cancel);
    expect(cancels).toEqual([true, true]);
    expect(t.timers.size).toBe(0);
  });

  it("takes a final reply from another epoch as a restart too, not as the outcome", () => {
    const t = client();
    t.reply(REPLY_PENDING, 5);
    t.reply(0, 6);
    expect(t.outcomes).toMatchObject([{ code: CODE_RESET, source: "restart" }]);
  });

  it("does not count a pending reply after the outcome as a conflict", () => {
    const t = client();
    t.reply(0, 5);
    t.reply(REPLY_PENDING, 5);
    expect(t.c.conflicts).toBe(0);
    t.reply(3, 5);
    expect(t.c.conflicts).toBe(1);
  });
});
