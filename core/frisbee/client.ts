import { US_PER_MS, US_PER_SEC, type Address, type Env, type Micros, type Payload, type Process } from "../engine/index.js";
import { DECOMPRESSED, FILLING, NONE, RECEIVED, WRITTEN } from "./chunk-state.js";
import { BufferBitmaps } from "./buffer-bitmaps.js";
import { BLOCK_BYTES, CHUNK_BLOCKS, CHUNK_BYTES, CLIENT_DEFAULTS } from "./constants.js";
import { nextSeq } from "./heartbeat.js";
import { emptyStats, microsFromWire, msg, PROGRESS_LEVEL, secondsOnWire, type ClientStats, type FrisbeeMessage, type ProgressLevel } from "./messages.js";
import { MessageInput, type InputErrors } from "./payload.js";
import { BLOCK_DATA_AT, blockChunkOf, blockIndexOf, isWellFormedBlock } from "./codec.js";

/** Where each chunk's data lands and what inflating it costs; the simulation knows it up front. */
export interface ChunkLayout {
  compressedBytes(chunk: number): number;
  rawOffset(chunk: number): number;
  rawBytes(chunk: number): number;
}

/** Where part of a decoded chunk goes on disk; a number is that many zero bytes. */
export interface ChunkWrite {
  offsetBytes: number;
  data: Uint8Array | number;
}

export type InflateResult = { ok: true; writes: readonly ChunkWrite[] } | { ok: false; error: string };

/**
 * Real data (the real world, or a simulation whose disks keep data): the client keeps the bytes of
 * the blocks it accepts, hands each received chunk's bytes to `inflate`, and the adapter answers
 * with `inflated(chunk, result)`; the writes then go through the disk port. Without this port the
 * client only counts blocks, and a chunk's cost comes from the layout.
 */
export interface ChunkDataPort {
  /** `bytes` (the chunk as sent) is valid only during the call: copy it to keep it. */
  inflate(chunk: number, bytes: Uint8Array): void;
}

interface ClientOptionsBase {
  group: Address;
  port: number;
  clientId: number;
  /** Use JOIN2 (learns the byte count) instead of the original JOIN. */
  join2: boolean;
  /** Report progress at this interval on our own timer; 0: only when the server asks. */
  heartbeatIntervalUs: Micros;
  heartbeatLevel?: ProgressLevel;
  randomize?: boolean;
  /** Leave (unfinished) at this local time; null: stay to the end. */
  leaveAtUs?: Micros | null;
  requestAheadChunks?: number;
  inProgressChunksMax?: number;
  chunkBuffers?: number;
  suppressUs?: Micros;
  receiveTimeoutUs?: Micros;
  idleTimeouts?: number;
  /** Ask for the last chunk first: its header bounds the image, so a target can be checked before writing. */
  lastChunkFirst?: boolean;
}

/**
 * A client either counts blocks, its chunks' costs and places known from a layout (a simulation),
 * or keeps real data and hands each chunk to a chunk-data port (the real world, or a simulation
 * whose disks keep data), which says where its bytes go.
 */
export type FrisbeeClientOptions = ClientOptionsBase & ({ layout: ChunkLayout; chunkData?: undefined } | { chunkData: ChunkDataPort; layout?: undefined });

export interface FrisbeeClientCounters extends InputErrors {
  blocksReceived: number;
  dupBlocks: number;
  /** Blocks dropped for want of a free chunk buffer. */
  noBufferBlocks: number;
  chunksReceived: number;
  chunksDecompressed: number;
  chunksWritten: number;
  bytesWritten: number;
  requests: number;
  prequests: number;
  idles: number;
  joinAttempts: number;
  reportsSent: number;
  /** Writes per chunk beyond the first (a correct client has none). */
  rewrites: number;
  joinedAtUs: number;
  doneAtUs: number;
}

const TIMER_JOIN = 1;
const TIMER_IDLE = 2;
const TIMER_HEARTBEAT = 3;
const TIMER_LEAVE = 4;


export type ClientState = "joining" | "receiving" | "done" | "failed" | "left";

