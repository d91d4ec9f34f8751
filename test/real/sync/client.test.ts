import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createRng, type Net } from "../../../core/engine/index.js";
import { CLIENT_DEFAULTS, CODE_LATE, CODE_RESET, CODE_TIMEOUT, SyncClient } from "../../../core/sync/index.js";
import { syncCall, type SyncCall } from "../../../real/sync/client.js";
import { ipv4ToAddress, realEnv, UdpNet } from "../../../real/runtime/index.js";
import type { RunningSyncServer } from "../../../real/sync/server.js";
import { captures, startServer, until } from "./support.js";
import { startSyncd } from "./syncd-process.js";
import { dnsSkipReason, titled } from "../../support/probes.js";

const noDns = await dnsSkipReason();

let server: RunningSyncServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

const call = (port: number, more: Partial<SyncCall> & Pick<SyncCall, "request">): Promise<{ exit: number; generation: number | null }> =>
  syncCall({ host: "127.0.0.1", port, transport: "tcp", ext: null, timeoutMs: 0, ...more });
const wait = { type: "wait" as const, name: "b", noWait: false, count: 0, error: 0 };
const init = (count: number, more = {}) => ({ type: "init" as const, name: "b", noWait: false, count, error: 0, ...more });

describe("testbed's sync client against our server", () => {
  for (const transport of ["tcp", "udp"] as const) {
    it(`releases an initializer and two waiters over ${transport} with the highest error`, async () => {
      server = await startServer({ udp: true });
      const port = (transport === "tcp" ? server.tcpPort : server.udpPort)!;
      const ext = transport === "udp" ? { deadlineMs: 0, generation: 0, crash: "original" as const, extra: "new" as const } : null;
      const results = await Promise.all([
        call(port, { transport, ext, request: init(2) }),
        call(port, { transport, ext, request: { ...wait, error: 4 } }),
        call(port, { transport, ext, request: wait }),
      ]);
      expect(results.map((r) => r.exit)).toEqual([4, 4, 4]);
    });

    it(`times out everyone at the initializer's deadline over ${transport}`, async () => {
      server = await startServer({ udp: true });
      const port = (transport === "tcp" ? server.tcpPort : server.udpPort)!;
      const ext = { deadlineMs: 300, generation: 0, crash: "original" as const, extra: "late" as const };
      const started = Date.now();
      const results = await Promise.all([call(port, { transport, ext, request: init(5) }), call(port, { transport, ext: { ...ext, deadlineMs: 0 }, request: wait })]);
      expect(results.map((r) => r.exit)).toEqual([CODE_TIMEOUT, CODE_TIMEOUT]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      const late = await call(port, { transport, ext: { ...ext, deadlineMs: 0 }, request: wait });
      expect(late).toEqual({ exit: CODE_LATE, generation: 1, how: "reply", why: null });
    });
  }

  it("gives up locally when the server never answers and says so with 241", async () => {
    server = await startServer({ udp: true });
    const r = await call(server.tcpPort!, { request: wait, timeoutMs: 200 });
    expect(r.exit).toBe(CODE_TIMEOUT);
    const s = server;
    await until(() => s.daemon.server.inspect("b") === null || s.daemon.server.inspect("b")?.counter === -1);
  });

  it.skipIf(noDns !== null)(titled("reports 68 for a name that does not resolve", noDns), async () => {
    expect((await call(1, { host: "no-such-host.invalid", request: wait })).exit).toBe(68);
  });

  it("reports 240 on reset", async () => {
    server = await startServer({ udp: true });
    const s = server;
    const pending = call(s.udpPort!, { transport: "udp", ext: { deadlineMs: 0, generation: 0, crash: "original", extra: "new" }, request: wait });
    await until(() => s.daemon.server.inspect("b") !== null);
    s.reset();
    expect((await pending).exit).toBe(CODE_RESET);
  });
});

describe("a UDP client whose server restarts", () => {
  it("fails with 240 and says why instead of waiting for ever (no deadline)", async () => {
    // A server that dies without answering (SIGKILL), then a new one on the same port that never heard of the barrier.
    const first = await startSyncd(["--no-tcp"]);
    const port = first.udpPort as number;
    let reached: () => void = () => {};
    const answered = new Promise<void>((r) => (reached = r));
    const pending = syncCall({
      host: "127.0.0.1", port, transport: "udp", timeoutMs: 0, request: wait,
      ext: { deadlineMs: 0, generation: 0, crash: "original", extra: "new" },
      notify: (n) => void (n.kind === "reached" && reached()),
    });
    await answered;
    expect(await first.stop("SIGKILL")).toBe("SIGKILL");
    const second = await startSyncd(["--no-tcp", "-p", String(port)]);
    try {
      const r = await pending;
      expect(r).toMatchObject({ exit: CODE_RESET, how: "restart" });
      expect(r.why).toMatch(/restarted and forgot the barrier/);
      // It learnt of the restart from the new server's answer to its retransmission.
      await second.waitFor(/sync\.wait name=b /);
    } finally {
      await second.stop();
    }
  });
});

describe("testbed's sync client against the original server's behaviour", () => {
  it("writes the original client's exact bytes and exits with the echoed reply, as captured", async () => {
    const seen: Buffer[] = [];
    const mock = createServer((socket) => {
      socket.once("data", (b: Buffer) => {
        seen.push(b);
        const reply = Buffer.alloc(4);
        reply.writeInt32LE(b.readInt32LE(72), 0);
        socket.end(reply);
      });
    });
    await new Promise<void>((r) => mock.listen(0, "127.0.0.1", () => r()));
    const port = (mock.address() as { port: number }).port;
    const r = await call(port, { request: { ...init(3), name: "b1", error: 5 } });
    mock.close();
    expect(r.exit).toBe(5);
    const a = captures.find((c) => c.description.startsWith("(a)") && c.direction === "client->server")!;
    expect(seen[0]?.toString("hex")).toBe(a.hex);
  });
});

describe("the UDP client under loss", () => {
  it("is released exactly once per waiter when 30% of its datagrams are dropped both ways", async () => {
    server = await startServer({ udp: true, daemon: { leaseUs: 5_000_000 } });
    const port = server.udpPort!;
    const rng = createRng(42);
    const nets: UdpNet[] = [];
    const outcomes: number[] = [];
    const clients: SyncClient[] = [];
    const done = new Promise<void>((resolve) => {
      for (let i = 0; i < 21; i++) {
        const net = new UdpNet(0);
        nets.push(net);
        const lossy: Net = { self: 0, join: () => {}, leave: () => {}, send: (to, p, payload) => void (rng.chance(0.3) || net.send(to, p, payload)) };
        let client: SyncClient | null = null;
        const { env } = realEnv(lossy, { emit: () => {} }, `c${i}`, () => client);
        client = new SyncClient(env, {
          ...CLIENT_DEFAULTS, server: ipv4ToAddress("127.0.0.1")!, port, retransmitUs: 20_000, retransmitMaxUs: 100_000,
          type: i === 0 ? "init" : "wait", name: "lossy", count: i === 0 ? 20 : 0,
          onDone: (o) => {
            outcomes.push(o.code);
            if (outcomes.length === 21) resolve();
          },
        });
        const c = client;
        net.receive = (from, fromPort, bytes) => void (rng.chance(0.3) || c.receive(from, fromPort, bytes));
        clients.push(c);
      }
    });
    await Promise.all(nets.map((n) => n.bind(0, "127.0.0.1")));
    clients.forEach((c) => c.start());
    await done;
    nets.forEach((n) => n.close());
    expect(outcomes).toEqual(new Array(21).fill(0));
    expect(clients.every((c) => c.conflicts === 0)).toBe(true);
    expect(server.daemon.stats.duplicates).toBeGreaterThan(0);
  });
});
