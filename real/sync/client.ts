import { lookup } from "node:dns/promises";
import { connect } from "node:net";
import {
  CLIENT_DEFAULTS,
  CODE_TIMEOUT,
  decodeReply,
  encodeRequest,
  EXIT_NAME_LOOKUP,
  EXIT_PROTOCOL,
  SyncClient,
  type RequestExt,
  type SyncRequest,
} from "../../core/sync/index.js";
import { freshSeed, ipv4ToAddress, realEnv, UdpNet } from "../runtime/index.js";

export interface SyncCall {
  host: string;
  port: number;
  transport: "tcp" | "udp";
  request: Omit<SyncRequest, "ext">;
  /** Our extensions, or null to send exactly the original's request (for an original server over UDP). */
  ext: Omit<RequestExt, "requestId" | "cancel"> | null;
  /** Give up locally after this long; 0 waits for ever, as the original does. */
  timeoutMs: number;
  /** A refused TCP connection is tried again after this long (the original: 5 s). */
  retryRefusedMs?: number;
  log?: (line: string) => void;
}

export interface SyncCallResult {
  /** The exit status: the reply's code, or 68 / 76 / 241 for lookup, protocol and local timeout. */
  exit: number;
  generation: number | null;
  how: "reply" | "timeout" | "protocol" | "lookup";
}

export const RETRY_REFUSED_MS = 5_000;
/** Extra time an initializer waits past its own deadline before giving up on the server's answer. */
export const DEADLINE_GRACE_MS = 2_000;

export async function syncCall(call: SyncCall): Promise<SyncCallResult> {
  let address: string;
  try {
    address = (await lookup(call.host, { family: 4 })).address;
  } catch {
    call.log?.(`cannot resolve ${call.host}`);
    return { exit: EXIT_NAME_LOOKUP, generation: null, how: "lookup" };
  }
  const deadlineMs = call.request.type === "init" ? (call.ext?.deadlineMs ?? 0) : 0;
  const giveUpMs = call.timeoutMs > 0 ? Math.max(call.timeoutMs, deadlineMs > 0 ? deadlineMs + DEADLINE_GRACE_MS : 0) : 0;
  return call.transport === "tcp" ? tcpCall(call, address, giveUpMs) : udpCall(call, address, giveUpMs);
}

function tcpRequest(call: SyncCall): Uint8Array {
  const ext: RequestExt | null = call.ext === null ? null : { ...call.ext, requestId: 1, cancel: false };
  return encodeRequest({ ...call.request, ext });
}

/** Connects (again every 5 s while refused), writes the request in one write and reads until EOF. */
function tcpCall(call: SyncCall, address: string, giveUpMs: number): Promise<SyncCallResult> {
  const bytes = tcpRequest(call);
  return new Promise((resolve) => {
    let finished = false;
    let retry: NodeJS.Timeout | null = null;
    let current: ReturnType<typeof connect> | null = null;
    const finish = (r: SyncCallResult): void => {
      if (finished) return;
      finished = true;
      if (retry !== null) clearTimeout(retry);
      if (giveUp !== null) clearTimeout(giveUp);
      current?.destroy();
      resolve(r);
    };
    const giveUp = giveUpMs > 0 ? setTimeout(() => finish({ exit: CODE_TIMEOUT, generation: null, how: "timeout" }), giveUpMs) : null;
    const attempt = (): void => {
      const chunks: Buffer[] = [];
      const socket = connect({ host: address, port: call.port, noDelay: true });
      current = socket;
      socket.on("connect", () => socket.write(bytes));
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("error", (error: NodeJS.ErrnoException) => {
        if (finished) return;
        if (error.code === "ECONNREFUSED") {
          call.log?.(`connection to ${address}:${call.port} refused; trying again in ${(call.retryRefusedMs ?? RETRY_REFUSED_MS) / 1000} s`);
          retry = setTimeout(attempt, call.retryRefusedMs ?? RETRY_REFUSED_MS);
          return;
        }
        call.log?.(`${address}:${call.port}: ${error.code ?? error.message}`);
        finish({ exit: EXIT_PROTOCOL, generation: null, how: "protocol" });
      });
      socket.on("end", () => {
        const reply = decodeReply(new Uint8Array(Buffer.concat(chunks)));
        if (!reply.ok) {
          call.log?.(`bad reply from the server: ${reply.error}`);
          return finish({ exit: EXIT_PROTOCOL, generation: null, how: "protocol" });
        }
        finish({ exit: reply.value.code, generation: reply.value.ext?.generation ?? null, how: "reply" });
      });
    };
    attempt();
  });
}

/** Runs the core UDP client on a real socket: retransmission, backoff and the lease keepalive. */
async function udpCall(call: SyncCall, address: string, giveUpMs: number): Promise<SyncCallResult> {
  const server = ipv4ToAddress(address) as number;
  const net = new UdpNet(0);
  await net.bind(0, "0.0.0.0");
  return new Promise((resolve) => {
    let client: SyncClient | null = null;
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
        // A cancel may still be queued on the socket: close it after this turn of the loop.
        setImmediate(() => net.close());
        resolve(outcome.source === "local"
          ? { exit: CODE_TIMEOUT, generation: null, how: "timeout" }
          : { exit: outcome.code, generation: call.ext === null ? null : outcome.generation, how: "reply" });
      },
    });
    const c = client;
    net.receive = (from, fromPort, bytes) => c.receive(from, fromPort, bytes);
    c.start();
  });
}