/**
 * The Frisbee client as a machine: joins, requests chunks in its own random order with request-ahead
 * and NAK avoidance, fills a bounded chunk cache, and runs the three stages (receive, decompress,
 * write) as a pipeline through the CPU and disk ports, reporting progress on its own timer.
 */
export class FrisbeeClient implements Process {
  readonly counters: FrisbeeClientCounters;
  state: ClientState = "joining";
  failure: string | null = null;
  private server: Address = -1;
  private serverPort = 0;
  private chunks = 0;
  private blockCount = 0;
  private have = new Uint8Array(0);
  private writes = new Uint8Array(0);
  private bufferOf = new Int32Array(0);
  private stampUs = new Float64Array(0);
  private retries = new Uint16Array(0);
  private order = new Int32Array(0);
  private cursor = 0;
  private buffers = new BufferBitmaps(0);
  private readonly freeBuffers: number[] = [];
  private filling: number[] = [];
  private readonly decompressQueue: number[] = [];
  private readonly writeQueue: number[] = [];
  private decompressing = -1;
  private writing = -1;
  private joinRetryUs: number = CLIENT_DEFAULTS.joinRetryUs;
  /** Last packet of any kind; a receive timeout is a tick with no packet at all. */
  private lastPacketUs = 0;
  private lastTickUs = 0;
  /** Receive timeouts left before an idle request; reset by a useful block or a useful snooped request. */
  private idleTicksLeft = 0;
  /** Idle requests since the last block arrived; each adds a tick to the next idle wait. */
  private backOff = 0;
  private heartbeatIntervalUs: Micros;
  private heartbeatLevel: ProgressLevel;
  private seq = 0;
  private readonly stats: ClientStats = emptyStats();
  private readonly o: Required<Omit<ClientOptionsBase, "leaveAtUs" | "heartbeatLevel">> & { leaveAtUs: Micros | null };
  private readonly chunkData: ChunkDataPort | null;
  private readonly layout: ChunkLayout | null;
  /** Block bytes of each chunk buffer, made on first use (only with a chunk-data port). */
  private readonly bufferBytes: (Uint8Array | undefined)[] = [];
  private readonly inflatedWrites = new Map<number, readonly ChunkWrite[]>();
  /** Writes of the chunk being written that have not completed, and its bytes. */
  private writesLeft = 0;
  private writingBytes = 0;
  private readonly input: MessageInput;

  constructor(
    private readonly env: Env,
    options: FrisbeeClientOptions,
  ) {
    this.o = {
      randomize: true,
      requestAheadChunks: CLIENT_DEFAULTS.requestAheadChunks,
      inProgressChunksMax: CLIENT_DEFAULTS.inProgressChunksMax,
      chunkBuffers: CLIENT_DEFAULTS.chunkBuffers,
      suppressUs: CLIENT_DEFAULTS.suppressUs,
      receiveTimeoutUs: CLIENT_DEFAULTS.receiveTimeoutUs,
      idleTimeouts: CLIENT_DEFAULTS.idleTimeouts,
      lastChunkFirst: false,
      ...options,
      leaveAtUs: options.leaveAtUs ?? null,
    };
    this.chunkData = options.chunkData ?? null;
    this.layout = options.layout ?? null;
    if ((this.chunkData === null) === (this.layout === null)) throw new Error("a client takes a layout (counting) or a chunk-data port (real data), one of the two");
    if (!(this.o.chunkBuffers >= 1) || !(this.o.inProgressChunksMax >= 1) || !(this.o.requestAheadChunks >= 1)) {
      throw new Error("chunk buffers, in-progress and request-ahead limits must be at least 1");
    }
    this.heartbeatIntervalUs = options.heartbeatIntervalUs;
    this.heartbeatLevel = options.heartbeatLevel ?? PROGRESS_LEVEL.summary;
    this.counters = {
      unknown: 0, malformed: 0, blocksReceived: 0, dupBlocks: 0, noBufferBlocks: 0, chunksReceived: 0,
      chunksDecompressed: 0, chunksWritten: 0, bytesWritten: 0, requests: 0, prequests: 0, idles: 0,
      joinAttempts: 0, reportsSent: 0, rewrites: 0, joinedAtUs: -1, doneAtUs: -1,
    };
    this.input = new MessageInput(this.counters, env.events);
  }

