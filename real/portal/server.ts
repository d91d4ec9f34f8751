import { createHash, timingSafeEqual } from "node:crypto";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { ExperimentError, type ExperimentStore } from "../store/index.js";
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from "./page.js";
import { cachedRunHistory, historySwap, planHistoryChart, swapHistoryChart, type RunHistory } from "./history.js";
import { experimentSnapshot, listSnapshot, PORTAL_RUNS_MAX } from "./snapshot.js";
import { StreamHub, STREAM_CLIENTS_MAX } from "./stream.js";

/** How often the portal asks the store whether anything changed (one pragma; another process's swap shows within it). */
export const PORTAL_WATCH_MS = 200;
/** A comment on every stream this often, so a page that has gone is noticed. */
export const PORTAL_KEEPALIVE_MS = 15_000;
/** Request bodies are a few flags; anything larger is refused before it is read. */
export const PORTAL_BODY_BYTES_MAX = 4_096;
/** A request whose headers have not arrived by then is dropped. */
export const PORTAL_REQUEST_TIMEOUT_MS = 10_000;

export type PortalSwap = "swapin" | "swapout";

/** What the portal may change; bin wires these to the swap driver. Each throws an ExperimentError when the store refuses. */
export interface PortalActions {
  /** Resolves once the swap has started (the state moved); rejects with the refusal otherwise. */
  swap(name: string, action: PortalSwap): Promise<void>;
}

export interface PortalOptions {
  readonly host: string;
  /** 0: the kernel picks one (tests). */
  readonly port: number;
  readonly store: ExperimentStore;
  /** Anything that changes state needs it, as `Authorization: Bearer TOKEN`. */
  readonly token: string;
  readonly actions: PortalActions;
  readonly watchMs?: number;
  readonly clientsMax?: number;
}

export interface RunningPortal {
  readonly url: string;
  readonly port: number;
  /** Asks the store now rather than at the next watch tick (after a change made in this process). */
  changed(): void;
  close(): Promise<void>;
}

export class PortalListenError extends Error {
  override readonly name = "PortalListenError";
}

/**
 * The web portal: pages and a JSON API over the experiment store, with live updates pushed as
 * server-sent events. Reading needs nothing; swapping and the save-disk-state flag need the token.
 * The store is the only state: the portal shows swaps run by any process on the same store file.
 */
export async function startPortal(o: PortalOptions): Promise<RunningPortal> {
  const app = Fastify({ bodyLimit: PORTAL_BODY_BYTES_MAX, requestTimeout: PORTAL_REQUEST_TIMEOUT_MS, forceCloseConnections: true, logger: false });
  const hub = new StreamHub(o.clientsMax ?? STREAM_CLIENTS_MAX);
  const history = cachedRunHistory(o.store);
  const snapshots = {
    list: () => JSON.stringify(listSnapshot(o.store, history())),
    experiment: (name: string) => {
      const s = experimentSnapshot(o.store, name);
      return s === undefined ? undefined : JSON.stringify(s);
    },
  };
  routes(app, o, hub, snapshots);
  chartRoutes(app, o.store, history);
  let version = o.store.dataVersion();
  const publish = (): void => {
    version = o.store.dataVersion();
    if (hub.size > 0) hub.publish(snapshots);
  };
  const watch = setInterval(() => {
    if (o.store.dataVersion() !== version) publish();
  }, o.watchMs ?? PORTAL_WATCH_MS);
  const keepAlive = setInterval(() => hub.keepAlive(), PORTAL_KEEPALIVE_MS);
  try {
    await app.listen({ host: o.host, port: o.port });
  } catch (error) {
    clearInterval(watch);
    clearInterval(keepAlive);
    await app.close();
    throw new PortalListenError(`cannot listen on ${o.host}:${o.port}: ${(error as Error).message}`);
  }
  const port = (app.server.address() as { port: number }).port;
  const host = o.host.includes(":") ? `[${o.host}]` : o.host;
  return {
    url: `http://${host}:${port}/`,
    port,
    changed: publish,
    close: async () => {
      clearInterval(watch);
      clearInterval(keepAlive);
      hub.closeAll();
      await app.close();
    },
  };
}

