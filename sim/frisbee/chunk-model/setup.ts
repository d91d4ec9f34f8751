import { createRng, Engine, serialisationUs, type HandlerId, type Rng } from "../../../core/engine/index.js";
import { BITMAP_BYTES, CHUNK_BLOCKS, CHUNK_BYTES } from "../../../core/frisbee/constants.js";
import { msg } from "../../../core/frisbee/messages.js";
import type { BurstPacing } from "../../../core/frisbee/rate.js";
import { PLAN_NETWORK, planServerLinkMbps } from "../plan-network.js";
import type { FrisbeePlanOptions } from "../plan-options.js";
import type { Segment } from "./containers.js";
import { SharedDownlink } from "./downlink.js";
import { blockWireBits, planPacing } from "./validity.js";

/** What the server and the clients of one chunk-model run share: the engine, the draws, the row's figures. */

export const BITMAP_WORDS = BITMAP_BYTES / 4;
export const REQUEST_WIRE_BYTES = msg.request(0, 0, 1).wireBytes + PLAN_NETWORK.headerBytes;
export const PREQUEST_WIRE_BYTES = msg.prequest(0, 0, new Uint8Array(BITMAP_BYTES)).wireBytes + PLAN_NETWORK.headerBytes;
/** A request's way through the switch beyond the two links' latency. */
const CONTROL_SWITCH_US = 20;

/** What both sides count for the row. */
export interface ChunkCounts {
  blocksSent: number;
  blocksReceived: number;
  dupBlocks: number;
  noBufferBlocks: number;
  requests: number;
  prequests: number;
  joins: number;
  leaves: number;
  control: number;
  controlQueueDrops: number;
}

/** The engine's handlers, registered once in one order (their names are part of the fingerprint). */
export interface ChunkHandlers {
  start: HandlerId<undefined>;
  joined: HandlerId<undefined>;
  joinRetry: HandlerId<undefined>;
  segmentEnd: HandlerId<undefined>;
  deliver: HandlerId<Segment>;
  inflated: HandlerId<undefined>;
  written: HandlerId<undefined>;
  tick: HandlerId<undefined>;
  serve: HandlerId<undefined>;
}

export interface ChunkSetup {
  readonly o: FrisbeePlanOptions;
  readonly engine: Engine;
  /** Chunk orders, start times and heartbeats. */
  readonly rng: Rng;
  /** Every loss, at the server and at the receivers, in the order the run meets them. */
  readonly lossRng: Rng;
  readonly n: number;
  readonly chunks: number;
  readonly lastChunkBlocks: number;
  readonly pacing: BurstPacing;
  readonly clientLoss: number;
  readonly serverLoss: number;
  readonly logKeepClient: number;
  readonly logKeepServer: number;
  readonly keepClient: number;
  readonly inflateUs: number;
  /** A chunk's write, and the last chunk's. */
  readonly writeUs: number[];
  readonly blockDelayUs: number;
  readonly clientSerUs: number;
  readonly controlDelayUs: number;
  /** A request's and a partial request's time on a client's link (whole microseconds, as the packet model's links). */
  readonly requestUplinkUs: number;
  readonly prequestUplinkUs: number;
  readonly serverLinkBps: number;
  /** Whether requests pass the server's link queue (FrisbeePlanOptions.serverQueue). */
  readonly serverQueue: boolean;
  /** The clients' downlinks, as one queue (with serverQueue); null: packets pass them at once. */
  readonly downlink: SharedDownlink | null;
  /** A block's bytes on a link, and its way from being sent to the clients' downlink queues. */
  readonly blockWireBytes: number;
  readonly toDownlinkUs: number;
  /**
   * Per chunk: the last request anyone made for it, heard by everyone (snooping), and the end of
   * the last segment of it. Either stamps the chunk for a client that has not started it. A
   * request reaches the others after the client's own request round, so clients completing a chunk
   * together all ask, as they do in the packet model: only a request made before now counts.
   */
  readonly heardUs: Float64Array;
  readonly segmentHeardUs: Float64Array;
  /** Per chunk: the last whole-chunk request, which stamps it for a client filling it too. */
  readonly wholeHeardUs: Float64Array;
  /**
   * Per chunk and block, at chunk * 1024 + block: the last partial request asking for the block.
   * A client filling the chunk is stamped by a partial request that asks for a block it lacks.
   */
  readonly blockAskedUs: Float64Array;
  readonly counts: ChunkCounts;
}

