import { createServer, type Server, type Socket } from "node:net";
import type { EventSink } from "../../core/engine/index.js";
import { REQUEST_BYTES, SyncDaemon, type SyncDaemonOptions } from "../../core/sync/index.js";
import { freshSeed, ipv4ToAddress, realEnv, UdpNet } from "../runtime/index.js";

export interface SyncServerConfig {
  port: number;
  /** Address to listen on; "0.0.0.0" for all. */
  host: string;
  tcp: boolean;
  udp: boolean;
  events: EventSink;
  daemon?: Partial<SyncDaemonOptions>;
  /** Most TCP connections open at once; beyond it a new one is closed at once. */
  connectionsMax?: number;
  /** A connection that has not sent a whole request after this long is closed. */
  requestReadTimeoutMs?: number;
  /** Pending connections the kernel queues (listen backlog). */
  backlog?: number;
}

export const TCP_CONNECTIONS_MAX = 100_000;
export const REQUEST_READ_TIMEOUT_MS = 30_000;

export interface TcpStats {
  connections: number;
  refused: number;
  incomplete: number;
  extraBytes: number;
  open: number;
}

export interface RunningSyncServer {
  readonly daemon: SyncDaemon;
  readonly tcpPort: number | null;
  readonly udpPort: number | null;
  readonly tcpStats: TcpStats;
  /** SIGHUP: clears every barrier and releases everyone with 240. */
  reset(): void;
  close(): Promise<void>;
}

/** Thrown when a port cannot be bound: the outside world's failure, reported in one line. */
export class SyncListenError extends Error {
  override readonly name = "SyncListenError";
}

/**
 * The sync server on TCP and UDP. One SyncDaemon serves both: a TCP connection is one peer whose
 * close before its reply counts as a crash; UDP datagrams go to the daemon's own front.
 */
export async function startSyncServer(config: SyncServerConfig): Promise<RunningSyncServer> {
  if (config.udp && ipv4ToAddress(config.host) === null) throw new SyncListenError(`${config.host}: UDP needs an IPv4 address to listen on`);
  const net = new UdpNet(config.udp ? (ipv4ToAddress(config.host) as number) : 0);
  let daemon: SyncDaemon | null = null;
  const { env, timers } = realEnv(net, config.events, freshSeed(), () => daemon);
  daemon = new SyncDaemon(env, config.daemon ?? {});
  const d = daemon;
  net.receive = (from, fromPort, bytes) => d.receive(from, fromPort, bytes);
  const tcpStats: TcpStats = { connections: 0, refused: 0, incomplete: 0, extraBytes: 0, open: 0 };
  let udpPort: number | null = null;
  let tcp: Server | null = null;
  try {
    if (config.udp) udpPort = await net.bind(config.port, config.host);
    // With port 0 the kernel picks UDP's; TCP takes the same number, as clients expect one port.
    if (config.tcp) tcp = await listenTcp({ ...config, port: udpPort ?? config.port }, d, tcpStats);
  } catch (error) {
    timers.close();
    if (udpPort !== null) net.close();
    tcp?.close();
    const e = error as NodeJS.ErrnoException;
    throw new SyncListenError(`cannot listen on ${config.host}:${config.port} (${e.code ?? e.message})`);
  }
  const address = tcp?.address();
  return {
    daemon: d,
    tcpPort: address !== undefined && address !== null && typeof address === "object" ? address.port : null,
    udpPort,
    tcpStats,
    reset: () => d.server.reset(),
    close: async () => {
      timers.close();
      if (udpPort !== null) net.close();
      if (tcp !== null) {
        const t = tcp;
        await new Promise<void>((resolve) => {
          t.close(() => resolve());
          for (const s of sockets.get(t) ?? []) s.destroy();
        });
      }
    },
  };
}

const sockets = new WeakMap<Server, Set<Socket>>();

function listenTcp(config: SyncServerConfig, daemon: SyncDaemon, stats: TcpStats): Promise<Server> {
  const open = new Set<Socket>();
  const server = createServer({ noDelay: true }, (socket) => serveConnection(socket, config, daemon, stats, open));
  sockets.set(server, open);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: config.port, host: config.host, backlog: config.backlog ?? 4096 }, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}

function serveConnection(socket: Socket, config: SyncServerConfig, daemon: SyncDaemon, stats: TcpStats, open: Set<Socket>): void {
  stats.connections++;
  if (open.size >= (config.connectionsMax ?? TCP_CONNECTIONS_MAX)) {
    stats.refused++;
    socket.destroy();
    return;
  }
  open.add(socket);
  stats.open = open.size;
  const request = new Uint8Array(REQUEST_BYTES);
  let got = 0;
  let peer: number | null = null;
  let answered = false;
  const readTimer = setTimeout(() => {
    stats.incomplete++;
    socket.destroy();
  }, config.requestReadTimeoutMs ?? REQUEST_READ_TIMEOUT_MS);
  socket.on("data", (chunk: Buffer) => {
    if (peer !== null || answered) {
      // Bytes after a whole request mean nothing to the protocol; they are counted and dropped.
      stats.extraBytes += chunk.length;
      return;
    }
    const take = Math.min(chunk.length, REQUEST_BYTES - got);
    request.set(chunk.subarray(0, take), got);
    got += take;
    stats.extraBytes += chunk.length - take;
    if (got < REQUEST_BYTES) return;
    clearTimeout(readTimer);
    peer = daemon.streamRequest(request, (reply) => {
      answered = true;
      socket.end(reply);
    });
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    clearTimeout(readTimer);
    open.delete(socket);
    stats.open = open.size;
    if (peer !== null && !answered) daemon.streamClosed(peer);
  });
}
