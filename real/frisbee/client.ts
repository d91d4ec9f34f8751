import { randomInt } from "node:crypto";
import { createRng, US_PER_SEC, type Disk } from "../../core/engine/index.js";
import { FrisbeeClient, type FrisbeeClientCounters } from "../../core/frisbee/client.js";
import { decode, encodeFromHost, sentByServer } from "../../core/frisbee/codec.js";
import { HEADER_AREA_BYTES, SECTOR_BYTES, parseChunkHeader } from "../../core/image/index.js";
import { FileDisk, GROUP, MulticastNet, bindProcess, ownUdpDrops, wallClock, type Clock, type DiskDone, type NetStats } from "../runtime/index.js";
import { daemonEvents } from "./events.js";
import { Inflater } from "./inflate.js";
import { openClientTarget, type ClientTarget } from "./target.js";

export interface FrisbeeRunOptions {
  group: string;
  port: number;
  iface: string | null;
  targetPath: string;
  /** Write free space as zeros (else it is skipped). */
  zeroFill: boolean;
  /** Treat a regular file as a disk of its present size (as a block device is) instead of growing it. */
  fixedSize: boolean;
  /** Report progress every this many seconds on our own timer; 0: only when the server asks. */
  heartbeatSec: number;
  /** Give up when no server has been heard for this many seconds, before joining or after; 0: wait for ever. */
  timeoutSec?: number;
  clientId?: number;
  seed?: number;
  dropRate?: number;
  /** 1: decompress on a worker thread (the default); 0: on the event loop (tests of the same path). */
  threads?: 0 | 1;
  onProgress?: (p: ClientProgress) => void;
  also?: (kind: string, fields: Readonly<Record<string, string | number | boolean>>) => void;
}

export interface ClientProgress {
  /** A server has answered our join. */
  joined: boolean;
  chunks: number;
  chunksWritten: number;
  bytesWritten: number;
  elapsedUs: number;
  /** Since a server was last heard (since the start, before one is). */
  serverSilentUs: number;
}

export interface ClientOutcome {
  ok: boolean;
  /** One line, when not ok. */
  error: string | null;
  /** No server was heard for the timeout. */
  timedOut: boolean;
  /** Not ok, and a target written in place (a device, --fixed-size) was written to: it is incomplete. */
  incomplete: boolean;
  clientId: number;
  chunks: number;
  bytesWritten: number;
  /** Bytes of disk the image covers. */
  imageEndBytes: number;
  elapsedUs: number;
  counters: FrisbeeClientCounters;
  netStats: NetStats;
  /**
   * When the client's clock began (it sends its JOIN then), in microseconds since the epoch: the
   * counters' times are from it. `bench fidelity` lines clients up by it.
   */
  startedAtEpochUs: number;
  /** Datagrams the kernel dropped on our sockets (a full receive buffer); null where it cannot be read. */
  socketDrops: number | null;
}

/** How often the progress callback is given the client's counters, and the timeout checked. */
const PROGRESS_INTERVAL_MS = 200;

/**
 * The Frisbee client in the real world: the core client on a multicast socket, block bytes kept,
 * chunks decoded and checked on a worker thread, positioned writes to a file or block device, and
 * fsync at the end. The last chunk is asked for first: its header says where the image ends, and
 * no write reaches the target before that end is known to fit.
 */
export async function runFrisbeeClient(o: FrisbeeRunOptions): Promise<ClientOutcome> {
  const target = await openClientTarget(o.targetPath, o.fixedSize);
  const seed = o.seed ?? randomInt(1, 2 ** 31);
  const clientId = o.clientId ?? randomInt(1, 2 ** 31);
  let net: MulticastNet;
  try {
    net = await MulticastNet.open({
      group: o.group,
      port: o.port,
      iface: o.iface,
      ownPort: false,
      fastGroupSend: false,
      encode: encodeFromHost,
      ...(o.dropRate === undefined ? {} : { dropRate: o.dropRate, rng: createRng(seed).fork("drop") }),
    });
  } catch (error) {
    await target.abandon();
    throw error;
  }
  const run = startClient(o, target, net, seed, clientId);
  const timedOut = await watch(o, run);
  const c = run.client;
  let error = run.refusal() ?? c.failure;
  if (c.state === "done" && error === null) {
    try {
      await target.finish(run.imageEndBytes());
    } catch (e) {
      error = `cannot finish writing ${o.targetPath}: ${e instanceof Error ? e.message : String(e)}`;
    }
  } else {
    error ??= `the client ${c.state} before every chunk was written`;
  }
  const incomplete = error !== null && (await target.abandon());
  if (incomplete) error = `${error}; ${o.targetPath} is incomplete (written in place up to the failure)`;
  // Let LEAVE go out before the socket closes.
  await new Promise((resolve) => setImmediate(resolve));
  const socketDrops = ownUdpDrops();
  net.close();
  return {
    ok: c.state === "done" && error === null,
    error,
    timedOut,
    incomplete,
    clientId,
    chunks: c.chunkCount,
    bytesWritten: c.counters.bytesWritten,
    imageEndBytes: run.imageEndBytes(),
    elapsedUs: c.counters.doneAtUs - Math.max(0, c.counters.joinedAtUs),
    counters: c.counters,
    netStats: net.stats,
    startedAtEpochUs: run.startedAtEpochUs,
    socketDrops,
  };
}