function routes(app: FastifyInstance, o: PortalOptions, hub: StreamHub, snapshots: { list: () => string; experiment: (name: string) => string | undefined }): void {
  const page = (type: string, body: string) => (_req: FastifyRequest, reply: FastifyReply) => reply.type(type).header("content-security-policy", "default-src 'self'").header("x-content-type-options", "nosniff").send(body);
  app.get("/", page("text/html; charset=utf-8", PAGE_HTML));
  app.get("/app.js", page("text/javascript; charset=utf-8", PAGE_JS));
  app.get("/app.css", page("text/css; charset=utf-8", PAGE_CSS));
  app.get("/api/experiments", (_req, reply) => reply.type("application/json").send(snapshots.list()));
  app.get<{ Params: { name: string } }>("/api/experiments/:name", (req, reply) => {
    const s = snapshots.experiment(req.params.name);
    if (s === undefined) return reply.code(404).send({ error: `no experiment named ${req.params.name}` });
    return reply.type("application/json").send(s);
  });
  app.get<{ Querystring: { experiment?: string } }>("/api/stream", (req, reply) => {
    if (hub.full()) return reply.code(503).send({ error: `too many pages watching (at most ${STREAM_CLIENTS_MAX}); close one and reload` });
    reply.hijack();
    hub.open(reply.raw, typeof req.query.experiment === "string" ? req.query.experiment : null, snapshots);
    return reply;
  });
  const guarded = { preHandler: tokenCheck(o.token) };
  for (const action of ["swapin", "swapout"] as const) {
    app.post<{ Params: { name: string } }>(`/api/experiments/:name/${action}`, guarded, async (req, reply) => {
      try {
        await o.actions.swap(req.params.name, action);
      } catch (error) {
        if (error instanceof ExperimentError) return reply.code(409).send({ error: error.message });
        throw error;
      }
      hub.publish(snapshots);
      return reply.code(202).send({ started: action, experiment: req.params.name });
    });
  }
  app.post<{ Params: { name: string }; Body: unknown }>("/api/experiments/:name/save-disk-state", guarded, (req, reply) => {
    const save = (req.body as { save?: unknown } | null)?.save;
    if (typeof save !== "boolean") return reply.code(400).send({ error: 'expected a JSON body {"save": true|false}' });
    try {
      o.store.setSaveDiskState(req.params.name, save);
    } catch (error) {
      if (error instanceof ExperimentError) return reply.code(404).send({ error: error.message });
      throw error;
    }
    hub.publish(snapshots);
    return reply.send({ experiment: req.params.name, saveDiskState: save });
  });
  app.setErrorHandler((error: { statusCode?: number; message: string }, _req, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    void reply.code(status).send({ error: status === 500 ? "internal error (see the portal's log)" : error.message });
    if (status === 500) console.error(`portal: ${error.message}`);
  });
}

/**
 * The run history's charts, drawn by the planners' own chart code (core/chart): every swap, or one
 * experiment's, on the `plan swap` chart; a stored `plan frisbee` on its chart. 404 when there is
 * nothing to draw yet. The page shows them as images, so no markup from the store reaches it.
 */
function chartRoutes(app: FastifyInstance, store: ExperimentStore, history: () => RunHistory): void {
  const svg = (reply: FastifyReply, chart: string | undefined, what: string) =>
    chart === undefined
      ? reply.code(404).send({ error: `no ${what} to chart yet` })
      : reply.type("image/svg+xml; charset=utf-8").header("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'").header("x-content-type-options", "nosniff").header("cache-control", "no-store").send(chart);
  app.get<{ Querystring: { experiment?: string } }>("/charts/swaps.svg", (req, reply) => {
    const name = req.query.experiment;
    if (typeof name !== "string") return svg(reply, swapHistoryChart(history().swaps), "finished swap");
    return svg(reply, swapHistoryChart(store.swapRuns(name, PORTAL_RUNS_MAX).map(historySwap)), `finished swap of ${name}`);
  });
  app.get<{ Querystring: { id?: string } }>("/charts/plan.svg", (req, reply) => {
    const id = Number(req.query.id);
    return svg(reply, typeof req.query.id === "string" && Number.isSafeInteger(id) ? planHistoryChart(history().plans, id) : undefined, `plan ${req.query.id ?? "(give ?id=N)"}`);
  });
}

/** Refuses a request without the token (401), comparing digests so that time says nothing about the token. */
function tokenCheck(token: string) {
  const want = createHash("sha256").update(token).digest();
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = req.headers.authorization ?? "";
    const given = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
    const got = createHash("sha256").update(given).digest();
    if (given === "" || !timingSafeEqual(got, want)) {
      await reply.code(401).header("www-authenticate", "Bearer").send({ error: given === "" ? "this changes state: send the portal's token as Authorization: Bearer TOKEN" : "wrong token" });
    }
  };
}
