import { connect, type Socket } from "node:net";
import { decodeControl, encodeControl, type ControlMessage } from "../../core/service/index.js";
import { FRAME_AUTH, FRAME_AUTH_OK, FRAME_HELLO, FRAME_REFUSED, FRAME_REPLY, FRAME_REQUEST, FrameReader, freshNonce, mac, macEqual, open, parseHello, seal, send } from "./channel.js";

/** Talking to one agent failed: refused, unreachable, timed out, or a bad answer; one line. */
export class AgentError extends Error {
  override readonly name = "AgentError";
}

/** The agent answered with an error: the connection is fine, the request was not. */
export class AgentReplyError extends AgentError {}

export const CONNECT_TIMEOUT_MS = 5_000;

/**
 * The controller's side of one authenticated connection to an agent. Requests go one at a time (the
 * agent serves a connection's requests in order, and the counter must follow them).
 */
export class AgentClient {
  private session: Buffer | null = null;
  private counter = 0n;
  private waiting: { resolve: (m: ControlMessage) => void; reject: (e: Error) => void } | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private closedWith: string | null = null;

  private constructor(
    readonly where: string,
    private readonly socket: Socket,
  ) {}

  static connect(host: string, port: number, key: Uint8Array, where = `${host}:${port}`, timeoutMs = CONNECT_TIMEOUT_MS): Promise<AgentClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const client = new AgentClient(where, socket);
      const fail = (why: string): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new AgentError(`${where}: ${why}`));
      };
      const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
      let clientNonce: Buffer | null = null;
      let serverNonce: Uint8Array | null = null;
      const reader = new FrameReader((type, payload) => {
        if (client.session !== null) return client.onFrame(type, payload);
        if (type === FRAME_REFUSED) return fail(`refused: ${payload.toString("utf8")}`);
        if (type === FRAME_HELLO && clientNonce === null) {
          serverNonce = parseHello(payload);
          if (serverNonce === null) return fail("not a testbed agent (bad hello)");
          clientNonce = freshNonce();
          send(socket, FRAME_AUTH, Buffer.concat([clientNonce, mac(key, "client", serverNonce, clientNonce)]));
          return;
        }
        if (type === FRAME_AUTH_OK && serverNonce !== null && clientNonce !== null) {
          if (!macEqual(payload, mac(key, "server", serverNonce, clientNonce))) return fail("the agent did not prove it holds the key");
          client.session = mac(key, "session", serverNonce, clientNonce);
          clearTimeout(timer);
          resolve(client);
          return;
        }
        fail(`unexpected frame type ${type} during the handshake`);
      });
      socket.on("data", (d: Buffer) => {
        reader.push(d);
        if (reader.failed !== null) fail(`bad framing from the agent: ${reader.failed}`);
      });
      socket.on("error", (e: NodeJS.ErrnoException) => {
        const why = e.code === "ECONNREFUSED" ? "connection refused (is the agent running?)" : e.message;
        if (client.session === null) fail(why);
        else client.closed(why);
      });
      socket.on("close", () => {
        if (client.session === null) fail("the agent closed the connection");
        else client.closed("the agent closed the connection");
      });
    });
  }

  /** Sends a request and waits for its reply; requests queue behind each other. */
  request(m: ControlMessage, timeoutMs = 60_000): Promise<ControlMessage> {
    const next = this.queue.then(() => this.send(m, timeoutMs));
    this.queue = next.catch(() => {});
    return next;
  }

  /** The raw sealed request as sent, for tests that replay or alter it. */
  lastSent: Buffer | null = null;

  private send(m: ControlMessage, timeoutMs: number): Promise<ControlMessage> {
    if (this.closedWith !== null) return Promise.reject(new AgentError(`${this.where}: ${this.closedWith}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new AgentError(`${this.where}: no reply to ${m.kind} within ${timeoutMs} ms`));
        this.socket.destroy();
      }, timeoutMs);
      this.waiting = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.counter++;
      this.lastSent = seal(this.session as Buffer, "request", this.counter, encodeControl(m));
      send(this.socket, FRAME_REQUEST, this.lastSent);
    });
  }

  /** Writes a raw frame (tests: replays, altered requests). */
  sendRaw(type: number, payload: Uint8Array): void {
    send(this.socket, type, payload);
  }

  private onFrame(type: number, payload: Buffer): void {
    const w = this.waiting;
    this.waiting = null;
    if (w === null) return;
    if (type === FRAME_REFUSED) return w.reject(new AgentError(`${this.where}: refused: ${payload.toString("utf8")}`));
    if (type !== FRAME_REPLY) return w.reject(new AgentError(`${this.where}: unexpected frame type ${type}`));
    const opened = open(this.session as Buffer, "reply", this.counter, payload);
    if ("refused" in opened) return w.reject(new AgentError(`${this.where}: ${opened.refused}`));
    const decoded = decodeControl(opened.body);
    if (!decoded.ok) return w.reject(new AgentError(`${this.where}: ${decoded.error}`));
    w.resolve(decoded.value);
  }

  private closed(why: string): void {
    this.closedWith = why;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(new AgentError(`${this.where}: ${why}`));
  }

  close(): void {
    this.closedWith = "closed";
    this.socket.end();
    this.socket.destroy();
  }
}

/** Reply fields, or an AgentError for an error reply. */
export function expectOk(where: string, reply: ControlMessage): ControlMessage {
  if (reply.kind === "error") throw new AgentReplyError(`${where}: ${String(reply.fields["error"])}`);
  return reply;
}
