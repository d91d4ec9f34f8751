import { createServer, type Server, type Socket } from "node:net";
import type { EventSink } from "../../core/engine/index.js";
import { parseRequest, REQUEST_BYTES_MAX } from "../../core/experiment/nodeconfig.js";
import type { ExperimentStore } from "../store/index.js";
import { answer } from "./answers.js";
import { NodeConfigListenError } from "./errors.js";

export interface NodeConfigServerOptions {
  readonly host: string;
  /** 0: the kernel picks one (tests). */
  readonly port: number;
  readonly store: ExperimentStore;
  readonly events: EventSink;
  /** A node set its ready bit (the swap running in this process hears it at once). */
  readonly onReady?: (experiment: string, node: string) => void;
  readonly connectionsMax?: number;
  readonly connectionsPerPeerMax?: number;
  readonly requestTimeoutMs?: number;
}

/** Connections open at once, in all and from one address; a connection past either is closed unanswered. */
export const NODECONFIG_CONNECTIONS_MAX = 4_096;
export const NODECONFIG_CONNECTIONS_PER_PEER_MAX = 16;
/** A peer that has not sent its request line by then is disconnected. */
export const NODECONFIG_REQUEST_TIMEOUT_MS = 5_000;

export interface RunningNodeConfig {
  readonly port: number;
  readonly stats: { requests: number; refused: number; unknownPeers: number; badRequests: number };
  close(): Promise<void>;
}

export { NodeConfigListenError };

/**
 * The node-configuration server (Emulab's tmcd): a node connects over TCP, sends one request line
 * (`loadinfo`, `syncserver`, `ready`, `readycount`, `nodeid`) and gets its answer lines, then the
 * connection closes. The node is known by the address it connects from, and is told only about
 * its own experiment; an address no experiment in swap has is answered with nothing. Every answer
 * comes from the store, so the server holds no state of its own and survives restarts.
 */
export async function startNodeConfigServer(o: NodeConfigServerOptions): Promise<RunningNodeConfig> {
  const stats = { requests: 0, refused: 0, unknownPeers: 0, badRequests: 0 };
  const perPeer = new Map<string, number>();
  const limitAll = o.connectionsMax ?? NODECONFIG_CONNECTIONS_MAX;
  const limitPeer = o.connectionsPerPeerMax ?? NODECONFIG_CONNECTIONS_PER_PEER_MAX;
  const open = new Set<Socket>();
  const server: Server = createServer((socket) => {
    const peer = peerAddress(socket.remoteAddress);
    const mine = perPeer.get(peer) ?? 0;
    if (open.size >= limitAll || mine >= limitPeer) {
      stats.refused++;
      socket.destroy();
      return;
    }
    perPeer.set(peer, mine + 1);
    open.add(socket);
    socket.once("close", () => {
      open.delete(socket);
      const left = (perPeer.get(peer) ?? 1) - 1;
      if (left <= 0) perPeer.delete(peer);
      else perPeer.set(peer, left);
    });
    serve(socket, peer, o, stats);
  });
  server.maxConnections = limitAll;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(new NodeConfigListenError(`cannot listen on ${o.host}:${o.port} (${e.code ?? e.message})`)));
    server.listen(o.port, o.host, () => resolve());
  });
  const address = server.address();
  const port = address !== null && typeof address === "object" ? address.port : o.port;
  o.events.emit("nodeconfig.start", { host: o.host, port });
  return {
    port,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function serve(socket: Socket, peer: string, o: NodeConfigServerOptions, stats: RunningNodeConfig["stats"]): void {
  let buffered = "";
  let done = false;
  socket.setTimeout(o.requestTimeoutMs ?? NODECONFIG_REQUEST_TIMEOUT_MS, () => socket.destroy());
  socket.setEncoding("latin1");
  const handle = (line: string): void => {
    if (done) return;
    done = true;
    socket.removeAllListeners("data");
    stats.requests++;
    const request = parseRequest(line);
    if (!request.ok) {
      stats.badRequests++;
      o.events.emit("nodeconfig.bad-request", { peer, why: request.why });
      socket.end();
      return;
    }
    let lines: string[];
    try {
      lines = answer(request.command, peer, o.store, o.onReady);
    } catch (error) {
      // The store refused (busy, broken): the node asks again; nothing is half answered.
      o.events.emit("nodeconfig.store-error", { peer, error: (error as Error).message.slice(0, 200) });
      socket.destroy();
      return;
    }
    if (lines.length === 1 && lines[0] === UNKNOWN) {
      stats.unknownPeers++;
      o.events.emit("nodeconfig.unknown-peer", { peer, command: request.command });
      lines = [];
    }
    socket.end(lines.map((l) => `${l}\n`).join(""));
  };
  socket.on("data", (chunk: string) => {
    buffered += chunk;
    const newline = buffered.indexOf("\n");
    if (newline >= 0) return handle(buffered.slice(0, newline));
    if (buffered.length > REQUEST_BYTES_MAX) {
      stats.badRequests++;
      done = true;
      socket.destroy();
    }
  });
  socket.on("end", () => handle(buffered));
  socket.on("error", () => socket.destroy());
}

/** Marks an answer for a peer no experiment knows. */
export const UNKNOWN = "\u0000unknown";

/** "::ffff:127.0.1.5" is the IPv4 peer 127.0.1.5. */
function peerAddress(remote: string | undefined): string {
  if (remote === undefined) return "";
  return remote.startsWith("::ffff:") ? remote.slice(7) : remote;
}