  get chunkCount(): number {
    return this.chunks;
  }

  /** How many times each chunk was written (for checking that each is written exactly once). */
  chunkWrites(): Uint8Array {
    return this.writes;
  }

  start(): void {
    this.env.net.join(this.o.group);
    this.sendJoin();
    if (this.o.leaveAtUs !== null) this.env.timers.set(TIMER_LEAVE, this.o.leaveAtUs);
  }

  receive(from: Address, fromPort: number, payload: Payload): void {
    if (this.state !== "joining" && this.state !== "receiving") return;
    this.lastPacketUs = this.env.now();
    // The hot path: a block object in a simulation skips the general decoding, and the switch
    // below (its type is read once: a read of it costs a lookup, payloads having many shapes).
    // A well-formed BLOCK datagram (the real world) is read in place, without decoding it.
    if (payload instanceof Uint8Array ? isWellFormedBlock(payload) : payload.type === "block") {
      if (this.state !== "receiving") return;
      this.backOff = 0;
      if (payload instanceof Uint8Array) this.gotBlock(blockChunkOf(payload), blockIndexOf(payload), payload, BLOCK_DATA_AT, this.lastPacketUs);
      else {
        const block = payload as Extract<FrisbeeMessage, { type: "block" }>;
        this.gotBlock(block.chunk, block.block, block.data, 0, this.lastPacketUs);
      }
      return;
    }
    const m = this.input.toMessage(payload, from, this.lastPacketUs);
    if (m === null) return;
    switch (m.type) {
      case "block":
        if (this.state !== "receiving") return;
        this.backOff = 0;
        this.gotBlock(m.chunk, m.block, m.data, 0, this.lastPacketUs);
        return;
      case "joinReply":
        this.joined(from, fromPort, m.blockCount);
        return;
      case "join2Reply":
        // The original server sends blockcount 0 here: the image's size is its bytecount.
        if (m.clientId === this.o.clientId) this.joined(from, fromPort, Math.ceil(m.byteCount / BLOCK_BYTES));
        return;
      case "request":
        // Another client's request, snooped: what it asks for will be sent to everyone, so we do
        // not ask for it soon; and data we can use is coming, so we are not idle (as the original).
        if (this.state !== "receiving" || !(m.chunk >= 0 && m.chunk < this.chunks)) return;
        if (this.stamp(m.chunk, m.block, m.count, this.lastPacketUs)) this.idleTicksLeft = this.o.idleTimeouts;
        return;
      case "prequest":
        // As the original, a partial request stamps without touching the idle count.
        if (this.state !== "receiving" || !(m.chunk >= 0 && m.chunk < this.chunks)) return;
        this.stampMissing(m.chunk, m.bitmap, this.lastPacketUs);
        return;
      case "progressRequest":
        this.progressAsked(microsFromWire(m.intervalSec), m.level);
        return;
      default:
        return;
    }
  }

  /**
   * A burst, as a receive of each datagram in turn, with the common case (a block object while
   * receiving, in a simulation) taken without the general receive: every client takes every block.
   */
  receiveAll(from: Address, fromPort: number, payloads: readonly Payload[], kept: number): void {
    const now = this.env.now();
    const burst = lastBurst.read(payloads);
    for (let k = 0; k < payloads.length; k++) {
      if ((kept & (1 << k)) === 0) continue;
      if (this.state === "receiving" && (burst & (1 << k)) !== 0) {
        this.lastPacketUs = now;
        this.backOff = 0;
        const data = this.chunkData === null ? null : (payloads[k] as BlockObject).data;
        this.gotBlock(lastBurst.chunk[k] as number, lastBurst.block[k] as number, data, 0, now);
      } else {
        this.receive(from, fromPort, payloads[k] as Payload);
      }
    }
  }

