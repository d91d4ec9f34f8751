import { lookup } from "node:dns/promises";
import { connect } from "node:net";
import {
  CLIENT_DEFAULTS,
  CODE_RESET,
  CODE_TIMEOUT,
  decodeReply,
  encodeRequest,
  EXIT_NAME_LOOKUP,
  EXIT_PROTOCOL,
  SyncClient,
  type RequestExt,
  type SyncOutcome,
  type SyncRequest,
} from "../../core/sync/index.js";
import type { Net } from "../../core/engine/index.js";
import { freshSeed, ipv4ToAddress, realEnv, UdpNet } from "../runtime/index.js";

export interface SyncCall {
  host: string;
  port: number;
  transport: "tcp" | "udp";
  request: Omit<SyncRequest, "ext">;
  /** Our extensions, or null to send exactly the original's request (for an original server over UDP). */
  ext: Omit<RequestExt, "requestId" | "cancel" | "epochKnown"> | null;
  /** Give up locally after this long; 0 waits for ever, as the original does. */
  timeoutMs: number;
  /** A refused TCP connection is tried again after this long (the original: 5 s). */
  retryRefusedMs?: number;
  log?: (line: string) => void;
  /**
   * Connect from this address (the node's own), so the server records the member by it: on one
   * machine, nodes on 127.x addresses would all come from 127.0.0.1 otherwise.
   */
  localAddress?: string;
  /** The address was not asked for by the user (it came from the environment): without it on this machine, connect from any. */
  localAddressOptional?: boolean;
  /** What the user should know while it waits: the server is not there yet, then that it is. */
  notify?: (notice: SyncNotice) => void;
}

/**
 * While a client waits. `unreachable`: the server refused the connection (TCP) or has not answered
 * (UDP), `tries` so far, the next in `retryMs`. `reached`: the server has the request (TCP: connected;
 * UDP: its first answer came).
 */
export type SyncNotice =
  | { kind: "unreachable"; address: string; port: number; transport: "tcp" | "udp"; tries: number; retryMs: number; waitedMs: number }
  | { kind: "reached"; address: string; port: number; transport: "tcp" | "udp" };

export interface SyncCallResult {
  /** The exit status: the reply's code, or 68 / 76 / 241 for lookup, protocol and local timeout; 240 when the server restarted. */
  exit: number;
  generation: number | null;
  how: "reply" | "timeout" | "protocol" | "lookup" | "restart";
  /** One line for the user when the outcome is not the server's own answer (why it failed). */
  why: string | null;
}

export const RETRY_REFUSED_MS = 5_000;
/** Extra time an initializer waits past its own deadline before giving up on the server's answer. */
export const DEADLINE_GRACE_MS = 2_000;

export async function syncCall(call: SyncCall): Promise<SyncCallResult> {
  let address: string;
  try {
    address = (await lookup(call.host, { family: 4 })).address;
  } catch {
    return { exit: EXIT_NAME_LOOKUP, generation: null, how: "lookup", why: `cannot resolve ${call.host}` };
  }
  const deadlineMs = call.request.type === "init" ? (call.ext?.deadlineMs ?? 0) : 0;
  const giveUpMs = call.timeoutMs > 0 ? Math.max(call.timeoutMs, deadlineMs > 0 ? deadlineMs + DEADLINE_GRACE_MS : 0) : 0;
  return call.transport === "tcp" ? tcpCall(call, address, giveUpMs) : udpCall(call, address, giveUpMs);
}

function tcpRequest(call: SyncCall): Uint8Array {
  const ext: RequestExt | null = call.ext === null ? null : { ...call.ext, requestId: 1, cancel: false, epochKnown: false };
  return encodeRequest({ ...call.request, ext });
}

