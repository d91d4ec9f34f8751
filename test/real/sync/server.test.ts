import { afterEach, describe, expect, it } from "vitest";
import { CODE_INVALID, encodeRequest, type SyncRequest } from "../../../core/sync/index.js";
import type { RunningSyncServer } from "../../../real/sync/server.js";
import { capture, hexBytes, rawTcp, startServer, until } from "./support.js";

let server: (RunningSyncServer & { events: { kind: string }[] }) | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

const req = (r: Partial<SyncRequest> & { type: "init" | "wait" }): Buffer =>
  Buffer.from(encodeRequest({ name: "b", noWait: false, count: 0, error: 0, ext: null, ...r }));

describe("syncd over TCP answers the original client's bytes as the original server did", () => {
  it("holds connection A's INIT until B's WAIT, then sends both the highest error and closes", async () => {
    server = await startServer();
    const s = server;
    const a = rawTcp(s.tcpPort!, hexBytes(capture("A", "client->server").hex));
    await until(() => s.daemon.server.inspect("x") !== null);
    await new Promise((r) => setTimeout(r, 50));
    expect(a.received().length).toBe(0);
    const b = rawTcp(s.tcpPort!, hexBytes(capture("B", "client->server").hex));
    expect((await a.done).toString("hex")).toBe(capture("A", "server->client").hex);
    expect((await b.done).toString("hex")).toBe(capture("B", "server->client").hex);
  });

  it("answers INIT_NOWAIT at once with 0, then releases the waiter with 0", async () => {
    server = await startServer();
    const c = rawTcp(server.tcpPort!, hexBytes(capture("C", "client->server").hex));
    expect((await c.done).toString("hex")).toBe(capture("C", "server->client").hex);
    const d = rawTcp(server.tcpPort!, hexBytes(capture("D", "client->server").hex));
    expect((await d.done).toString("hex")).toBe(capture("D", "server->client").hex);
  });

  it("undoes the contribution of a waiter whose connection closes before release", async () => {
    server = await startServer();
    const s = server;
    const gone = rawTcp(s.tcpPort!, req({ type: "wait" }));
    await until(() => s.daemon.server.inspect("b")?.counter === -1);
    gone.close();
    await until(() => s.events.some((e) => e.kind === "sync.crash"));
    const init = rawTcp(s.tcpPort!, req({ type: "init", count: 1 }));
    await until(() => s.daemon.server.inspect("b")?.counter === 1);
    const w = rawTcp(s.tcpPort!, req({ type: "wait" }));
    expect([...(await init.done)]).toEqual([0, 0, 0, 0]);
    expect([...(await w.done)]).toEqual([0, 0, 0, 0]);
  });

  it("releases everyone with 240 on reset", async () => {
    server = await startServer();
    const s = server;
    const w = rawTcp(s.tcpPort!, req({ type: "wait" }));
    await until(() => s.daemon.server.inspect("b") !== null);
    s.reset();
    expect((await w.done).readInt32LE(0)).toBe(240);
  });
});

describe("syncd refuses bad input with a clear error to that client only", () => {
  const bad: [string, () => Buffer][] = [
    ["a name of 64 bytes", () => Buffer.concat([Buffer.alloc(64, 0x61), req({ type: "wait" }).subarray(64)])],
    ["a negative count", () => { const b = req({ type: "init", count: 1 }); b.writeInt32LE(-5, 68); return b; }],
    ["an error of 240", () => { const b = req({ type: "wait" }); b.writeInt32LE(240, 72); return b; }],
    ["an unknown request code (the captured code 3)", () => hexBytes(capture("E", "client->server").hex)],
    ["76 garbage bytes", () => Buffer.from(Array.from({ length: 76 }, (_, i) => (i * 37 + 11) & 255))],
  ];

  for (const [what, bytes] of bad) {
    it(`answers ${what} with 246 while a barrier in progress completes`, async () => {
      server = await startServer();
      const s = server;
      const init = rawTcp(s.tcpPort!, req({ type: "init", count: 1 }));
      await until(() => s.daemon.server.inspect("b") !== null);
      const reply = await rawTcp(s.tcpPort!, bytes()).done;
      expect(reply.readInt32LE(0)).toBe(CODE_INVALID);
      expect(s.daemon.server.inspect("b")?.counter).toBe(1);
      const w = rawTcp(s.tcpPort!, req({ type: "wait" }));
      expect([...(await init.done), ...(await w.done)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    });
  }

  it("closes a connection that sends part of a request and stops, without a reply", async () => {
    server = await startServer({ requestReadTimeoutMs: 100 });
    const s = server;
    const partial = rawTcp(s.tcpPort!, Buffer.from("garbage"));
    expect((await partial.done).length).toBe(0);
    expect(s.tcpStats.incomplete).toBe(1);
  });

  it("refuses connections beyond its limit and keeps serving the others", async () => {
    server = await startServer({ connectionsMax: 2, connectionsPerPeerMax: 2 });
    const s = server;
    const held = [rawTcp(s.tcpPort!, req({ type: "wait" })), rawTcp(s.tcpPort!, req({ type: "wait" }))];
    await until(() => s.daemon.server.inspect("b")?.counter === -2);
    const refused = rawTcp(s.tcpPort!, req({ type: "wait" }));
    expect((await refused.done).length).toBe(0);
    expect(s.tcpStats.refused).toBe(1);
    held.forEach((h) => h.close());
  });
});