  timer(id: number): void {
    if (this.state !== "joining" && this.state !== "receiving") return;
    if (id === TIMER_JOIN && this.state === "joining") {
      this.joinRetryUs = Math.min(this.joinRetryUs * 2, CLIENT_DEFAULTS.joinRetryUsMax);
      this.sendJoin();
    } else if (id === TIMER_IDLE) {
      this.checkIdle();
    } else if (id === TIMER_HEARTBEAT) {
      this.report();
      if (this.heartbeatIntervalUs > 0) this.env.timers.set(TIMER_HEARTBEAT, this.env.now() + this.heartbeatIntervalUs);
    } else if (id === TIMER_LEAVE) {
      this.finish("left");
    }
  }

  cpuDone(op: number): void {
    // Once ended (failed or left), nothing more is inflated or written.
    if (this.state === "receiving" && op === this.decompressing) this.decompressed(op);
  }

  /**
   * The adapter gives up on the server (it heard none for its timeout): the client fails with
   * `reason` and leaves as after any failure. Nothing happens once it has ended.
   */
  giveUp(reason: string): void {
    if (this.state !== "joining" && this.state !== "receiving") return;
    this.failure = reason;
    this.finish("failed");
  }

  /** The adapter's answer to `ChunkDataPort.inflate`: the chunk's writes, or why it is bad (nothing of it is written). */
  inflated(chunk: number, result: InflateResult): void {
    if (this.state !== "receiving" || chunk !== this.decompressing) return;
    if (!result.ok) {
      this.failure = `chunk ${chunk} is bad: ${result.error}`;
      this.env.events.emit("frisbee.bad-chunk", { client: this.o.clientId, chunk, error: result.error });
      this.finish("failed");
      return;
    }
    this.inflatedWrites.set(chunk, result.writes);
    this.decompressed(chunk);
  }

  diskDone(op: number, error: string | null): void {
    // A write that completes after the client ended (left mid-write) must not finish it again.
    if (this.state !== "receiving" || op !== this.writing) return;
    // A chunk's regions are written as several operations; it is written when the last completes.
    if (error === null && --this.writesLeft > 0) return;
    this.writing = -1;
    if (error !== null) {
      this.failure = `write of chunk ${op} failed: ${error}`;
      this.env.events.emit("frisbee.write-error", { client: this.o.clientId, chunk: op, error });
      this.finish("failed");
      return;
    }
    this.written(op);
  }

  private sendJoin(): void {
    this.counters.joinAttempts++;
    this.send(this.o.group, this.o.port, this.o.join2 ? msg.join2(this.o.clientId) : msg.join(this.o.clientId));
    this.env.timers.set(TIMER_JOIN, this.env.now() + this.joinRetryUs);
  }

  private joined(from: Address, fromPort: number, blockCount: number): void {
    if (this.state !== "joining") return;
    if (!(blockCount > 0)) {
      this.failure = `server offered an image of ${blockCount} blocks`;
      this.finish("failed");
      return;
    }
    this.env.timers.cancel(TIMER_JOIN);
    this.state = "receiving";
    this.server = from;
    this.serverPort = fromPort;
    this.blockCount = blockCount;
    this.allocate(Math.ceil(blockCount / CHUNK_BLOCKS));
    const now = this.env.now();
    this.counters.joinedAtUs = now;
    this.lastPacketUs = now;
    this.lastTickUs = now;
    // As the original, the first request goes out at the first receive timeout (30 ms without a
    // packet), or when a chunk completes: a client joining a transfer under way takes what is
    // being sent before it asks for anything.
    this.idleTicksLeft = 1;
    this.armIdle();
    if (this.heartbeatIntervalUs > 0) {
      const firstDelayUs = this.env.rng.int(Math.min(CLIENT_DEFAULTS.heartbeatFirstDelayUsMax, this.heartbeatIntervalUs) + 1);
      this.env.timers.set(TIMER_HEARTBEAT, now + firstDelayUs);
    }
  }

