import { groupAddress, type Env, type Micros, type Payload } from "../../../core/engine/index.js";
import { FrisbeeClient, type ChunkLayout, type FrisbeeClientOptions } from "../../../core/frisbee/client.js";
import { decode, encodeFromHost } from "../../../core/frisbee/codec.js";
import { CHUNK_BLOCKS } from "../../../core/frisbee/constants.js";
import { pacingForBandwidth, type BurstPacing } from "../../../core/frisbee/rate.js";
import { FrisbeeServer, type FrisbeeServerOptions, type ProgressRequest } from "../../../core/frisbee/server.js";
import type { Host } from "../../../sim/host.js";
import type { LinkSpec } from "../../../sim/link.js";
import { withSend } from "../../../sim/send-hook.js";
import { World } from "../../../sim/world.js";

export const PORT = 7700;
export const GROUP = groupAddress(1);
export const MIB = 2 ** 20;
export const MBIT = 1_000_000;

const LINK_LATENCY_US = 50;
const QUEUE_BYTES_MAX = 512 * 1024;

export interface ImagingSetup {
  seed?: number;
  clients: number;
  chunks: number;
  /** Blocks in the image; less than chunks * 1024 makes the last chunk short. */
  blockCount?: number;
  rawChunkBytes?: number;
  pacing?: BurstPacing;
  /** The server adapts its burst to loss (`--dynamic`). */
  dynamic?: boolean;
  diskWriteBytesPerSec?: number;
  inflateBytesPerSec?: number;
  /** Bernoulli loss rates. */
  clientDownlinkLoss?: number;
  serverUplinkLoss?: number;
  serverDownlinkLoss?: number;
  /** Hosts send the original's bytes, encoded by their network as the real one does. */
  encodeMessages?: boolean;
  progressRequest?: ProgressRequest | null;
  /** Clients not installed at the start; the test installs them with `installClient`. */
  lateClients?: number;
  client?: Partial<FrisbeeClientOptions>;
  /** Per-client overrides (by index). */
  clientOverrides?: (index: number) => Partial<FrisbeeClientOptions>;
  badRanges?: readonly { offset: number; length: number }[];
  /** The server exits after this long with no request or report (0: never). */
  idleExitUs?: Micros;
}

export interface SentBlock {
  atUs: Micros;
  chunk: number;
  block: number;
  /** Sent as the original's bytes rather than as a message object. */
  encoded: boolean;
}

export interface Imaging {
  world: World;
  serverHost: Host;
  clientHosts: Host[];
  /** Every server process made, oldest first (a restart makes a new one). */
  servers: FrisbeeServer[];
  /** The latest client process of each client host (undefined until installed). */
  clients: (FrisbeeClient | undefined)[];
  layout: ChunkLayout;
  blockCount: number;
  totalRawBytes: number;
  pacing: BurstPacing;
  /** Blocks the server handed to its network port, with the server's time. */
  sentBlocks: SentBlock[];
  installClient(index: number): void;
  server(): FrisbeeServer;
  client(index: number): FrisbeeClient;
}

/**
 * A server on a 1 Gbit/s link and `clients` clients on 100 Mbit/s links, each client with a disk
 * and a CPU, all in one World. Messages travel as objects unless `encodeMessages` is set.
 */
