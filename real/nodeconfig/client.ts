import { connect } from "node:net";
import type { NodeConfigCommand } from "../../core/experiment/nodeconfig.js";

/** Longest answer a node reads (a node with every partition loading fits easily). */
export const ANSWER_BYTES_MAX = 64 * 1024;
export const ASK_TIMEOUT_MS = 10_000;

export class NodeConfigError extends Error {
  override readonly name = "NodeConfigError";
}

export interface AskOptions {
  readonly host: string;
  readonly port: number;
  /** The node's own address: the server knows the node by it (bind the connection to it). */
  readonly localAddress?: string;
  readonly command: NodeConfigCommand;
  readonly timeoutMs?: number;
}

/** Asks the node-configuration server one question, as tmcc does; resolves with the answer's lines. */
export function askNodeConfig(o: AskOptions): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: o.host, port: o.port, ...(o.localAddress === undefined ? {} : { localAddress: o.localAddress }) });
    let text = "";
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(new NodeConfigError(`node configuration from ${o.host}:${o.port}: ${why}`));
    };
    socket.setTimeout(o.timeoutMs ?? ASK_TIMEOUT_MS, () => fail(`no answer to ${o.command} within ${Math.round((o.timeoutMs ?? ASK_TIMEOUT_MS) / 1000)} s`));
    socket.setEncoding("latin1");
    socket.on("connect", () => socket.end(`${o.command}\n`));
    socket.on("data", (chunk: string) => {
      text += chunk;
      if (text.length > ANSWER_BYTES_MAX) fail(`answer longer than ${ANSWER_BYTES_MAX} bytes`);
    });
    socket.on("error", (e: NodeJS.ErrnoException) => fail(e.code === "ECONNREFUSED" ? "connection refused (is `testbed nodeconfig` running there?)" : e.code === "EADDRNOTAVAIL" ? `this machine has no address ${o.localAddress ?? ""}` : (e.code ?? e.message)));
    socket.on("close", () => {
      if (settled) return;
      settled = true;
      resolve(text.split("\n").filter((l) => l !== ""));
    });
  });
}

/** "host:port" as --tmcd takes it, or null. */
export function parseTmcd(text: string): { host: string; port: number } | null {
  const m = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
  if (m === null) return null;
  const port = Number(m[2]);
  return port >= 1 && port <= 65_535 ? { host: m[1] as string, port } : null;
}