/** Connects (again every 5 s while refused), writes the request in one write and reads until EOF. */
function tcpCall(call: SyncCall, address: string, giveUpMs: number): Promise<SyncCallResult> {
  const bytes = tcpRequest(call);
  const where = `${address}:${call.port}`;
  const retryMs = call.retryRefusedMs ?? RETRY_REFUSED_MS;
  const started = Date.now();
  return new Promise((resolve) => {
    let finished = false;
    let retry: NodeJS.Timeout | null = null;
    let current: ReturnType<typeof connect> | null = null;
    let refused = 0;
    const finish = (r: SyncCallResult): void => {
      if (finished) return;
      finished = true;
      if (retry !== null) clearTimeout(retry);
      if (giveUp !== null) clearTimeout(giveUp);
      current?.destroy();
      resolve(r);
    };
    const giveUp = giveUpMs > 0
      ? setTimeout(() => finish({ exit: CODE_TIMEOUT, generation: null, how: "timeout", why: refused > 0 ? `gave up after ${giveUpMs / 1000} s: no sync server at ${where} (connection refused ${refused === 1 ? "once" : `${refused} times`})` : null }), giveUpMs)
      : null;
    let from = call.localAddress;
    const attempt = (): void => {
      const chunks: Buffer[] = [];
      const socket = connect({ host: address, port: call.port, noDelay: true, ...(from === undefined ? {} : { localAddress: from }) });
      current = socket;
      socket.on("connect", () => {
        socket.write(bytes);
        call.log?.(`connected to ${where}, request sent`);
        call.notify?.({ kind: "reached", address, port: call.port, transport: "tcp" });
      });
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("error", (error: NodeJS.ErrnoException) => {
        if (finished) return;
        if (error.code === "EADDRNOTAVAIL" && from !== undefined) {
          if (call.localAddressOptional !== true) return finish({ exit: EXIT_PROTOCOL, generation: null, how: "protocol", why: `this machine has no address ${from} to connect from` });
          call.log?.(`no address ${from} here; connecting from any`);
          from = undefined;
          return attempt();
        }
        if (error.code === "ECONNREFUSED") {
          refused++;
          call.log?.(`connection to ${where} refused; trying again in ${retryMs / 1000} s`);
          call.notify?.({ kind: "unreachable", address, port: call.port, transport: "tcp", tries: refused, retryMs, waitedMs: Date.now() - started });
          retry = setTimeout(attempt, retryMs);
          return;
        }
        finish({ exit: EXIT_PROTOCOL, generation: null, how: "protocol", why: `${where}: ${error.code ?? error.message}` });
      });
      socket.on("end", () => {
        const got = Buffer.concat(chunks);
        const reply = decodeReply(new Uint8Array(got));
        if (got.length === 0) return finish({ exit: EXIT_PROTOCOL, generation: null, how: "protocol", why: `the sync server at ${where} closed the connection without a reply (it stopped or restarted)` });
        if (!reply.ok) return finish({ exit: EXIT_PROTOCOL, generation: null, how: "protocol", why: `bad reply from the sync server at ${where}: ${reply.error}` });
        finish({ exit: reply.value.code, generation: reply.value.ext?.generation ?? null, how: "reply", why: null });
      });
    };
    attempt();
  });
}

/** A UDP socket bound to the node's address when one is given (else any); a reason when it cannot be. */
async function udpFrom(call: SyncCall): Promise<UdpNet | string> {
  const udp = new UdpNet(0);
  if (call.localAddress === undefined) {
    await udp.bind(0, "0.0.0.0");
    return udp;
  }
  try {
    await udp.bind(0, call.localAddress);
    return udp;
  } catch (error) {
    if (call.localAddressOptional !== true) return `cannot send from ${call.localAddress}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
    const any = new UdpNet(0);
    await any.bind(0, "0.0.0.0");
    return any;
  }
}

/** Runs the core UDP client on a real socket: retransmission, backoff and the lease keepalive. */
async function udpCall(call: SyncCall, address: string, giveUpMs: number): Promise<SyncCallResult> {
  const server = ipv4ToAddress(address) as number;
  const where = `${address}:${call.port}`;
  const udp = await udpFrom(call);
  if (typeof udp === "string") return { exit: EXIT_PROTOCOL, generation: null, how: "protocol", why: udp };
  const started = Date.now();
  return new Promise((resolve) => {
    let client: SyncClient | null = null;
    let sends = 0;
    let reached = false;
    // Each send after the first is a retransmission: while the server has not answered, the user hears of it.
    const net: Net = {
      self: udp.self,
      join: () => {},
      leave: () => {},
      send: (to, port, payload) => {
        udp.send(to, port, payload);
        sends++;
        if (sends > 1 && client?.epoch === null && client.outcome === null) {
          call.notify?.({ kind: "unreachable", address, port: call.port, transport: "udp", tries: sends, retryMs: CLIENT_DEFAULTS.retransmitMaxUs / 1000, waitedMs: Date.now() - started });
        }
      },
    };
    const { env, timers } = realEnv(net, { emit: (kind, fields) => call.log?.(`${kind} ${JSON.stringify(fields)}`) }, freshSeed(), () => client);
    client = new SyncClient(env, {
      ...CLIENT_DEFAULTS,
      server,
      port: call.port,
      ...call.request,
      extended: call.ext !== null,
      ...(call.ext ?? {}),
      timeoutUs: giveUpMs * 1000,
      onDone: (outcome) => {
        timers.close();
        // A cancel may still be queued on the socket: close it once it has left.
        void udp.flush().then(() => udp.close());
        resolve(udpResult(outcome, call, where, { sends, answered: c.epoch !== null || c.pendingReplies > 0 }));
      },
    });
    const c: SyncClient = client;
    udp.receive = (from, fromPort, bytes) => {
      c.receive(from, fromPort, bytes);
      if (!reached && c.epoch !== null && c.outcome === null) {
        reached = true;
        call.notify?.({ kind: "reached", address, port: call.port, transport: "udp" });
      }
    };
    c.start();
  });
}

function udpResult(outcome: SyncOutcome, call: SyncCall, where: string, seen: { sends: number; answered: boolean }): SyncCallResult {
  switch (outcome.source) {
    case "local":
      return {
        exit: CODE_TIMEOUT, generation: null, how: "timeout",
        why: seen.answered || call.ext === null ? null : `gave up after ${call.timeoutMs / 1000} s: no answer from a sync server at ${where} (${seen.sends} datagrams sent)`,
      };
    case "restart":
      return { exit: CODE_RESET, generation: null, how: "restart", why: `the sync server at ${where} restarted and forgot the barrier (its epoch changed); run the barrier again` };
    case "server":
      return { exit: outcome.code, generation: call.ext === null ? null : outcome.generation, how: "reply", why: null };
  }
}
