import { groupAddress, type Env } from "../../core/engine/index.js";
import { FrisbeeClient, type ChunkLayout } from "../../core/frisbee/client.js";
import { CHUNK_BLOCKS, CHUNK_BYTES } from "../../core/frisbee/constants.js";
import { FrisbeeServer } from "../../core/frisbee/server.js";
import { withSend } from "../send-hook.js";
import type { World } from "../world.js";
import type { FrisbeeClientsDecl, FrisbeeDecl, FrisbeeServerDecl } from "./decl.js";
import { startTimes } from "./start.js";

export interface ServerLife {
  decl: FrisbeeServerDecl;
  server: FrisbeeServer;
  /** Global times at which this life put a block on the wire (for the rate invariant). */
  blockSendsUs: number[];
}

export interface ClientLife {
  host: number;
  decl: FrisbeeClientsDecl;
  startUs: number;
  client: FrisbeeClient;
}

export interface FrisbeeBuilt {
  decl: FrisbeeDecl;
  servers: ServerLife[];
  clients: ClientLife[];
  layouts: ChunkLayout[];
  /** Client hosts and when each starts. */
  starts: { host: number; atUs: number; decl: FrisbeeClientsDecl }[];
}

/** Most block send times kept per server life; beyond it the rate check covers a prefix. */
export const BLOCK_SENDS_KEPT_MAX = 5_000_000;

/** The image's chunks share its sizes evenly; chunk c lands at c times the raw chunk size. */
export function evenLayout(compressedBytes: number, uncompressedBytes: number): ChunkLayout & { chunks: number } {
  const chunks = Math.ceil(compressedBytes / CHUNK_BYTES);
  const raw = Math.floor(uncompressedBytes / chunks);
  const lastRaw = uncompressedBytes - raw * (chunks - 1);
  const compressed = Math.min(CHUNK_BYTES, Math.ceil(compressedBytes / chunks));
  return {
    chunks,
    compressedBytes: () => compressed,
    rawOffset: (c) => c * raw,
    rawBytes: (c) => (c === chunks - 1 ? lastRaw : raw),
  };
}

/** Puts a scenario's Frisbee servers into the world at once and each client at its start time. */
export function installFrisbee(world: World, decl: FrisbeeDecl): FrisbeeBuilt {
  const built: FrisbeeBuilt = { decl, servers: [], clients: [], layouts: [], starts: [] };
  for (const s of decl.servers) {
    const layout = evenLayout(s.compressedBytes, s.uncompressedBytes);
    built.layouts.push(layout);
    world.install(world.hosts[s.host]!, s.port, (env) => {
      const life: ServerLife = { decl: s, server: null as unknown as FrisbeeServer, blockSendsUs: [] };
      life.server = new FrisbeeServer(recordBlocks(env, life.blockSendsUs, () => world.now()), {
        group: groupAddress(s.group),
        port: s.port,
        image: { blockCount: layout.chunks * CHUNK_BLOCKS, byteCount: layout.chunks * CHUNK_BYTES, uncompressedBytes: s.uncompressedBytes },
        pacing: s.pacing,
        dynamic: s.dynamic,
        idleExitUs: s.idleExitUs,
        progressRequest: s.progressRequest,
      });
      built.servers.push(life);
      return life.server;
    });
  }
  const rng = world.rng.fork("frisbee-starts");
  decl.clients.forEach((c, group) => {
    const server = decl.servers[c.server]!;
    const times = startTimes(c.start, c.hosts.length, c.startUs, rng.fork(`group:${group}`));
    c.hosts.forEach((h, i) => {
      const atUs = times[i] as number;
      built.starts.push({ host: h, atUs, decl: c });
      world.call(atUs, () => installClient(world, built, h, c, server, built.layouts[c.server]!, atUs));
    });
  });
  return built;
}

function installClient(world: World, built: FrisbeeBuilt, h: number, c: FrisbeeClientsDecl, s: FrisbeeServerDecl, layout: ChunkLayout, atUs: number): void {
  const host = world.hosts[h]!;
  world.install(host, s.port, (env) => {
    const client = new FrisbeeClient(env, {
      group: groupAddress(s.group),
      port: s.port,
      clientId: h + 1,
      join2: c.join2,
      layout,
      heartbeatIntervalUs: c.heartbeatUs,
      leaveAtUs: c.leaveAtUs,
    });
    built.clients.push({ host: h, decl: c, startUs: Math.max(atUs, world.now()), client });
    return client;
  });
}

/** Wraps a server's ports so every block it sends is timestamped (global time) for the rate check. */
function recordBlocks(env: Env, sends: number[], now: () => number): Env {
  return withSend(env, (net, to, port, payload) => {
    if (!(payload instanceof Uint8Array) && payload.type === "block" && sends.length < BLOCK_SENDS_KEPT_MAX) sends.push(now());
    net.send(to, port, payload);
  });
}

/** Chunks of a server's image (as evenLayout cuts it). */
export function chunksOf(f: FrisbeeBuilt, server: number): number {
  const s = f.decl.servers[server]!;
  return Math.ceil(s.compressedBytes / CHUNK_BYTES);
}