  private allocate(chunks: number): void {
    this.chunks = chunks;
    this.have = new Uint8Array(chunks);
    this.writes = new Uint8Array(chunks);
    this.bufferOf = new Int32Array(chunks).fill(-1);
    this.stampUs = new Float64Array(chunks).fill(-Infinity);
    this.retries = new Uint16Array(chunks);
    this.order = new Int32Array(chunks);
    for (let c = 0; c < chunks; c++) this.order[c] = c;
    if (this.o.randomize) {
      for (let i = chunks - 1; i > 0; i--) {
        const j = this.env.rng.int(i + 1);
        const t = this.order[i] as number;
        this.order[i] = this.order[j] as number;
        this.order[j] = t;
      }
    }
    if (this.o.lastChunkFirst) {
      const at = this.order.indexOf(chunks - 1);
      this.order[at] = this.order[0] as number;
      this.order[0] = chunks - 1;
    }
    this.buffers = new BufferBitmaps(this.o.chunkBuffers);
    for (let b = 0; b < this.o.chunkBuffers; b++) this.freeBuffers.push(this.o.chunkBuffers - 1 - b);
  }

  private blocksIn(chunk: number): number {
    return Math.min(CHUNK_BLOCKS, this.blockCount - chunk * CHUNK_BLOCKS);
  }

  /** A block arrived; its bytes, if any, are `data` from `dataAt`. */
  private gotBlock(chunk: number, block: number, data: Uint8Array | null, dataAt: number, now: Micros): void {
    if (!(chunk >= 0 && chunk < this.chunks) || !(block >= 0 && block < this.blocksIn(chunk))) {
      this.counters.malformed++;
      return;
    }
    if ((this.have[chunk] as number) >= RECEIVED) {
      this.counters.dupBlocks++;
      return;
    }
    let buffer = this.bufferOf[chunk] as number;
    if (buffer < 0) {
      if (this.freeBuffers.length === 0) {
        // Someone asked for this chunk, so we need not ask for it soon (the original stamps a
        // chunk on a block only then: a chunk we are filling is stamped by requests alone).
        this.stampUs[chunk] = now;
        this.counters.noBufferBlocks++;
        return;
      }
      buffer = this.freeBuffers.pop() as number;
      this.bufferOf[chunk] = buffer;
      this.have[chunk] = FILLING;
      this.filling.push(chunk);
    }
    if (!this.buffers.set(buffer, block)) {
      this.counters.dupBlocks++;
      return;
    }
    if (this.chunkData !== null && data !== null) this.bytesOf(buffer).set(data.subarray(dataAt, dataAt + BLOCK_BYTES), block * BLOCK_BYTES);
    this.counters.blocksReceived++;
    this.idleTicksLeft = this.o.idleTimeouts;
    if (this.buffers.count(buffer) < this.blocksIn(chunk)) return;
    this.have[chunk] = RECEIVED;
    this.filling.splice(this.filling.indexOf(chunk), 1);
    this.counters.chunksReceived++;
    this.decompressQueue.push(chunk);
    this.pumpDecompress();
    if (this.state === "receiving") this.requestChunks(false);
  }

  /**
   * Notes a request (ours or snooped) for `count` blocks of `chunk` from `first`, as the original's
   * RequestStamp: a chunk we have is not stamped; a whole-chunk request, or any request for a chunk
   * we have not started, is; a partial request for a chunk we are filling only if it asks for a
   * block we lack (else its answer will not complete our copy, and we must still ask ourselves).
   */
  private stamp(chunk: number, first: number, count: number, now: Micros): boolean {
    const have = this.have[chunk] as number;
    if (have >= RECEIVED) return false;
    const useful = (first === 0 && count === this.blocksIn(chunk)) || have === NONE || this.buffers.lacksAny(this.bufferOf[chunk] as number, first, count);
    if (useful) this.stampUs[chunk] = now;
    return useful;
  }

  /**
   * A snooped partial request, as the original applies RequestStamp to each run of its bitmap: a
   * chunk we have not started is stamped; one we are filling only if the request asks for a block
   * we lack (a run covering the whole chunk always does, since the chunk is not complete), which is
   * tested a 32-bit word at a time on the words of our buffer that lack a block (BufferBitmaps).
   */
  private stampMissing(chunk: number, bitmap: Uint8Array, now: Micros): void {
    const have = this.have[chunk] as number;
    if (have >= RECEIVED) return;
    if (have === NONE || this.buffers.lacksAnyOf(this.bufferOf[chunk] as number, bitmap, this.blocksIn(chunk))) this.stampUs[chunk] = now;
  }

