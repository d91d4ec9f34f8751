import { createServer, type Server, type Socket } from "node:net";
import { REQUEST_BYTES, originOf, type SyncDaemon } from "../../core/sync/index.js";
import { ipv4ToAddress, openFilesLimit } from "../runtime/index.js";

/** Most TCP connections open at once, whatever the open-file limit allows. */
export const TCP_CONNECTIONS_MAX = 100_000;
/** Most TCP connections open at once from one address, however many the open-file limit allows. */
export const CONNECTIONS_PER_PEER_MAX = 512;
/** One address may hold at most this fraction of all connections: one peer cannot take every slot. */
export const PEER_SHARE_DIVISOR = 4;
/** Open files kept for everything but connections: the store (3 with its WAL), UDP, stdio, epoll, the loader. */
export const FD_RESERVE = 64;
export const REQUEST_READ_TIMEOUT_MS = 30_000;

/** Connections the server may hold with an open-file limit of `limit` (null: unknown), keeping FD_RESERVE for the rest. */
export function connectionsForFdLimit(limit: number | null): number {
  if (limit === null || !Number.isFinite(limit)) return TCP_CONNECTIONS_MAX;
  return Math.max(1, Math.min(TCP_CONNECTIONS_MAX, limit - FD_RESERVE));
}

/** A peer's share of `connectionsMax`. */
export function connectionsPerPeerFor(connectionsMax: number): number {
  return Math.max(1, Math.min(CONNECTIONS_PER_PEER_MAX, Math.floor(connectionsMax / PEER_SHARE_DIVISOR)));
}

export interface TcpOptions {
  host: string;
  /** Most connections open at once; by default from the open-file limit. */
  connectionsMax?: number;
  /** Most connections open at once from one address; by default a share of `connectionsMax`. */
  connectionsPerPeerMax?: number;
  /** A connection that has not sent a whole request after this long is closed. */
  requestReadTimeoutMs?: number;
  /** Pending connections the kernel queues (listen backlog). */
  backlog?: number;
}

export interface TcpStats {
  connections: number;
  /** Closed at once because every slot was taken. */
  refused: number;
  /** Closed at once because their address held its share. */
  refusedPeer: number;
  incomplete: number;
  extraBytes: number;
  open: number;
  connectionsMax: number;
  connectionsPerPeerMax: number;
  /** Accept failures (EMFILE and the like): counted, never fatal. */
  acceptErrors: number;
}

interface Connection {
  origin: string;
  /** The daemon's peer once a whole request was read; null before. */
  peer: number | null;
  answered: boolean;
}

/** The TCP front of a sync daemon: one request per connection, the reply, then close. */
export class TcpFront {
  readonly stats: TcpStats;
  private readonly open = new Map<Socket, Connection>();
  private readonly byOrigin = new Map<string, number>();
  private server: Server | null = null;

  constructor(private readonly daemon: SyncDaemon, private readonly options: TcpOptions) {
    const max = options.connectionsMax ?? connectionsForFdLimit(openFilesLimit());
    const perPeer = options.connectionsPerPeerMax ?? connectionsPerPeerFor(max);
    this.stats = { connections: 0, refused: 0, refusedPeer: 0, incomplete: 0, extraBytes: 0, open: 0, connectionsMax: max, connectionsPerPeerMax: perPeer, acceptErrors: 0 };
  }

  get port(): number | null {
    const a = this.server?.address();
    return a !== undefined && a !== null && typeof a === "object" ? a.port : null;
  }

  listen(port: number): Promise<number> {
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port, host: this.options.host, backlog: this.options.backlog ?? 4096 }, () => {
        server.off("error", reject);
        // Accept can fail (EMFILE); without a listener that would end the process.
        server.on("error", (error: NodeJS.ErrnoException) => {
          this.stats.acceptErrors++;
          this.daemon.server.sampled.emit("syncd.accept-error", { why: error.code ?? error.message });
        });
        this.server = server;
        resolve(this.port as number);
      });
    });
  }

  /** Stops listening (before a retry on another port). */
  unlisten(): Promise<void> {
    const s = this.server;
    this.server = null;
    return s === null ? Promise.resolve() : new Promise((resolve) => s.close(() => resolve()));
  }

  /**
   * Stops accepting at once and resolves once every connection has closed. Connections without a
   * whole request are closed now; waiters, answered by the daemon's stop right after this call, may
   * read their reply for `graceMs`, then whatever is left is closed.
   */
  async close(graceMs: number): Promise<void> {
    const closed = this.unlisten();
    for (const [socket, c] of this.open) if (c.peer === null && !c.answered) socket.destroy();
    const grace = setTimeout(() => {
      for (const socket of this.open.keys()) socket.destroy();
    }, graceMs);
    await closed;
    clearTimeout(grace);
  }

  private accept(socket: Socket): void {
    this.stats.connections++;
    const origin = tcpOrigin(socket.remoteAddress);
    const mine = this.byOrigin.get(origin) ?? 0;
    if (this.open.size >= this.stats.connectionsMax || mine >= this.stats.connectionsPerPeerMax) {
      if (this.open.size >= this.stats.connectionsMax) this.stats.refused++;
      else this.stats.refusedPeer++;
      socket.on("error", () => {});
      socket.destroy();
      return;
    }
    const c: Connection = { origin, peer: null, answered: false };
    this.open.set(socket, c);
    this.byOrigin.set(origin, mine + 1);
    this.stats.open = this.open.size;
    this.serve(socket, c);
  }

  private serve(socket: Socket, c: Connection): void {
    const request = new Uint8Array(REQUEST_BYTES);
    let got = 0;
    const readTimer = setTimeout(() => {
      this.stats.incomplete++;
      socket.destroy();
    }, this.options.requestReadTimeoutMs ?? REQUEST_READ_TIMEOUT_MS);
    socket.on("data", (chunk: Buffer) => {
      if (c.peer !== null || c.answered) {
        // Bytes after a whole request mean nothing to the protocol; they are counted and dropped.
        this.stats.extraBytes += chunk.length;
        return;
      }
      const take = Math.min(chunk.length, REQUEST_BYTES - got);
      request.set(chunk.subarray(0, take), got);
      got += take;
      this.stats.extraBytes += chunk.length - take;
      if (got < REQUEST_BYTES) return;
      clearTimeout(readTimer);
      c.peer = this.daemon.streamRequest(request, (reply) => {
        c.answered = true;
        socket.end(reply);
      }, c.origin);
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(readTimer);
      this.open.delete(socket);
      const left = (this.byOrigin.get(c.origin) ?? 1) - 1;
      if (left > 0) this.byOrigin.set(c.origin, left);
      else this.byOrigin.delete(c.origin);
      this.stats.open = this.open.size;
      if (c.peer !== null && !c.answered) this.daemon.streamClosed(c.peer);
    });
  }
}

/** The per-peer name of a TCP peer's address: the UDP front's for IPv4, so both count together. */
function tcpOrigin(remote: string | undefined): string {
  const ip = (remote ?? "?").replace(/^::ffff:/, "");
  const n = ipv4ToAddress(ip);
  return n === null ? ip : originOf(n);
}
