import { CHUNK_BLOCKS } from "../../../core/frisbee/constants.js";
import type { FrisbeePlanOptions } from "../plan-options.js";
import { startTimes } from "../start.js";
import { summarizeFrisbee, type FrisbeeStats } from "../stats.js";
import { ChunkClients } from "./clients.js";
import type { Segment } from "./containers.js";
import { ChunkServer } from "./server.js";
import { chunkSetup, type ChunkHandlers, type ChunkSetup } from "./setup.js";

/**
 * The chunk-level model of Frisbee, for planning thousands of clients. It keeps the packet model's
 * protocol (the same work queue and merge rules, burst pacing, random chunk orders, request-ahead
 * and in-progress limits, chunk buffers, 1 s suppression by stamps, idle requests with back-off,
 * the receive/decompress/write pipeline), but the server sends the head of its queue as one
 * *segment* (every wanted block of that chunk) and each client takes a segment in one step, its
 * losses drawn per receiver (or once, at the server). The simplifications, each checked by the
 * fidelity test against the packet model:
 * - a segment reaches clients when its last block would; no block of it earlier;
 * - snooped requests stamp a chunk for everyone at once (one stamp array shared by all clients);
 * - clients tick idle together, in the server's silences (a busy server is never silent for a
 *   30 ms receive timeout, so a client hearing data is never idle, as in the packet model);
 * - control messages and heartbeats travel with fixed delays; heartbeats are counted, not sent;
 *   with `serverQueue`, requests also pass the server link's queue (whole microseconds per packet,
 *   as the packet model's links), in the order the switch would interleave them; those that find
 *   it full are dropped, the rest reach the work queue when they have passed it; and clients that
 *   lose a packet heard in a silence tick ahead of the rest (ChunkClients.heardInSilence).
 * It is valid for Bernoulli loss, bursts at most one receive timeout apart, and client links at
 * least as fast as the server (no queueing at the clients); `chunkModelValidity` says so.
 */

export interface ChunkModelResult {
  stats: FrisbeeStats;
  /** Whole-chunk and partial requests the clients sent, blocks the server sent. */
  requests: number;
  prequests: number;
  blocksSent: number;
  /** Requests the server's link dropped for a full queue (with serverQueue). */
  controlQueueDrops: number;
  /** Requests and blocks the clients' downlinks dropped for a full queue (with serverQueue). */
  downlinkDrops: { requests: number; blocks: number };
  events: number;
  simSeconds: number;
  traceHash: string;
  /** When each client had the whole image written (microseconds; -1 for one that never finished). */
  clientDoneUs: Float64Array;
}

/** Events between progress reports. */
const PROGRESS_EVENTS = 500_000;

/** Runs one row; `onProgress` hears the fraction of all clients' chunks written so far. */
export function runChunkModel(o: FrisbeePlanOptions, clients: number, loss: number, onProgress?: (fraction: number) => void): ChunkModelResult {
  const s = chunkSetup(o, clients, loss);
  let side!: { clients: ChunkClients; server: ChunkServer };
  const e = s.engine;
  const h: ChunkHandlers = {
    start: e.register("chunk.start", (i) => side.clients.start(i)),
    joined: e.register("chunk.joined", (i) => side.clients.joined(i)),
    joinRetry: e.register("chunk.join-retry", (i) => side.clients.sendJoin(i)),
    segmentEnd: e.register("chunk.segment-end", () => side.server.segmentEnd()),
    deliver: e.register<Segment>("chunk.deliver", (_, segment) => side.clients.deliver(segment)),
    inflated: e.register("chunk.inflated", (i) => side.clients.inflated(i)),
    written: e.register("chunk.written", (i) => side.clients.writtenDone(i)),
    tick: e.register("chunk.tick", () => side.server.tick()),
    serve: e.register("chunk.serve", () => side.server.serve()),
  };
  const c = new ChunkClients(s, h);
  side = { clients: c, server: new ChunkServer(s, h, c) };
  c.server = side.server;
  return run(s, h, side.clients, side.server, onProgress);
}

function run(s: ChunkSetup, h: ChunkHandlers, clients: ChunkClients, server: ChunkServer, onProgress?: (fraction: number) => void): ChunkModelResult {
  const { o, engine, n, pacing } = s;
  const times = startTimes(o.start, n, 0, s.rng.fork("starts"));
  for (let i = 0; i < n; i++) {
    clients.startUs[i] = times[i] as number;
    engine.at(times[i] as number, h.start, i);
  }
  const slowestMiBs = Math.min(o.clientMbps / 8, o.diskMiBs, o.inflateMiBs, (pacing.burstPackets * 1e6) / pacing.burstGapUs / 1024);
  const untilUs = Math.ceil((100 * o.dataMiB) / slowestMiBs + 60) * 1e6;
  while (engine.run({ untilUs, eventsMax: PROGRESS_EVENTS }) === "eventsMax") onProgress?.(clients.writtenTotal / (n * s.chunks));
  onProgress?.(1);
  let lastDoneUs = 0;
  for (let i = 0; i < n; i++) lastDoneUs = Math.max(lastDoneUs, clients.doneUs[i] as number);
  const k = s.counts;
  return { stats: stats(s, clients, server), requests: k.requests, prequests: k.prequests, blocksSent: k.blocksSent, controlQueueDrops: k.controlQueueDrops, downlinkDrops: { requests: s.downlink?.requestDrops ?? 0, blocks: s.downlink?.blockDrops ?? 0 }, events: engine.executed, simSeconds: lastDoneUs / 1e6, traceHash: engine.trace.hex(), clientDoneUs: clients.doneUs.slice() };
}

function stats(s: ChunkSetup, clients: ChunkClients, server: ChunkServer): FrisbeeStats {
  const hb = clients.heartbeats();
  const dupBlocks = s.counts.dupBlocks + Math.round(clients.dupExpected);
  return summarizeFrisbee({
    clients: s.n,
    runtimesSec: clients.runtimesSec(),
    imageBlocks: s.chunks * CHUNK_BLOCKS,
    blocksSent: s.counts.blocksSent,
    blocksReceived: s.counts.blocksReceived + dupBlocks,
    dupBlocks,
    activeSec: (server.lastSendUs - server.firstSendUs) / 1e6,
    controlMessages: s.counts.control,
    heartbeatsReceived: hb.received,
    heartbeatsLost: hb.lost,
  });
}