/** A client running: its machine, its end, when a server was last heard, and what its size gate decided. */
interface ClientRun {
  client: FrisbeeClient;
  clock: Clock;
  startedAtEpochUs: number;
  ended: Promise<void>;
  lastServerUs(): number;
  imageEndBytes(): number;
  refusal(): string | null;
  /** Stops the timers and the decompression worker. */
  close(): Promise<void>;
}

function startClient(o: FrisbeeRunOptions, target: ClientTarget, net: MulticastNet, seed: number, clientId: number): ClientRun {
  const clock = wallClock();
  const startedAtEpochUs = Math.round((performance.timeOrigin + performance.now()) * 1000);
  let settle: () => void = () => {};
  const ended = new Promise<void>((resolve) => (settle = resolve));
  const events = daemonEvents({
    host: `frisbee:${clientId}`,
    store: null,
    log: null,
    also: (kind, fields) => {
      o.also?.(kind, fields);
      if (kind === "frisbee.done" || kind === "frisbee.failed" || kind === "frisbee.left") settle();
    },
  });
  let gate: SizeGate | null = null;
  let imageEndBytes = 0;
  let lastServerUs = 0;
  let client: FrisbeeClient | null = null;
  const refusal = (needBytes: number): string => `${o.targetPath} holds ${target.capacityBytes} bytes but the image needs ${needBytes}; nothing was written`;
  const inflater = new Inflater(o.zeroFill, (inflated) => {
    if (client === null || gate === null) return;
    if (inflated.result.ok) imageEndBytes = Math.max(imageEndBytes, inflated.endBytes);
    if (inflated.result.ok && inflated.chunk === client.chunkCount - 1) gate.knowEnd(inflated.endBytes, refusal);
    client.inflated(inflated.chunk, inflated.result);
  }, o.threads ?? 1);
  const bound = bindProcess(
    {
      clock,
      rng: createRng(seed).fork("frisbee"),
      net,
      events,
      disk: (doneFn) => {
        gate = new SizeGate(new FileDisk(target.fd, target.capacityBytes, doneFn), target.capacityBytes, doneFn, () => target.markWritten());
        return gate;
      },
    },
    (env) =>
      new FrisbeeClient(env, {
        group: GROUP,
        port: o.port,
        clientId,
        join2: false,
        heartbeatIntervalUs: o.heartbeatSec * US_PER_SEC,
        chunkData: { inflate: (chunk, bytes) => inflater.inflate(chunk, bytes) },
        lastChunkFirst: true,
      }),
  );
  client = bound.process;
  const c = client;
  // The last chunk's header, read from its first blocks as they arrive, opens or shuts the gate
  // without waiting for the decompression pipeline (which may be full of chunks held at the gate).
  const header = new LastChunkHeader();
  net.onReceive((from, fromPort, bytes) => {
    if (sentByServer(bytes)) lastServerUs = clock.now();
    if (!(gate?.decided ?? true) && c.chunkCount > 0) {
      const known = header.offer(bytes, c.chunkCount - 1);
      if (known !== null && "endBytes" in known) gate?.knowEnd(known.endBytes, refusal);
      else if (known !== null) gate?.refuse(`the image's last chunk has a bad header, so its size is unknown (${known.error}); nothing was written`);
    }
    c.receive(from, fromPort, bytes);
  });
  return {
    client: c,
    clock,
    startedAtEpochUs,
    ended,
    lastServerUs: () => lastServerUs,
    imageEndBytes: () => imageEndBytes,
    refusal: () => (gate as SizeGate | null)?.refusal ?? null,
    close: async () => {
      bound.timers.close();
      await inflater.close();
    },
  };
}

/**
 * Reports progress until the client ends, and gives up for it when no server has been heard for
 * the timeout. Returns whether it gave up.
 */