  /** Partial requests for chunks being filled, then whole chunks to fill the request-ahead window. */
  private requestChunks(idle: boolean): void {
    const now = this.env.now();
    const quietUs = this.o.suppressUs;
    for (const chunk of this.filling) {
      if (!idle && now - (this.stampUs[chunk] as number) < quietUs) continue;
      const missing = this.buffers.bitmap(this.bufferOf[chunk] as number).missing(this.blocksIn(chunk));
      if (missing.count === 0) continue;
      this.counters.prequests++;
      this.stats.prequests++;
      // As the original's LEAVE2 statistics: blocks asked for again, and repeat requests for a chunk.
      this.stats.lostblocks += missing.count;
      if ((this.retries[chunk] as number) > 0) this.stats.rerequests++;
      this.send(this.o.group, this.o.port, msg.prequest(chunk, this.retries[chunk] as number, missing.bytes));
      this.retries[chunk] = Math.min(0xffff, (this.retries[chunk] as number) + 1);
      this.stampUs[chunk] = now;
    }
    // Read-ahead, as the original: only while buffers are free and fewer than `inProgressChunksMax`
    // are being filled (complete chunks waiting to be decompressed do not count). The candidates
    // are the next chunks in our order that we have not started; one asked for lately (by anyone)
    // is not asked again, and we do not skip past it to later chunks: its blocks are on the way.
    const free = this.freeBuffers.length;
    if (free <= 0 || this.filling.length >= this.o.inProgressChunksMax) return;
    let candidates = Math.min(this.o.requestAheadChunks, free);
    for (let i = this.cursorSkipDone(); i < this.chunks && candidates > 0; i++) {
      const chunk = this.order[i] as number;
      if (this.have[chunk] !== NONE) continue;
      candidates--;
      if (!idle && now - (this.stampUs[chunk] as number) < quietUs) continue;
      this.counters.requests++;
      this.stats.requests++;
      this.send(this.o.group, this.o.port, msg.request(chunk, 0, this.blocksIn(chunk)));
      this.stampUs[chunk] = now;
    }
  }

  /** Moves the cursor past chunks at the front of our order that we already have. */
  private cursorSkipDone(): number {
    while (this.cursor < this.chunks && this.have[this.order[this.cursor] as number] !== NONE) this.cursor++;
    return this.cursor;
  }

  private pumpDecompress(): void {
    if (this.decompressing >= 0 || this.writeQueue.length >= CLIENT_DEFAULTS.writeQueueChunksMax) return;
    const chunk = this.decompressQueue.shift();
    if (chunk === undefined) return;
    this.decompressing = chunk;
    if (this.chunkData !== null) {
      const bytes = this.bytesOf(this.bufferOf[chunk] as number).subarray(0, this.blocksIn(chunk) * BLOCK_BYTES);
      this.chunkData.inflate(chunk, bytes);
    } else if (this.env.cpu !== undefined) this.env.cpu.run(chunk, "inflate", this.counted().compressedBytes(chunk));
    else this.decompressed(chunk);
  }

  private decompressed(chunk: number): void {
    this.decompressing = -1;
    const buffer = this.bufferOf[chunk] as number;
    this.buffers.clear(buffer);
    this.freeBuffers.push(buffer);
    this.bufferOf[chunk] = -1;
    this.have[chunk] = DECOMPRESSED;
    this.counters.chunksDecompressed++;
    this.writeQueue.push(chunk);
    this.pumpWrite();
    this.pumpDecompress();
  }

  private pumpWrite(): void {
    if (this.writing >= 0) return;
    const chunk = this.writeQueue.shift();
    if (chunk === undefined) return;
    this.writing = chunk;
    const writes = this.inflatedWrites.get(chunk);
    if (writes !== undefined) {
      this.inflatedWrites.delete(chunk);
      this.writeRegions(chunk, writes);
      return;
    }
    const layout = this.counted();
    this.writingBytes = layout.rawBytes(chunk);
    this.writesLeft = 1;
    if (this.env.disk !== undefined) this.env.disk.write(chunk, layout.rawOffset(chunk), layout.rawBytes(chunk));
    else this.diskDone(chunk, null);
  }