export function imaging(setup: ImagingSetup): Imaging {
  const world = new World(setup.seed ?? 1);
  const rawChunkBytes = setup.rawChunkBytes ?? 3 * MIB;
  const blockCount = setup.blockCount ?? setup.chunks * CHUNK_BLOCKS;
  const chunks = Math.ceil(blockCount / CHUNK_BLOCKS);
  const blocksIn = (chunk: number): number => Math.min(CHUNK_BLOCKS, blockCount - chunk * CHUNK_BLOCKS);
  const layout: ChunkLayout = {
    compressedBytes: (chunk) => blocksIn(chunk) * 1024,
    rawOffset: (chunk) => chunk * rawChunkBytes,
    rawBytes: () => rawChunkBytes,
  };
  const pacing = setup.pacing ?? pacingForBandwidth(72 * MBIT);
  const encodeMessages = setup.encodeMessages ?? false;
  const link = (bandwidthBps: number): LinkSpec => ({ bandwidthBps, latencyUs: LINK_LATENCY_US, queueBytesMax: QUEUE_BYTES_MAX });

  const serverHost = world.addHost("server", link(1_000 * MBIT));
  lossy(world, world.network.uplinks[serverHost.id], setup.serverUplinkLoss);
  lossy(world, world.network.downlinks[serverHost.id], setup.serverDownlinkLoss);
  const servers: FrisbeeServer[] = [];
  const sentBlocks: SentBlock[] = [];
  const serverOptions: FrisbeeServerOptions = {
    group: GROUP,
    port: PORT,
    image: { blockCount, byteCount: blockCount * 1024, uncompressedBytes: chunks * rawChunkBytes },
    pacing,
    dynamic: setup.dynamic ?? false,
    idleExitUs: setup.idleExitUs ?? 0,
    progressRequest: setup.progressRequest ?? null,
  };
  world.install(serverHost, PORT, (env) => {
    const server = new FrisbeeServer(encoding(recordingBlocks(env, sentBlocks), encodeMessages, 0x0a000001), serverOptions);
    servers.push(server);
    return server;
  });

  const clientHosts: Host[] = [];
  const clients: (FrisbeeClient | undefined)[] = [];
  const lateClients = setup.lateClients ?? 0;
  for (let i = 0; i < setup.clients + lateClients; i++) {
    const host = world.addHost(`c${i}`, link(100 * MBIT));
    lossy(world, world.network.downlinks[host.id], setup.clientDownlinkLoss);
    world.attachDisk(host, {
      sizeBytes: 2 ** 40,
      writeBytesPerSec: setup.diskWriteBytesPerSec ?? 1_000 * MIB,
      readBytesPerSec: 1_000 * MIB,
      latencyUs: 0,
      writeErrorRate: 0,
      badRanges: setup.badRanges ?? [],
      keepData: false,
    });
    world.attachCpu(host, { cores: 1, unitsPerSec: { inflate: setup.inflateBytesPerSec ?? 1_000 * MIB } });
    clientHosts.push(host);
    clients.push(undefined);
  }
  const installClient = (index: number): void => {
    const host = clientHosts[index] as Host;
    world.install(host, PORT, (env) => {
      const client = new FrisbeeClient(encoding(env, encodeMessages, 0x0a000100 + index), {
        group: GROUP,
        port: PORT,
        clientId: 1000 + index,
        join2: false,
        layout,
        heartbeatIntervalUs: 0,
        ...setup.client,
        ...setup.clientOverrides?.(index),
      } as FrisbeeClientOptions);
      clients[index] = client;
      return client;
    });
  };
  for (let i = 0; i < setup.clients; i++) installClient(i);

  return {
    world,
    serverHost,
    clientHosts,
    servers,
    clients,
    layout,
    blockCount,
    totalRawBytes: chunks * rawChunkBytes,
    pacing,
    sentBlocks,
    installClient,
    server: () => {
      const last = servers[servers.length - 1];
      if (last === undefined) throw new Error("no server was made");
      return last;
    },
    client: (index) => {
      const client = clients[index];
      if (client === undefined) throw new Error(`client ${index} was never installed`);
      return client;
    },
  };
}

function lossy(world: World, link: Parameters<World["network"]["setLoss"]>[0] | undefined, rate: number | undefined): void {
  if (link === undefined || rate === undefined || rate === 0) return;
  world.network.setLoss(link, { model: "bernoulli", rate });
}

/** With `encode`, the env's network encodes what a machine sends, from `ownIpv4`, as the real one does. */
function encoding(env: Env, encode: boolean, ownIpv4: number): Env {
  if (!encode) return env;
  return withSend(env, (net, to, port, payload) => net.send(to, port, payload instanceof Uint8Array ? payload : encodeFromHost(payload, ownIpv4)));
}

/** The env with its `send` wrapped to note every block that reaches the world's network, and whether as bytes. */
function recordingBlocks(env: Env, sent: SentBlock[]): Env {
  return withSend(env, (net, to, port, payload) => {
    const block = blockOf(payload);
    if (block !== null) sent.push({ atUs: env.now(), chunk: block.chunk, block: block.block, encoded: payload instanceof Uint8Array });
    net.send(to, port, payload);
  });
}

function blockOf(payload: Payload): { chunk: number; block: number } | null {
  if (payload instanceof Uint8Array) {
    const result = decode(payload);
    return result.ok && result.message.type === "block" ? result.message : null;
  }
  return payload.type === "block" ? (payload as unknown as { chunk: number; block: number }) : null;
}

/** The client's running time from join to its end, in microseconds. */
export function runtimeUs(client: FrisbeeClient): number {
  return client.counters.doneAtUs - client.counters.joinedAtUs;
}
