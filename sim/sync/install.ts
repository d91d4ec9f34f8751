import type { Env, EventSink } from "../../core/engine/index.js";
import { SyncClient, SyncDaemon } from "../../core/sync/index.js";
import { startTimes } from "../frisbee/start.js";
import type { World } from "../world.js";
import { SYNC_CLIENT_PORT_BASE, type SyncBarrierDecl, type SyncDecl } from "./decl.js";

export interface SyncClientLife {
  barrier: SyncBarrierDecl;
  host: number;
  init: boolean;
  client: SyncClient;
  /** Global times: the first datagram sent, and when the outcome was known. */
  firstSendUs: number | null;
  outcomeUs: number | null;
}

/** A server-side fact, in global time. */
export interface SyncServerRecord {
  kind: "init" | "release";
  name: string;
  generation: number;
  code: number;
  atUs: number;
}

export interface SyncBuilt {
  decl: SyncDecl;
  daemons: SyncDaemon[];
  records: SyncServerRecord[];
  clients: SyncClientLife[];
}

/** Most server records kept; a run beyond it is judged on a prefix. */
export const SYNC_RECORDS_MAX = 1_000_000;

/**
 * Installs a sync daemon on its host and, at their times, a client per participant of each barrier;
 * records the server's inits and releases and each client's first send in global time.
 */
export function installSync(world: World, decl: SyncDecl): SyncBuilt {
  const built: SyncBuilt = { decl, daemons: [], records: [], clients: [] };
  world.install(world.hosts[decl.server]!, decl.port, (env) => {
    const daemon = new SyncDaemon(recordServer(env, built, () => world.now()), { leaseUs: decl.leaseUs });
    built.daemons.push(daemon);
    return daemon;
  });
  const rng = world.rng.fork("sync-starts");
  for (const b of decl.barriers) {
    const times = b.arrivalsUs ?? startTimes(b.arrive, b.waiters.length, b.arriveAtUs, rng.fork(`barrier:${b.index}`));
    b.waiters.forEach((h, i) => world.call(times[i] as number, () => installClient(world, built, b, h, false)));
    world.call(b.initAtUs, () => installClient(world, built, b, b.initializer, true));
  }
  return built;
}

function installClient(world: World, built: SyncBuilt, b: SyncBarrierDecl, h: number, init: boolean): void {
  const host = world.hosts[h]!;
  const port = SYNC_CLIENT_PORT_BASE + b.index;
  if (host.factories.has(port)) return;
  world.install(host, port, (env) => {
    const life: SyncClientLife = { barrier: b, host: h, init, client: null as unknown as SyncClient, firstSendUs: null, outcomeUs: null };
    life.client = new SyncClient(recordFirstSend(env, life, () => world.now()), {
      server: built.decl.server,
      port: built.decl.port,
      type: init ? "init" : "wait",
      name: b.name,
      count: init ? b.count : 0,
      error: b.errors.get(h) ?? 0,
      noWait: init && b.noWait,
      extended: b.extended,
      crash: b.crash,
      extra: b.extra,
      deadlineMs: init ? b.deadlineMs : 0,
      generation: 0,
      retransmitUs: b.retransmitUs,
      retransmitMaxUs: b.retransmitMaxUs,
      timeoutUs: 0,
      onDone: () => {
        life.outcomeUs = world.now();
      },
    });
    built.clients.push(life);
    return life.client;
  });
}

function recordFirstSend(env: Env, life: SyncClientLife, now: () => number): Env {
  return {
    ...env,
    net: {
      self: env.net.self,
      join: (g) => env.net.join(g),
      leave: (g) => env.net.leave(g),
      send: (to, port, payload) => {
        life.firstSendUs ??= now();
        env.net.send(to, port, payload);
      },
    },
  };
}

/** Keeps the server's inits and releases, with global times, for the invariants. */
function recordServer(env: Env, built: SyncBuilt, now: () => number): Env {
  const events: EventSink = {
    emit: (kind, fields) => {
      if ((kind === "sync.init" || kind === "sync.release") && built.records.length < SYNC_RECORDS_MAX) {
        built.records.push({
          kind: kind === "sync.init" ? "init" : "release",
          name: String(fields["name"]),
          generation: Number(fields["generation"]),
          code: kind === "sync.release" ? Number(fields["code"]) : 0,
          atUs: now(),
        });
      }
      env.events.emit(kind, fields);
    },
  };
  return { ...env, events };
}