  /** The layout of a counting client (one with real data has its chunks' writes instead). */
  private counted(): ChunkLayout {
    if (this.layout === null) throw new Error("a client with real data wrote a chunk it did not inflate");
    return this.layout;
  }

  private writeRegions(chunk: number, writes: readonly ChunkWrite[]): void {
    const disk = this.env.disk;
    this.writingBytes = 0;
    for (const w of writes) this.writingBytes += typeof w.data === "number" ? w.data : w.data.byteLength;
    this.writesLeft = writes.length;
    if (disk === undefined || writes.length === 0) {
      this.writesLeft = 1;
      this.diskDone(chunk, null);
      return;
    }
    for (const w of writes) disk.write(chunk, w.offsetBytes, w.data);
  }

  private bytesOf(buffer: number): Uint8Array {
    let bytes = this.bufferBytes[buffer];
    if (bytes === undefined) {
      bytes = new Uint8Array(CHUNK_BYTES);
      this.bufferBytes[buffer] = bytes;
    }
    return bytes;
  }

  private written(chunk: number): void {
    if ((this.writes[chunk] as number) > 0) this.counters.rewrites++;
    this.writes[chunk] = Math.min(255, (this.writes[chunk] as number) + 1);
    this.have[chunk] = WRITTEN;
    this.counters.chunksWritten++;
    this.counters.bytesWritten += this.writingBytes;
    if (this.counters.chunksWritten === this.chunks) {
      this.finish("done");
      return;
    }
    this.pumpWrite();
    this.pumpDecompress();
  }

  /**
   * Idle detection as the original's receive loop: a receive timeout is a tick of `receiveTimeoutUs`
   * with no packet at all (duplicates and other clients' traffic count as packets, so a client
   * hearing data it already has is not idle); after `idleTimeouts` ticks with no useful block it
   * asks again, ignoring suppression, and each idle request in a row (no block since) adds a tick.
   */
  private armIdle(): void {
    this.env.timers.set(TIMER_IDLE, Math.max(this.lastPacketUs, this.lastTickUs) + this.o.receiveTimeoutUs);
  }

  private checkIdle(): void {
    const now = this.env.now();
    if (now >= Math.max(this.lastPacketUs, this.lastTickUs) + this.o.receiveTimeoutUs) {
      this.lastTickUs = now;
      if (--this.idleTicksLeft <= 0) {
        this.counters.idles++;
        this.stats.recvidles++;
        this.requestChunks(true);
        this.idleTicksLeft = this.o.idleTimeouts;
        if (this.backOff++ > 0) {
          this.idleTicksLeft += this.backOff;
          this.backOff = Math.min(this.backOff, this.backOffMax());
        }
      }
    }
    this.armIdle();
  }

  /** The most ticks an idle wait grows by: about a second of receive timeouts. */
  private backOffMax(): number {
    return Math.max(1, Math.floor(CLIENT_DEFAULTS.idleWaitUsMax / this.o.receiveTimeoutUs));
  }

  private progressAsked(intervalUs: Micros, level: ProgressLevel): void {
    this.heartbeatLevel = level;
    if (level === PROGRESS_LEVEL.none) {
      this.heartbeatIntervalUs = 0;
      this.env.timers.cancel(TIMER_HEARTBEAT);
      return;
    }
    if (this.state !== "receiving") return;
    if (intervalUs === 0) {
      this.report();
      return;
    }
    this.heartbeatIntervalUs = intervalUs;
    this.env.timers.set(TIMER_HEARTBEAT, this.env.now() + this.env.rng.int(Math.min(CLIENT_DEFAULTS.heartbeatFirstDelayUsMax, intervalUs) + 1));
  }

