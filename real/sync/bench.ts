import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import { CLIENT_DEFAULTS, encodeRequest, SyncClient } from "../../core/sync/index.js";
import { freshSeed, ipv4ToAddress, realEnv, UdpNet } from "../runtime/index.js";
import { startSyncServer } from "./server.js";

export interface SyncBenchOptions {
  waiters: number;
  transport: "tcp" | "udp";
  /** Connections opened at once while waiters arrive (TCP). */
  concurrency: number;
  /** UDP sockets the waiters share (request ids tell them apart). */
  udpSockets: number;
}

export interface SyncBenchResult {
  waiters: number;
  transport: "tcp" | "udp";
  /** From the last arrival (the INIT that reaches zero) to every waiter holding its reply. */
  releaseMs: number;
  /** Waiters the server took in, per second, while they arrived. */
  arrivalsPerSec: number;
  arrivalMs: number;
  released: number;
  /** UDP: datagrams the clients sent beyond one each (retransmissions). */
  retransmissions: number;
  openFilesLimit: number | null;
}

/** The process's soft limit on open files, from /proc (Linux); null where unknown. */
export function openFilesLimit(): number | null {
  try {
    const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync("/proc/self/limits", "utf8"));
    return m === null ? null : m[1] === "unlimited" ? Infinity : Number(m[1]);
  } catch {
    return null;
  }
}

/** File descriptors one TCP waiter costs on loopback (its socket and the server's), plus headroom. */
export function fdsNeeded(waiters: number): number {
  return 2 * waiters + 64;
}

const NAME = "bench";

export async function runSyncBench(o: SyncBenchOptions): Promise<SyncBenchResult> {
  let releasedAt = 0;
  const server = await startSyncServer({
    port: 0,
    host: "127.0.0.1",
    tcp: o.transport === "tcp",
    udp: o.transport === "udp",
    events: { emit: (kind) => void (kind === "sync.release" && (releasedAt = performance.now())) },
  });
  try {
    const run = o.transport === "tcp" ? benchTcp : benchUdp;
    const port = (o.transport === "tcp" ? server.tcpPort : server.udpPort) as number;
    const r = await run(o, port, () => server.daemon.server.inspect(NAME)?.counter ?? 0);
    return {
      waiters: o.waiters,
      transport: o.transport,
      releaseMs: round(r.lastReplyAt - releasedAt),
      arrivalsPerSec: Math.round(o.waiters / Math.max((r.arrivedAt - r.startedAt) / 1000, 1e-6)),
      arrivalMs: round(r.arrivedAt - r.startedAt),
      released: r.released,
      retransmissions: r.retransmissions,
      openFilesLimit: openFilesLimit(),
    };
  } finally {
    await server.close();
  }
}

interface Timing {
  startedAt: number;
  arrivedAt: number;
  lastReplyAt: number;
  released: number;
  retransmissions: number;
}

/** Resolves when the barrier's counter shows every waiter arrived. */
function arrivals(counter: () => number, waiters: number): Promise<number> {
  return new Promise((resolve) => {
    const poll = (): void => {
      if (counter() <= -waiters) resolve(performance.now());
      else setImmediate(poll);
    };
    poll();
  });
}

async function benchTcp(o: SyncBenchOptions, port: number, counter: () => number): Promise<Timing> {
  const wait = encodeRequest({ type: "wait", name: NAME, noWait: false, count: 0, error: 0, ext: null });
  let released = 0;
  let lastReplyAt = 0;
  let resolveAll: () => void = () => {};
  const allReleased = new Promise<void>((r) => (resolveAll = r));
  const startedAt = performance.now();
  let next = 0;
  const open = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port, noDelay: true });
      socket.on("connect", () => {
        socket.write(wait);
        resolve();
      });
      socket.on("error", reject);
      socket.on("data", () => {});
      socket.on("end", () => {
        released++;
        lastReplyAt = performance.now();
        if (released === o.waiters) resolveAll();
      });
    });
  const lanes = Array.from({ length: Math.min(o.concurrency, o.waiters) }, async () => {
    while (next < o.waiters) {
      next++;
      await open();
    }
  });
  await Promise.all(lanes);
  const arrivedAt = await arrivals(counter, o.waiters);
  const init = connect({ host: "127.0.0.1", port, noDelay: true });
  init.on("connect", () => init.write(encodeRequest({ type: "init", name: NAME, noWait: true, count: o.waiters, error: 0, ext: null })));
  init.on("data", () => {});
  init.on("error", () => {});
  await allReleased;
  return { startedAt, arrivedAt, lastReplyAt, released, retransmissions: 0 };
}

async function benchUdp(o: SyncBenchOptions, port: number, counter: () => number): Promise<Timing> {
  const server = ipv4ToAddress("127.0.0.1") as number;
  const nets = await Promise.all(
    Array.from({ length: Math.min(o.udpSockets, o.waiters) }, async () => {
      const net = new UdpNet(server);
      await net.bind(0, "127.0.0.1");
      return net;
    }),
  );
  /** Per socket, by request id: ids are random, so they are told apart only within one socket. */
  const clients = new Map<UdpNet, Map<number, SyncClient>>(nets.map((n) => [n, new Map()]));
  let released = 0;
  let lastReplyAt = 0;
  let resolveAll: () => void = () => {};
  const allReleased = new Promise<void>((r) => (resolveAll = r));
  const timers: { close(): void }[] = [];
  const make = (net: UdpNet, type: "init" | "wait", count: number, noWait: boolean): SyncClient => {
    let client: SyncClient | null = null;
    const { env, timers: t } = realEnv(net, { emit: () => {} }, freshSeed(), () => client);
    timers.push(t);
    client = new SyncClient(env, {
      ...CLIENT_DEFAULTS, server, port, type, name: NAME, count, noWait,
      onDone: () => {
        if (type === "init") return;
        released++;
        lastReplyAt = performance.now();
        if (released === o.waiters) resolveAll();
      },
    });
    return client;
  };
  for (const net of nets) {
    net.receive = (from, fromPort, bytes) => {
      const id = bytes.length >= 12 ? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true) : 0;
      clients.get(net)?.get(id)?.receive(from, fromPort, bytes);
    };
  }
  const startedAt = performance.now();
  const waiters: SyncClient[] = [];
  for (let i = 0; i < o.waiters; i++) {
    const net = nets[i % nets.length] as UdpNet;
    const c = make(net, "wait", 0, false);
    c.start();
    clients.get(net)?.set(c.requestId, c);
    waiters.push(c);
  }
  const arrivedAt = await arrivals(counter, o.waiters);
  const init = make(nets[0] as UdpNet, "init", o.waiters, true);
  init.start();
  clients.get(nets[0] as UdpNet)?.set(init.requestId, init);
  await allReleased;
  for (const t of timers) t.close();
  for (const net of nets) net.close();
  const retransmissions = waiters.reduce((n, c) => n + c.sends - 1, 0);
  return { startedAt, arrivedAt, lastReplyAt, released, retransmissions };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