/** A row's figures as the chunk model uses them, from the same layout and costs as the packet model's. */
export function chunkSetup(o: FrisbeePlanOptions, clients: number, loss: number): ChunkSetup {
  const root = createRng(o.seed);
  const imageBytes = Math.round(o.imageMiB * 1024 * 1024);
  const dataBytes = Math.round(o.dataMiB * 1024 * 1024);
  const chunks = Math.ceil(imageBytes / CHUNK_BYTES);
  const clientLoss = o.lossAt === "receivers" ? loss : 0;
  const serverLoss = o.lossAt === "server" ? loss : 0;
  // As the packet model's layout and CPU and disk costs (see evenLayout and planScenario).
  const compressed = Math.min(CHUNK_BYTES, Math.ceil(imageBytes / chunks));
  const inflateBps = (o.inflateMiBs * 1024 * 1024 * o.imageMiB) / o.dataMiB;
  const raw = Math.floor(dataBytes / chunks);
  const lastRaw = dataBytes - raw * (chunks - 1);
  const diskBps = o.diskMiBs * 1024 * 1024;
  const serverLinkBps = planServerLinkMbps(o) * 1e6;
  const bits = blockWireBits();
  const clientSerUs = Math.ceil((bits / (o.clientMbps * 1e6)) * 1e6);
  return {
    o,
    engine: new Engine(),
    rng: root.fork("chunk-model"),
    lossRng: root.fork("chunk-model/loss"),
    n: clients,
    chunks,
    lastChunkBlocks: CHUNK_BLOCKS,
    pacing: planPacing(o),
    clientLoss,
    serverLoss,
    logKeepClient: Math.log(1 - clientLoss),
    logKeepServer: Math.log(1 - serverLoss),
    keepClient: 1 - clientLoss,
    inflateUs: Math.ceil((compressed / inflateBps) * 1e6),
    writeUs: [Math.ceil((raw * 1e6) / diskBps), Math.ceil((lastRaw * 1e6) / diskBps)],
    clientSerUs,
    blockDelayUs: 2 * PLAN_NETWORK.latencyUs + Math.ceil((bits / serverLinkBps) * 1e6) + clientSerUs,
    controlDelayUs: 2 * PLAN_NETWORK.latencyUs + CONTROL_SWITCH_US,
    serverQueue: o.serverQueue === true,
    downlink: o.serverQueue === true ? new SharedDownlink(o.clientMbps * 1e6, PLAN_NETWORK.clientQueueBytes) : null,
    blockWireBytes: bits / 8,
    toDownlinkUs: 2 * PLAN_NETWORK.latencyUs + Math.ceil((bits / serverLinkBps) * 1e6),
    requestUplinkUs: serialisationUs(REQUEST_WIRE_BYTES, o.clientMbps * 1e6),
    prequestUplinkUs: serialisationUs(PREQUEST_WIRE_BYTES, o.clientMbps * 1e6),
    serverLinkBps,
    heardUs: new Float64Array(chunks).fill(-Infinity),
    segmentHeardUs: new Float64Array(chunks).fill(-Infinity),
    wholeHeardUs: new Float64Array(chunks).fill(-Infinity),
    blockAskedUs: new Float64Array(chunks * CHUNK_BLOCKS).fill(-Infinity),
    counts: { blocksSent: 0, blocksReceived: 0, dupBlocks: 0, noBufferBlocks: 0, requests: 0, prequests: 0, joins: 0, leaves: 0, control: 0, controlQueueDrops: 0 },
  };
}

/** Whether a packet is lost, at rate p. */
export function lost(rng: Rng, p: number): boolean {
  return p > 0 && rng.chance(p);
}

/** Blocks kept before the next loss: P(run >= r) = keep^r. */
export function geometric(rng: Rng, logKeep: number): number {
  if (logKeep === 0) return Infinity;
  return Math.floor(Math.log(1 - rng.next()) / logKeep);
}
