import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { startSyncServer, type RunningSyncServer } from "../../../real/sync/server.js";
import { emulabFixture } from "../../fixtures/emulab.js";

export interface Capture {
  description: string;
  direction: string;
  hex: string;
  length: number;
  connection?: string;
  fields: Record<string, unknown>;
}

export const captures = JSON.parse(readFileSync(emulabFixture("sync.json"), "utf8")) as Capture[];

export function capture(connection: string, direction: "client->server" | "server->client"): Capture {
  const c = captures.find((x) => x.connection === connection && x.direction === direction);
  if (c === undefined) throw new Error(`no capture for connection ${connection} ${direction}`);
  return c;
}

export const hexBytes = (h: string): Buffer => Buffer.from(h, "hex");

export async function startServer(extra: Partial<Parameters<typeof startSyncServer>[0]> = {}): Promise<RunningSyncServer & { events: { kind: string; fields: Record<string, unknown> }[] }> {
  const events: { kind: string; fields: Record<string, unknown> }[] = [];
  const server = await startSyncServer({
    port: 0,
    host: "127.0.0.1",
    tcp: true,
    udp: false,
    events: { emit: (kind, fields) => void events.push({ kind, fields: { ...fields } }) },
    ...extra,
  });
  return Object.assign(server, { events });
}

/** A raw TCP exchange as the original client does it: write the bytes, read until EOF. */
export interface RawExchange {
  /** Everything received, once the server closed. */
  done: Promise<Buffer>;
  received(): Buffer;
  close(): void;
  connected: Promise<void>;
  readonly closed: boolean;
}

/** `from`: the local address to connect from (another loopback address stands for another peer). */
export function rawTcp(port: number, bytes: Buffer | null, from?: string): RawExchange {
  const chunks: Buffer[] = [];
  const socket = connect({ host: "127.0.0.1", port, ...(from === undefined ? {} : { localAddress: from }) });
  const connected = new Promise<void>((resolve) => socket.on("connect", () => resolve()));
  if (bytes !== null) socket.on("connect", () => socket.write(bytes));
  socket.on("data", (c: Buffer) => chunks.push(c));
  socket.on("error", () => {});
  let closed = false;
  const done = new Promise<Buffer>((resolve) => socket.on("close", () => ((closed = true), resolve(Buffer.concat(chunks)))));
  return {
    done, received: () => Buffer.concat(chunks), close: () => socket.destroy(), connected,
    get closed() {
      return closed;
    },
  };
}

/**
 * Waits until `cond` holds, polling the event loop. No wall-clock bound of its own (a slow machine is
 * not a failure): the test's timeout ends a wait for something that never comes.
 */
export async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}
