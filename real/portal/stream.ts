import type { ServerResponse } from "node:http";

/** Pages watching at once; one past it is refused (503) rather than held. */
export const STREAM_CLIENTS_MAX = 64;
/** Bytes a page may leave unread; a slower page is dropped, so a stalled peer holds no memory. */
export const STREAM_BUFFER_MAX = 4 * 1024 * 1024;

/** One page's event stream: what it watches and what it was last sent. */
interface Client {
  readonly raw: ServerResponse;
  /** The experiment the page shows, or null for the list alone. */
  readonly experiment: string | null;
  lastList: string;
  lastExperiment: string;
}

/** What a publish sends: the list, and an experiment's snapshot (undefined once it is gone). */
export interface Snapshots {
  list(): string;
  experiment(name: string): string | undefined;
}

/**
 * The pages' server-sent event streams. A publish computes each snapshot once (the list, each
 * watched experiment) and sends a page only what changed since its last one.
 */
export class StreamHub {
  private readonly clients = new Set<Client>();
  dropped = 0;

  constructor(private readonly limit = STREAM_CLIENTS_MAX) {}

  get size(): number {
    return this.clients.size;
  }

  full(): boolean {
    return this.clients.size >= this.limit;
  }

  /** Starts a stream on a hijacked response; the page gets its first snapshot at once. */
  open(raw: ServerResponse, experiment: string | null, snapshots: Snapshots): void {
    raw.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive", "x-content-type-options": "nosniff" });
    raw.write("retry: 2000\n\n");
    const client: Client = { raw, experiment, lastList: "", lastExperiment: "" };
    this.clients.add(client);
    raw.once("close", () => this.clients.delete(client));
    this.publishTo(client, snapshots, new Map());
  }

  publish(snapshots: Snapshots): void {
    const cache = new Map<string, string | undefined>();
    for (const client of this.clients) this.publishTo(client, snapshots, cache);
  }

  /** A comment line, so that proxies keep the stream open and a page that has gone is noticed. */
  keepAlive(): void {
    for (const client of this.clients) this.send(client, ": keep-alive\n\n");
  }

  closeAll(): void {
    for (const client of this.clients) client.raw.end();
    this.clients.clear();
  }

  private publishTo(client: Client, snapshots: Snapshots, cache: Map<string, string | undefined>): void {
    if (!cache.has("")) cache.set("", snapshots.list());
    const list = cache.get("") as string;
    if (list !== client.lastList) {
      client.lastList = list;
      this.send(client, `event: list\ndata: ${list}\n\n`);
    }
    if (client.experiment === null) return;
    const key = `e:${client.experiment}`;
    if (!cache.has(key)) cache.set(key, snapshots.experiment(client.experiment));
    const snapshot = cache.get(key) ?? JSON.stringify({ name: client.experiment, gone: true });
    if (snapshot !== client.lastExperiment) {
      client.lastExperiment = snapshot;
      this.send(client, `event: experiment\ndata: ${snapshot}\n\n`);
    }
  }

  private send(client: Client, text: string): void {
    if (client.raw.writableLength > STREAM_BUFFER_MAX) {
      this.dropped++;
      this.clients.delete(client);
      client.raw.destroy();
      return;
    }
    client.raw.write(text);
  }
}