async function watch(o: FrisbeeRunOptions, run: ClientRun): Promise<boolean> {
  const c = run.client;
  const timeoutUs = (o.timeoutSec ?? 0) * US_PER_SEC;
  let timedOut = false;
  const tick = (): void => {
    const now = run.clock.now();
    const joined = c.state !== "joining";
    const silentUs = now - run.lastServerUs();
    o.onProgress?.({ joined, chunks: c.chunkCount, chunksWritten: c.counters.chunksWritten, bytesWritten: c.counters.bytesWritten, elapsedUs: now, serverSilentUs: silentUs });
    if (timeoutUs > 0 && silentUs >= timeoutUs && (c.state === "joining" || c.state === "receiving")) {
      timedOut = true;
      const where = `group ${o.group} port ${o.port}`;
      c.giveUp(
        joined
          ? `the frisbeed on ${where} went silent for ${o.timeoutSec} s (--timeout), with ${c.counters.chunksWritten} of ${c.chunkCount} chunks written`
          : `no frisbeed answered on ${where} within ${o.timeoutSec} s (--timeout)`,
      );
    }
  };
  const ticker = setInterval(tick, PROGRESS_INTERVAL_MS);
  try {
    await run.ended;
    tick();
  } finally {
    clearInterval(ticker);
    await run.close();
  }
  return timedOut;
}

/**
 * Holds every write until the image's end is known to fit the target (the last chunk's header says
 * it, and the client asks for that chunk first), and refuses any write past the target's end.
 */
class SizeGate implements Disk {
  private endBytes: number | null = null;
  refusal: string | null = null;
  private readonly held: [number, number, Uint8Array | number][] = [];

  constructor(
    private readonly disk: FileDisk,
    readonly sizeBytes: number,
    private readonly done: DiskDone,
    /** Called before a write reaches the target. */
    private readonly writing: () => void,
  ) {
    if (sizeBytes === Infinity) this.endBytes = 0;
  }

  get decided(): boolean {
    return this.endBytes !== null;
  }

  /** The image ends at `endBytes`: release the held writes, or fail them all with the refusal. */
  knowEnd(endBytes: number, refusal: (needBytes: number) => string): void {
    if (this.endBytes !== null) return;
    this.endBytes = endBytes;
    if (endBytes > this.sizeBytes) this.refusal = refusal(endBytes);
    for (const [op, offset, data] of this.held.splice(0)) this.write(op, offset, data);
  }

  /** The image cannot be bounded: fail the held writes and every later one with `reason`. */
  refuse(reason: string): void {
    if (this.endBytes !== null) return;
    this.endBytes = 0;
    this.refusal = reason;
    for (const [op, offset, data] of this.held.splice(0)) this.write(op, offset, data);
  }

  write(op: number, offset: number, data: Uint8Array | number): void {
    const length = typeof data === "number" ? data : data.byteLength;
    const refused = this.refusal ?? (offset + length > this.sizeBytes ? `the target ends at byte ${this.sizeBytes}, before ${offset + length}` : null);
    if (refused !== null) setImmediate(() => this.done(op, refused));
    else if (this.endBytes !== null) {
      this.writing();
      this.disk.write(op, offset, data);
    } else this.held.push([op, offset, data]);
  }

  read(op: number, offset: number, length: number): void {
    this.disk.read(op, offset, length);
  }
}

/** Collects the header area (the first 4 blocks) of the last chunk from BLOCK datagrams. */
class LastChunkHeader {
  private readonly bytes = new Uint8Array(HEADER_AREA_BYTES);
  private have = 0;

  /**
   * Once the header is complete: the image's end in bytes, or why the header is bad (a bad header
   * cannot bound the image, and the chunk could not be written anyway). Null until then.
   */
  offer(datagram: Uint8Array, lastChunk: number): { endBytes: number } | { error: string } | null {
    const d = decode(datagram);
    if (!d.ok || d.message.type !== "block" || d.message.chunk !== lastChunk || d.message.data === null) return null;
    const block = d.message.block;
    if (block * 1024 >= HEADER_AREA_BYTES) return null;
    this.bytes.set(d.message.data.subarray(0, 1024), block * 1024);
    this.have |= 1 << block;
    if (this.have !== (1 << (HEADER_AREA_BYTES / 1024)) - 1) return null;
    const h = parseChunkHeader(this.bytes, lastChunk);
    if (!h.ok) return { error: h.error };
    let endSectors = h.value.lastSector;
    for (const r of h.value.regions) endSectors = Math.max(endSectors, r.startSector + r.sectorCount);
    return { endBytes: endSectors * SECTOR_BYTES };
  }
}
