import type { EventSink } from "../../core/engine/index.js";
import { SyncDaemon, type SyncDaemonOptions } from "../../core/sync/index.js";
import { freshSeed, ipv4ToAddress, realEnv, UdpNet } from "../runtime/index.js";
import { bindSamePort } from "./bind.js";
import { TcpFront, type TcpOptions, type TcpStats } from "./tcp.js";

export { CONNECTIONS_PER_PEER_MAX, connectionsForFdLimit, connectionsPerPeerFor, FD_RESERVE, REQUEST_READ_TIMEOUT_MS, TCP_CONNECTIONS_MAX, type TcpStats } from "./tcp.js";

export interface SyncServerConfig extends Omit<TcpOptions, "host"> {
  port: number;
  /** Address to listen on; "0.0.0.0" for all. */
  host: string;
  tcp: boolean;
  udp: boolean;
  events: EventSink;
  daemon?: Partial<SyncDaemonOptions>;
}

/** How long answered TCP waiters may take to read their reply when the server stops. */
export const CLOSE_GRACE_MS = 2_000;

export interface RunningSyncServer {
  readonly daemon: SyncDaemon;
  readonly tcpPort: number | null;
  readonly udpPort: number | null;
  readonly tcpStats: TcpStats;
  /** SIGHUP: clears every barrier and releases everyone with 240. */
  reset(): void;
  /**
   * Stops in order: no new connections or datagrams, every waiter answered (240) and its events
   * emitted, replies flushed, sockets and timers closed. After it resolves nothing is emitted, so
   * the caller may close the store its events go to.
   */
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
  const tcp = config.tcp ? new TcpFront(d, { ...config }) : null;
  let port: number;
  try {
    port = await bindBoth(config, net, tcp);
  } catch (error) {
    timers.close();
    net.close();
    await tcp?.unlisten();
    const e = error as NodeJS.ErrnoException;
    throw new SyncListenError(`cannot listen on ${config.host}:${config.port} (${e.code ?? e.message})`);
  }
  let closing: Promise<void> | null = null;
  const shutdown = async (): Promise<void> => {
    const tcpClosed = tcp?.close(CLOSE_GRACE_MS);
    d.stop();
    await tcpClosed;
    if (config.udp) await net.flush();
    net.close();
    timers.close();
  };
  return {
    daemon: d,
    tcpPort: tcp === null ? null : port,
    udpPort: config.udp ? port : null,
    tcpStats: tcp?.stats ?? { connections: 0, refused: 0, refusedPeer: 0, incomplete: 0, extraBytes: 0, open: 0, connectionsMax: 0, connectionsPerPeerMax: 0, acceptErrors: 0 },
    reset: () => d.server.reset(),
    close: () => (closing ??= shutdown()),
  };
}

/** TCP first (the kernel picks from the busier space), then UDP on the same number, as clients expect one port. */
function bindBoth(config: SyncServerConfig, net: UdpNet, tcp: TcpFront | null): Promise<number> {
  if (tcp === null) return net.bind(config.port, config.host);
  if (!config.udp) return tcp.listen(config.port);
  return bindSamePort(config.port, {
    first: (port) => tcp.listen(port),
    second: async (port) => void (await net.bind(port, config.host)),
    releaseFirst: () => tcp.unlisten(),
  });
}
