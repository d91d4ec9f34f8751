import { createServer, type Server, type Socket } from "node:net";
import { decodeControl, encodeControl, errorReply, type ControlMessage } from "../../core/service/index.js";
import { FRAME_AUTH, FRAME_AUTH_OK, FRAME_HELLO, FRAME_REFUSED, FRAME_REPLY, FRAME_REQUEST, FrameReader, MAC_BYTES, NONCE_BYTES, freshNonce, helloPayload, mac, macEqual, open, seal, send } from "./channel.js";

/** Limits that keep a hostile or broken peer from holding the agent. */
export const CONNECTIONS_MAX = 64;
export const CONNECTIONS_PER_PEER_MAX = 8;
/** A peer that has not authenticated by then is dropped. */
export const AUTH_TIMEOUT_MS = 5_000;
/** A connection idle this long is closed (nothing is held for a peer that has gone). */
export const IDLE_TIMEOUT_MS = 300_000;

export type Handler = (request: ControlMessage) => Promise<ControlMessage>;

export interface AgentServerOptions {
  readonly host: string;
  readonly port: number;
  readonly key: Uint8Array;
  readonly handle: Handler;
  readonly log: (line: string) => void;
}

/**
 * The agent's TCP front: authenticates each connection (channel.ts), then serves its requests one
 * at a time, in order. Every refusal is one REFUSED frame and a close; nothing reaches `handle`
 * without the key and the next counter.
 */
export class AgentServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly perPeer = new Map<string, number>();
  refused = 0;
  served = 0;

  constructor(private readonly o: AgentServerOptions) {
    this.server = createServer((socket) => this.accept(socket));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off("error", reject);
        const address = this.server.address();
        resolve(typeof address === "object" && address !== null ? address.port : this.o.port);
      });
    });
  }

  /** Stops listening and drops every connection. */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private refuse(socket: Socket, peer: string, why: string): void {
    this.refused++;
    this.o.log(`agent.refused peer=${peer} why=${JSON.stringify(why)}`);
    send(socket, FRAME_REFUSED, Buffer.from(why));
    socket.end();
    setTimeout(() => socket.destroy(), 1_000).unref();
  }

  private accept(socket: Socket): void {
    const peer = socket.remoteAddress ?? "unknown";
    const count = (this.perPeer.get(peer) ?? 0) + 1;
    this.sockets.add(socket);
    this.perPeer.set(peer, count);
    socket.on("close", () => {
      this.sockets.delete(socket);
      const left = (this.perPeer.get(peer) ?? 1) - 1;
      if (left <= 0) this.perPeer.delete(peer);
      else this.perPeer.set(peer, left);
    });
    socket.on("error", () => socket.destroy());
    if (this.sockets.size > CONNECTIONS_MAX) return this.refuse(socket, peer, `too many connections (at most ${CONNECTIONS_MAX})`);
    if (count > CONNECTIONS_PER_PEER_MAX) return this.refuse(socket, peer, `too many connections from ${peer} (at most ${CONNECTIONS_PER_PEER_MAX})`);
    socket.setTimeout(AUTH_TIMEOUT_MS, () => this.refuse(socket, peer, "no authentication in time"));
    this.serve(socket, peer);
  }

  private serve(socket: Socket, peer: string): void {
    const serverNonce = freshNonce();
    let session: Buffer | null = null;
    let expected = 1n;
    let busy: Promise<void> = Promise.resolve();
    let done = false;
    const stop = (why: string): void => {
      if (done) return;
      done = true;
      this.refuse(socket, peer, why);
    };
    const reader = new FrameReader((type, payload) => {
      if (done) return;
      if (session === null) {
        if (type !== FRAME_AUTH || payload.byteLength !== NONCE_BYTES + MAC_BYTES) return stop("expected authentication first");
        const clientNonce = payload.subarray(0, NONCE_BYTES);
        if (!macEqual(payload.subarray(NONCE_BYTES), mac(this.o.key, "client", serverNonce, clientNonce))) return stop("authentication failed (wrong key)");
        session = mac(this.o.key, "session", serverNonce, clientNonce);
        socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
        send(socket, FRAME_AUTH_OK, mac(this.o.key, "server", serverNonce, clientNonce));
        return;
      }
      if (type !== FRAME_REQUEST) return stop(`unexpected frame type ${type}`);
      const opened = open(session, "request", expected, payload);
      if ("refused" in opened) return stop(opened.refused);
      const counter = expected++;
      const decoded = decodeControl(opened.body);
      const s = session;
      // Requests run one at a time, in order; a bad request is answered with an error, nothing run.
      busy = busy.then(async () => {
        const reply = decoded.ok ? await this.run(decoded.value) : errorReply(decoded.error);
        send(socket, FRAME_REPLY, seal(s, "reply", counter, encodeControl(reply)));
      });
    });
    socket.on("data", (d: Buffer) => {
      reader.push(d);
      if (reader.failed !== null) stop(`bad framing: ${reader.failed}`);
    });
    send(socket, FRAME_HELLO, helloPayload(serverNonce));
  }

  private async run(request: ControlMessage): Promise<ControlMessage> {
    this.served++;
    try {
      return await this.o.handle(request);
    } catch (error) {
      return errorReply(error instanceof Error ? error.message : String(error));
    }
  }
}
