import { closeSync, fstatSync, ftruncateSync } from "node:fs";
import { randomInt } from "node:crypto";
import { createRng, US_PER_SEC, type Disk } from "../../core/engine/index.js";
import { FrisbeeClient, type FrisbeeClientCounters } from "../../core/frisbee/client.js";
import { decode, encodeFromHost } from "../../core/frisbee/codec.js";
import { HEADER_AREA_BYTES, SECTOR_BYTES, parseChunkHeader } from "../../core/image/index.js";
import { FileDisk, GROUP, MulticastNet, bindProcess, fsyncFd, openTarget, wallClock, type DiskDone, type NetStats } from "../runtime/index.js";
import { daemonEvents } from "./events.js";
import { Inflater } from "./inflate.js";

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
  clientId?: number;
  seed?: number;
  dropRate?: number;
  /** 1: decompress on a worker thread (the default); 0: on the event loop (tests of the same path). */
  threads?: 0 | 1;
  onProgress?: (p: ClientProgress) => void;
  also?: (kind: string, fields: Readonly<Record<string, string | number | boolean>>) => void;
}

export interface ClientProgress {
  chunks: number;
  chunksWritten: number;
  bytesWritten: number;
  elapsedUs: number;
}

export interface ClientOutcome {
  ok: boolean;
  /** One line, when not ok. */
  error: string | null;
  clientId: number;
  chunks: number;
  bytesWritten: number;
  /** Bytes of disk the image covers. */
  imageEndBytes: number;
  elapsedUs: number;
  counters: FrisbeeClientCounters;
  netStats: NetStats;
}

/** How often the progress callback is given the client's counters. */
const PROGRESS_INTERVAL_MS = 200;

/**
 * The Frisbee client in the real world: the core client on a multicast socket, block bytes kept,
 * chunks decoded and checked on a worker thread, positioned writes to a file or block device, and
 * fsync at the end. The last chunk is asked for first: its header says where the image ends, and
 * no write reaches the target before that end is known to fit.
 */
export async function runFrisbeeClient(o: FrisbeeRunOptions): Promise<ClientOutcome> {
  const target = openTarget(o.targetPath, o.fixedSize);
  const growable = target.capacityBytes === Infinity;
  if (growable) ftruncateSync(target.fd, 0);
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
    closeSync(target.fd);
    throw error;
  }
  const clock = wallClock();
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
        gate = new SizeGate(new FileDisk(target.fd, target.capacityBytes, doneFn), target.capacityBytes, doneFn);
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
    if (!(gate?.decided ?? true) && c.chunkCount > 0) {
      const known = header.offer(bytes, c.chunkCount - 1);
      if (known !== null && "endBytes" in known) gate?.knowEnd(known.endBytes, refusal);
      else if (known !== null) gate?.refuse(`the image's last chunk has a bad header, so its size is unknown (${known.error}); nothing was written`);
    }
    c.receive(from, fromPort, bytes);
  });
  const progress = (): void => o.onProgress?.({ chunks: c.chunkCount, chunksWritten: c.counters.chunksWritten, bytesWritten: c.counters.bytesWritten, elapsedUs: clock.now() });
  const ticker = setInterval(progress, PROGRESS_INTERVAL_MS);
  try {
    await ended;
    progress();
  } finally {
    clearInterval(ticker);
    bound.timers.close();
    await inflater.close();
  }
  const gateRefusal: string | null = (gate as SizeGate | null)?.refusal ?? null;
  let error = gateRefusal ?? c.failure;
  if (c.state === "done") {
    try {
      if (growable && fstatSync(target.fd).size < imageEndBytes) ftruncateSync(target.fd, imageEndBytes);
      await fsyncFd(target.fd);
    } catch (e) {
      error = `cannot finish writing ${o.targetPath}: ${e instanceof Error ? e.message : String(e)}`;
    }
  } else if (error === null) {
    error = `the client ${c.state} before every chunk was written`;
  }
  // Let LEAVE go out before the socket closes.
  await new Promise((resolve) => setImmediate(resolve));
  net.close();
  closeSync(target.fd);
  return {
    ok: c.state === "done" && error === null,
    error,
    clientId,
    chunks: c.chunkCount,
    bytesWritten: c.counters.bytesWritten,
    imageEndBytes,
    elapsedUs: c.counters.doneAtUs - Math.max(0, c.counters.joinedAtUs),
    counters: c.counters,
    netStats: net.stats,
  };
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
    else if (this.endBytes !== null) this.disk.write(op, offset, data);
    else this.held.push([op, offset, data]);
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
