import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import { CLIENT_DEFAULTS, CODE_OK, decodeReply, encodeRequest, SyncClient } from "../../core/sync/index.js";
import { freshSeed, ipv4ToAddress, openFilesLimit, realEnv, UdpNet } from "../runtime/index.js";
import { startSyncServer, type SyncServerConfig } from "./server.js";

export { openFilesLimit } from "../runtime/index.js";

export interface SyncBenchOptions {
  waiters: number;
  transport: "tcp" | "udp";
  /** Connections opened at once while waiters arrive (TCP). */
  concurrency: number;
  /** UDP sockets the waiters share (request ids tell them apart). */
  udpSockets: number;
  /** Changes to the server's configuration (tests make it refuse some waiters, to see them counted). */
  server?: Partial<SyncServerConfig>;
}

export interface SyncBenchResult {
  waiters: number;
  transport: "tcp" | "udp";
  /** From the release (the INIT that reaches zero) to every waiter holding its reply. */
  releaseMs: number;
  /** Waiters the server took in, per second, while they arrived. */
  arrivalsPerSec: number;
  arrivalMs: number;
  /** Waiters whose reply was exactly "released" (code 0). */
  released: number;
  /** Waiters that got another code, a reply that does not decode, or none: each is a failure of the run. */
  failed: number;
  /** How many waiters ended with each outcome: a reply code, or "no-reply" / "bad-reply". */
  outcomes: Record<string, number>;
  /** UDP: datagrams the clients sent beyond one each (retransmissions). */
  retransmissions: number;
  openFilesLimit: number | null;
}

/** File descriptors one TCP waiter costs on loopback (its socket and the server's), plus headroom. */
export function fdsNeeded(waiters: number): number {
  return 2 * waiters + 64;
}

const NAME = "bench";

/** Outcomes of the waiters as they come in; `all` resolves when every waiter has one. */
class Tally {
  released = 0;
  failed = 0;
  lastReplyAt = 0;
  readonly outcomes: Record<string, number> = {};
  readonly all: Promise<void>;
  private resolve: () => void = () => {};

  constructor(private readonly waiters: number) {
    this.all = new Promise((r) => (this.resolve = r));
  }

  get count(): number {
    return this.released + this.failed;
  }

  note(outcome: number | "no-reply" | "bad-reply"): void {
    this.outcomes[String(outcome)] = (this.outcomes[String(outcome)] ?? 0) + 1;
    if (outcome === CODE_OK) this.released++;
    else this.failed++;
    this.lastReplyAt = performance.now();
    if (this.count === this.waiters) this.resolve();
  }
}

export async function runSyncBench(o: SyncBenchOptions): Promise<SyncBenchResult> {
  let releasedAt = 0;
  const server = await startSyncServer({
    port: 0,
    host: "127.0.0.1",
    tcp: o.transport === "tcp",
    udp: o.transport === "udp",
    events: { emit: (kind) => void (kind === "sync.release" && (releasedAt = performance.now())) },
    // Every waiter comes from 127.0.0.1: the per-peer limits must let them all in.
    connectionsPerPeerMax: o.waiters + 1,
    ...o.server,
    daemon: { requestsPerPeerMax: o.waiters + 1, ...o.server?.daemon },
  });
  try {
    const run = o.transport === "tcp" ? benchTcp : benchUdp;
    const port = (o.transport === "tcp" ? server.tcpPort : server.udpPort) as number;
    const tally = new Tally(o.waiters);
    const r = await run(o, port, () => -(server.daemon.server.inspect(NAME)?.counter ?? 0), tally);
    return {
      waiters: o.waiters,
      transport: o.transport,
      releaseMs: releasedAt === 0 ? 0 : round(tally.lastReplyAt - releasedAt),
      arrivalsPerSec: Math.round(o.waiters / Math.max((r.arrivedAt - r.startedAt) / 1000, 1e-6)),
      arrivalMs: round(r.arrivedAt - r.startedAt),
      released: tally.released,
      failed: tally.failed,
      outcomes: tally.outcomes,
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
  retransmissions: number;
}

/** Resolves when every waiter is either counted at the barrier or already has its (failed) outcome. */
function arrivals(waiting: () => number, tally: Tally, waiters: number): Promise<number> {
  return new Promise((resolve) => {
    const poll = (): void => {
      if (waiting() + tally.count >= waiters) resolve(performance.now());
      else setImmediate(poll);
    };
    poll();
  });
}

async function benchTcp(o: SyncBenchOptions, port: number, waiting: () => number, tally: Tally): Promise<Timing> {
  const wait = encodeRequest({ type: "wait", name: NAME, noWait: false, count: 0, error: 0, ext: null });
  const startedAt = performance.now();
  let next = 0;
  const open = (): Promise<void> =>
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let done = false;
      const socket = connect({ host: "127.0.0.1", port, noDelay: true });
      const end = (): void => {
        if (done) return;
        done = true;
        const bytes = Buffer.concat(chunks);
        if (bytes.length === 0) return tally.note("no-reply");
        const reply = decodeReply(new Uint8Array(bytes));
        tally.note(reply.ok && reply.value.ext === null ? reply.value.code : "bad-reply");
      };
      socket.on("connect", () => {
        socket.write(wait);
        resolve();
      });
      socket.on("error", () => resolve());
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      // The reply is whole at "end"; "close" without an "end" (a reset) is a waiter with no reply.
      socket.on("end", end);
      socket.on("close", end);
    });
  const lanes = Array.from({ length: Math.min(o.concurrency, o.waiters) }, async () => {
    while (next < o.waiters) {
      next++;
      await open();
    }
  });
  await Promise.all(lanes);
  const arrivedAt = await arrivals(waiting, tally, o.waiters);
  const init = connect({ host: "127.0.0.1", port, noDelay: true });
  init.on("connect", () => init.write(encodeRequest({ type: "init", name: NAME, noWait: true, count: waiting(), error: 0, ext: null })));
  init.on("data", () => {});
  init.on("error", () => {});
  await tally.all;
  return { startedAt, arrivedAt, retransmissions: 0 };
}

async function benchUdp(o: SyncBenchOptions, port: number, waiting: () => number, tally: Tally): Promise<Timing> {
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
  const timers: { close(): void }[] = [];
  const make = (net: UdpNet, type: "init" | "wait", count: number, noWait: boolean): SyncClient => {
    let client: SyncClient | null = null;
    const { env, timers: t } = realEnv(net, { emit: () => {} }, freshSeed(), () => client);
    timers.push(t);
    client = new SyncClient(env, {
      ...CLIENT_DEFAULTS, server, port, type, name: NAME, count, noWait,
      onDone: (outcome) => {
        if (type === "init") return;
        tally.note(outcome.source === "server" ? outcome.code : "no-reply");
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
  const arrivedAt = await arrivals(waiting, tally, o.waiters);
  const init = make(nets[0] as UdpNet, "init", waiting(), true);
  init.start();
  clients.get(nets[0] as UdpNet)?.set(init.requestId, init);
  await tally.all;
  for (const t of timers) t.close();
  for (const net of nets) net.close();
  const retransmissions = waiters.reduce((n, c) => n + c.sends - 1, 0);
  return { startedAt, arrivedAt, retransmissions };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