  /** Sends a progress report to the server; only ever called once joined (the server is known). */
  private report(): void {
    this.seq = nextSeq(this.seq);
    this.counters.reportsSent++;
    const summary = {
      chunksReceived: this.counters.chunksReceived,
      chunksDecompressed: this.counters.chunksDecompressed,
      bytesWritten: this.counters.bytesWritten,
    };
    const full = this.heartbeatLevel === PROGRESS_LEVEL.full;
    // `who`, our address, is the network's to fill in: we do not know it.
    this.send(this.server, this.serverPort, msg.progress(this.o.clientId, 0, secondsOnWire(this.env.now()), this.heartbeatLevel, this.seq, summary, full ? this.leaveStats() : null));
  }

  private finish(state: "done" | "failed" | "left"): void {
    const now = this.env.now();
    this.state = state;
    this.counters.doneAtUs = now;
    for (const id of [TIMER_JOIN, TIMER_IDLE, TIMER_HEARTBEAT, TIMER_LEAVE]) this.env.timers.cancel(id);
    if (state === "done" && this.heartbeatIntervalUs > 0) this.report();
    this.send(this.o.group, this.o.port, msg.leave2(this.o.clientId, secondsOnWire(now - Math.max(0, this.counters.joinedAtUs)), this.leaveStats()));
    this.env.events.emit(`frisbee.${state}`, {
      client: this.o.clientId,
      runtimeUs: now - Math.max(0, this.counters.joinedAtUs),
      chunks: this.counters.chunksWritten,
      ...(this.failure === null ? {} : { error: this.failure }),
    });
  }

  private leaveStats(): ClientStats {
    const s = this.stats;
    const runUs = this.env.now() - Math.max(0, this.counters.joinedAtUs);
    s.runsec = secondsOnWire(runUs);
    s.runmsec = Math.floor((runUs % US_PER_SEC) / US_PER_MS);
    s.rbyteswritten = this.counters.bytesWritten;
    s.ebyteswritten = this.counters.bytesWritten;
    s.chunkbufs = this.o.chunkBuffers;
    s.maxreadahead = this.o.requestAheadChunks;
    s.maxinprogress = this.o.inProgressChunksMax;
    s.pkttimeout = this.o.receiveTimeoutUs;
    s.idletimer = this.o.idleTimeouts;
    s.redodelay = this.o.suppressUs;
    s.randomize = this.o.randomize ? 1 : 0;
    s.nofreechunks = this.counters.noBufferBlocks;
    s.dupblock = this.counters.dupBlocks;
    s.joinattempts = this.counters.joinAttempts;
    return { ...s };
  }

  /** Messages go out as objects; a real network encodes them, with the addresses it knows. */
  private send(to: Address, port: number, m: FrisbeeMessage): void {
    this.env.net.send(to, port, m);
  }
}

type BlockObject = Extract<FrisbeeMessage, { type: "block" }>;

/**
 * The blocks of the last burst a client was handed (receiveAll): in a simulation every client of a
 * multicast group is handed the same list, and reading a field of a payload costs a lookup
 * (payloads have many shapes), so the first client to take a burst reads its blocks' numbers once
 * for all. Known by the list's identity: a burst's list is never changed once handed over. Only
 * what a block object says is kept, so any client reading it gets what it would read itself.
 */
class BurstBlocks {
  private payloads: readonly Payload[] | null = null;
  private blocks = 0;
  readonly chunk = new Float64Array(32);
  readonly block = new Float64Array(32);

  /** Which of the payloads are block objects (bit k for payload k), their numbers in chunk and block. */
  read(payloads: readonly Payload[]): number {
    if (payloads === this.payloads) return this.blocks;
    let blocks = 0;
    const n = Math.min(payloads.length, 32);
    for (let k = 0; k < n; k++) {
      const p = payloads[k] as Payload;
      if (p instanceof Uint8Array || p.type !== "block") continue;
      const b = p as BlockObject;
      if (typeof b.chunk !== "number" || typeof b.block !== "number") continue;
      this.chunk[k] = b.chunk;
      this.block[k] = b.block;
      blocks |= 1 << k;
    }
    this.payloads = payloads;
    this.blocks = blocks;
    return blocks;
  }
}

const lastBurst = new BurstBlocks();
