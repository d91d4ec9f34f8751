import type { Engine, Rng } from "../../../core/engine/index.js";
import { BlockBitmap, popcount32 } from "../../../core/frisbee/bitmap.js";
import { DECOMPRESSED, FILLING, NONE, RECEIVED, WRITTEN } from "../../../core/frisbee/chunk-state.js";
import { CHUNK_BLOCKS, CLIENT_DEFAULTS } from "../../../core/frisbee/constants.js";
import { ClientFifos, ClientLists, sendTimeUs, type Segment } from "./containers.js";
import type { SharedDownlink } from "./downlink.js";
import type { ChunkServer } from "./server.js";
import { BITMAP_WORDS, geometric, lost, type ChunkCounts, type ChunkHandlers, type ChunkSetup } from "./setup.js";

export const JOINING = 0;
export const RECEIVING = 1;
export const DONE = 2;
/** Not started yet. */
export const WAITING = 3;

/** Segments up to this many blocks are taken block by block rather than word by word. */
const SPARSE_SEGMENT_BLOCKS_MAX = 48;
/** The most ticks an idle wait grows by: about a second of receive timeouts. */
const BACK_OFF_MAX = Math.max(1, Math.floor(CLIENT_DEFAULTS.idleWaitUsMax / CLIENT_DEFAULTS.receiveTimeoutUs));

/**
 * The chunk model's clients, all of them in flat typed arrays: joining, the request policy of
 * FrisbeeClient at chunk granularity, taking segments into chunk buffers with each receiver's
 * losses, and the inflate/write pipeline.
 */
export class ChunkClients {
  private readonly buffersMax: number = CLIENT_DEFAULTS.chunkBuffers;
  private readonly engine: Engine;
  private readonly rng: Rng;
  private readonly lossRng: Rng;
  private readonly n: number;
  private readonly chunks: number;
  private readonly lastChunkBlocks: number;
  private readonly clientLoss: number;
  private readonly serverLoss: number;
  private readonly logKeepClient: number;
  private readonly keepClient: number;
  private readonly inflateUs: number;
  private readonly writeUs: number[];
  private readonly controlDelayUs: number;
  private readonly downlink: SharedDownlink | null;
  private readonly toDownlinkUs: number;
  private readonly blockWireBytes: number;
  private readonly clientSerUs: number;
  private readonly requestUplinkUs: number;
  private readonly prequestUplinkUs: number;
  private readonly heartbeatUs: number;
  private readonly counts: ChunkCounts;
  /** Set once the server exists (each side needs the other). */
  server!: ChunkServer;

  // Per client.
  readonly state: Uint8Array;
  readonly startUs: Float64Array;
  private readonly joinedUs: Float64Array;
  readonly doneUs: Float64Array;
  private readonly joinRetryUs: Float64Array;
  private readonly cursor: Int32Array;
  private readonly freeBuffers: Int32Array;
  private readonly idleTicksLeft: Int32Array;
  private readonly backOff: Int32Array;
  private readonly decompressing: Int32Array;
  private readonly writing: Int32Array;
  private readonly written: Int32Array;
  /** Per client: the buffers holding partly received chunks, in the order they were taken. */
  private readonly filling: ClientLists;
  private readonly decompressQueue: ClientFifos;
  private readonly writeQueue: ClientFifos;
  /**
   * Per client and buffer, at client * buffers + buffer: the buffer's bitmap (as words, at that
   * times BITMAP_WORDS) and block count; and per client, a stack of its free buffers (with
   * freeBuffers as its depth).
   */
  private readonly bufferWords: Uint32Array;
  private readonly bufferCount: Uint16Array;
  private readonly freeStack: Uint8Array;
  /**
   * Per client and buffer: the chunk it holds, and this client's last request or block for it
   * (the chunk's stamp in stampUs while it is being filled, kept here beside its neighbours
   * because a request round looks at every buffer).
   */
  private readonly bufferChunk: Int32Array;
  private readonly bufferStamp: Float64Array;
  /**
   * Per chunk and client, at chunk * clients + client: a segment visits the clients that need its
   * chunk, so their cells lie together (a row of a chunk fits in cache; a column would not).
   */
  private readonly have: Uint8Array;
  private readonly bufferOf: Int16Array;
  private readonly stampUs: Float64Array;
  /** Per client, at client * chunks: its random chunk order. */
  private readonly order: Int32Array;
  /** Per chunk: the last request anyone made for it (or segment of it), heard by everyone (snooping). */
  private readonly heardUs: Float64Array;
  private readonly segmentHeardUs: Float64Array;
  /** Per chunk: the last whole-chunk request; per chunk and block: the last partial request asking for it. */
  private readonly wholeHeardUs: Float64Array;
  private readonly blockAskedUs: Float64Array;
  /**
   * Per chunk: the receiving clients that still need it, so a segment visits only them (with
   * thousands of clients and small repair segments, visiting everyone is what costs); a client's
   * place in each list is at client * chunks + chunk.
   */
  private readonly needers: Int32Array[];
  private readonly neederCount: Int32Array;
  private readonly neederAt: Int32Array;
  private receivingCount = 0;
  /** When a segment last reached the clients, and when each client last asked because it was idle. */
  private lastSegmentUs = -1;
  private readonly lastIdleUs: Float64Array;
  /** Per client: no held chunk is due for a partial request before this. */
  private readonly partialDueUs: Float64Array;
  /**
   * With `staggered` (the server queue's variant): clients whose receive timeouts run ahead of the
   * rest's, each with its last packet or tick (aheadUs, -1 for the rest). In a silence every packet
   * (a request, a leave) restarts the receive timeout of each client that hears it; one that loses
   * it ticks earlier, and its idle request restarts everyone else's timeout before they ask. In the
   * packet model this breaks up the herds of idle requests after the first, and the more clients,
   * the more lose each packet.
   */
  private readonly staggered: boolean;
  private readonly aheadUs: Float64Array;
  private readonly ahead: Int32Array;
  private aheadCount = 0;


  /** Duplicate blocks counted by their expectation rather than drawn (see freshBlocks). */
  dupExpected = 0;
  /** What touchBuffers read, kept so the reads are not optimised away. */
  touched = 0;
  /** Chunks written, over all clients. */
  writtenTotal = 0;
  private readonly temp = new Uint32Array(BITMAP_WORDS);
  private readonly scratchWords = new Uint32Array(BITMAP_WORDS);
  /** The block numbers `lacking` lists. */
  private readonly lackingScratch = new Int32Array(CHUNK_BLOCKS);
  private readonly scratch = new BlockBitmap(new Uint8Array(this.scratchWords.buffer));

  constructor(
    s: ChunkSetup,
    private readonly h: ChunkHandlers,
  ) {
    this.engine = s.engine;
    this.rng = s.rng;
    this.lossRng = s.lossRng;
    this.n = s.n;
    this.chunks = s.chunks;
    this.lastChunkBlocks = s.lastChunkBlocks;
    this.clientLoss = s.clientLoss;
    this.serverLoss = s.serverLoss;
    this.logKeepClient = s.logKeepClient;
    this.keepClient = s.keepClient;
    this.inflateUs = s.inflateUs;
    this.writeUs = s.writeUs;
    this.controlDelayUs = s.controlDelayUs;
    this.downlink = s.downlink;
    this.toDownlinkUs = s.toDownlinkUs;
    this.blockWireBytes = s.blockWireBytes;
    this.clientSerUs = s.clientSerUs;
    this.requestUplinkUs = s.requestUplinkUs;
    this.prequestUplinkUs = s.prequestUplinkUs;
    this.heartbeatUs = s.o.heartbeatUs;
    this.counts = s.counts;
    const clients = s.n;
    const n = clients;
    const cells = n * this.chunks;
    this.state = new Uint8Array(n).fill(WAITING);
    this.startUs = new Float64Array(n);
    this.joinedUs = new Float64Array(n).fill(-1);
    this.doneUs = new Float64Array(n).fill(-1);
    this.joinRetryUs = new Float64Array(n).fill(CLIENT_DEFAULTS.joinRetryUs);
    this.cursor = new Int32Array(n);
    this.freeBuffers = new Int32Array(n).fill(this.buffersMax);
    this.idleTicksLeft = new Int32Array(n);
    this.backOff = new Int32Array(n);
    this.decompressing = new Int32Array(n).fill(-1);
    this.writing = new Int32Array(n).fill(-1);
    this.written = new Int32Array(n);
    this.filling = new ClientLists(n, this.buffersMax);
    // Chunks wait to inflate in their buffers; at most one more than the write queue's limit waits to be written.
    this.decompressQueue = new ClientFifos(n, this.buffersMax);
    this.writeQueue = new ClientFifos(n, CLIENT_DEFAULTS.writeQueueChunksMax + 1);
    this.bufferWords = new Uint32Array(n * this.buffersMax * BITMAP_WORDS);
    this.bufferCount = new Uint16Array(n * this.buffersMax);
    // Each stack pops buffer 0 first.
    this.freeStack = new Uint8Array(n * this.buffersMax);
    this.bufferChunk = new Int32Array(n * this.buffersMax);
    this.bufferStamp = new Float64Array(n * this.buffersMax);
    for (let i = 0; i < n; i++) for (let b = 0; b < this.buffersMax; b++) this.freeStack[i * this.buffersMax + b] = this.buffersMax - 1 - b;
    this.have = new Uint8Array(cells);
    this.bufferOf = new Int16Array(cells).fill(-1);
    this.stampUs = new Float64Array(cells).fill(-Infinity);
    this.order = new Int32Array(cells);
    this.heardUs = s.heardUs;
    this.segmentHeardUs = s.segmentHeardUs;
    this.wholeHeardUs = s.wholeHeardUs;
    this.blockAskedUs = s.blockAskedUs;
    this.needers = Array.from({ length: this.chunks }, () => new Int32Array(16));
    this.neederCount = new Int32Array(this.chunks);
    this.neederAt = new Int32Array(cells).fill(-1);
    this.lastIdleUs = new Float64Array(n).fill(-1);
    this.partialDueUs = new Float64Array(n).fill(Infinity);
    this.staggered = s.serverQueue && this.clientLoss > 0;
    this.aheadUs = new Float64Array(n).fill(-1);
    this.ahead = new Int32Array(n);
  }

  start(i: number): void {
    this.state[i] = JOINING;
    const base = i * this.chunks;
    for (let c = 0; c < this.chunks; c++) this.order[base + c] = c;
    const rng = this.rng;
    for (let k = this.chunks - 1; k > 0; k--) {
      const j = rng.int(k + 1);
      const t = this.order[base + k] as number;
      this.order[base + k] = this.order[base + j] as number;
      this.order[base + j] = t;
    }
    this.sendJoin(i);
  }

  sendJoin(i: number): void {
    if (this.state[i] !== JOINING) return;
    const now = this.engine.now;
    // The join reaches the server (loss at the server is on what it sends); the reply reaches us
    // unless lost on the server's way out or on ours in.
    this.counts.joins++;
    this.counts.control++;
    // The join goes to the group: every client hears it.
    this.server.heard(now + this.controlDelayUs);
    if (!lost(this.lossRng, this.serverLoss) && !lost(this.lossRng, this.clientLoss)) {
      this.engine.at(now + 2 * this.controlDelayUs, this.h.joined, i);
      return;
    }
    this.engine.at(now + (this.joinRetryUs[i] as number), this.h.joinRetry, i);
    this.joinRetryUs[i] = Math.min((this.joinRetryUs[i] as number) * 2, CLIENT_DEFAULTS.joinRetryUsMax);
  }

  joined(i: number): void {
    if (this.state[i] !== JOINING) return;
    this.state[i] = RECEIVING;
    this.receivingCount++;
    for (let c = 0; c < this.chunks; c++) this.addNeeder(c, i);
    this.joinedUs[i] = this.engine.now;
    // As the packet model's client: the first request at the first receive timeout, or when a chunk completes.
    this.idleTicksLeft[i] = 1;
    this.server.heard(this.engine.now);
  }

  private blocksIn(chunk: number): number {
    return chunk === this.chunks - 1 ? this.lastChunkBlocks : CHUNK_BLOCKS;
  }

  // --- requests ---

  /** As FrisbeeClient.requestChunks: partials for held chunks, then read-ahead. */
  private requestChunks(i: number, idle: boolean): void {
    const now = this.engine.now;
    const quietUs = CLIENT_DEFAULTS.suppressUs;
    const base = i * this.chunks;
    // Stamps only grow, so no held chunk is due before the earliest due time seen last round.
    // Requests this client has sent in this round, and their time on its link: each leaves after the ones before.
    let burst = 0;
    let burstUs = 0;
    if (idle || now >= (this.partialDueUs[i] as number)) {
      let dueUs = Infinity;
      const first = i * this.buffersMax;
      const joined = this.joinedUs[i] as number;
      const filling = this.filling;
      for (let k = 0, held = filling.count[i] as number; k < held; k++) {
        const slot = first + filling.at(i, k);
        const chunk = this.bufferChunk[slot] as number;
        const own = this.bufferStamp[slot] as number;
        if (!idle && now - own < quietUs) {
          dueUs = Math.min(dueUs, own + quietUs);
          continue;
        }
        const stampUs = idle ? own : this.fillingStamp(slot, chunk, own, joined);
        if (!idle && now - stampUs < quietUs) {
          dueUs = Math.min(dueUs, stampUs + quietUs);
          continue;
        }
        dueUs = Math.min(dueUs, now + quietUs);
        // A buffer being filled always lacks something: a complete one has left the list.
        this.counts.prequests++;
        this.bufferStamp[slot] = now;
        burstUs += this.prequestUplinkUs;
        this.send(chunk, slot, burst++, burstUs);
      }
      this.partialDueUs[i] = dueUs;
    }
    const free = this.freeBuffers[i] as number;
    if (free <= 0 || (this.filling.count[i] as number) >= CLIENT_DEFAULTS.inProgressChunksMax) return;
    let candidates = Math.min(CLIENT_DEFAULTS.requestAheadChunks, free);
    let k = this.cursor[i] as number;
    const n = this.n;
    while (k < this.chunks && this.have[(this.order[base + k] as number) * n + i] !== NONE) k++;
    this.cursor[i] = k;
    for (; k < this.chunks && candidates > 0; k++) {
      const chunk = this.order[base + k] as number;
      if (this.have[chunk * n + i] !== NONE) continue;
      candidates--;
      if (!idle && now - this.stampOf(i, chunk) < quietUs) continue;
      this.counts.requests++;
      this.stampUs[chunk * n + i] = now;
      burstUs += this.requestUplinkUs;
      this.send(chunk, -1, burst++, burstUs);
    }
  }

  /**
   * The stamp of a chunk this client is filling, as the packet model's client keeps it: its own
   * requests (and blocks it had no buffer for, before), whole-chunk requests anyone made, and
   * partial requests asking for a block it lacks (those it still lacks: a block it has received
   * since no longer counts), each only once it had joined.
   */
  private fillingStamp(slot: number, chunk: number, own: number, joined: number): number {
    let stamp = own;
    const now = this.engine.now;
    const whole = this.wholeHeardUs[chunk] as number;
    if (whole >= joined && whole < now && whole > stamp) stamp = whole;
    const asked = this.blockAskedUs;
    const base = chunk * CHUNK_BLOCKS;
    const lacking = this.lackingScratch;
    for (let k = 0, n = this.lacking(slot, chunk); k < n; k++) {
      const t = asked[base + (lacking[k] as number)] as number;
      if (t >= joined && t < now && t > stamp) stamp = t;
    }
    return stamp;
  }

  /** The last request or block for a chunk this client made or heard (what it heard only once it had joined). */
  private stampOf(i: number, chunk: number): number {
    const now = this.engine.now;
    const joined = this.joinedUs[i] as number;
    let stamp = this.stampUs[chunk * this.n + i] as number;
    const heard = this.heardUs[chunk] as number;
    if (heard >= joined && heard < now && heard > stamp) stamp = heard;
    const segment = this.segmentHeardUs[chunk] as number;
    if (segment >= joined && segment > stamp) stamp = segment;
    return stamp;
  }

  /**
   * What this client lacks of a chunk it is filling, in a scratch bitmap: a request is dropped,
   * merged or copied by the work queue, never kept, and idle rounds of thousands of clients ask
   * for many chunks at once.
   */
  missingOf(slot: number, chunk: number): BlockBitmap {
    const words = this.bufferWords;
    const at = slot * BITMAP_WORDS;
    const out = this.scratchWords;
    for (let w = 0; w < BITMAP_WORDS; w++) out[w] = ~(words[at + w] as number);
    const blocks = this.blocksIn(chunk);
    if (blocks < CHUNK_BLOCKS) {
      for (let b = blocks; b < CHUNK_BLOCKS; b++) out[b >> 5] = (out[b >> 5] as number) & ~(1 << (b & 31));
    }
    this.scratch.recount();
    return this.scratch;
  }

  /**
   * A multicast request, the last of those this client sent this round, which held its link for
   * `sentUs`: everyone hears it at once; the server queues it unless it is lost on the way or finds
   * its link's queue full (a whole-chunk request has no slot, -1).
   */
  private send(chunk: number, slot: number, position: number, sentUs: number): void {
    const now = this.engine.now;
    this.heardUs[chunk] = Math.max(this.heardUs[chunk] as number, now);
    if (slot < 0) this.wholeHeardUs[chunk] = now;
    else this.markAsked(slot, chunk, now);
    this.server.lastHeardUs = now;
    this.server.request(chunk, slot, position, now + this.controlDelayUs + sentUs);
  }

  /** A partial request from the buffer at `slot`: every block it lacks is asked for now. */
  private markAsked(slot: number, chunk: number, now: number): void {
    const base = chunk * CHUNK_BLOCKS;
    const lacking = this.lackingScratch;
    for (let k = 0, n = this.lacking(slot, chunk); k < n; k++) this.blockAskedUs[base + (lacking[k] as number)] = now;
  }

  /** The blocks of `chunk` the buffer at `slot` lacks, in order, into `lackingScratch`; returns how many. */
  private lacking(slot: number, chunk: number): number {
    const words = this.bufferWords;
    const at = slot * BITMAP_WORDS;
    const blocks = this.blocksIn(chunk);
    const out = this.lackingScratch;
    let n = 0;
    for (let w = 0; w < BITMAP_WORDS; w++) {
      let lack = ~(words[at + w] as number);
      while (lack !== 0) {
        const low = lack & -lack;
        lack ^= low;
        const b = w * 32 + (31 - Math.clz32(low));
        if (b >= blocks) break;
        out[n++] = b;
      }
    }
    return n;
  }

  /** Every receiving client's receive timeout at once (but those ahead); those out of ticks ask again. Returns how many are receiving. */
  idleRound(now: number): number {
    let receiving = 0;
    for (let i = 0; i < this.n; i++) {
      if (this.state[i] !== RECEIVING) continue;
      receiving++;
      if ((this.aheadUs[i] as number) < 0) this.tick(i, now);
    }
    return receiving;
  }

  /** One receive timeout of client `i`: a tick, and an idle request when it is out of them. */
  private tick(i: number, now: number): void {
    const left = (this.idleTicksLeft[i] as number) - 1;
    this.idleTicksLeft[i] = left;
    if (left > 0) return;
    this.requestChunks(i, true);
    this.idleTicksLeft[i] = CLIENT_DEFAULTS.idleTimeouts;
    // A block heard since this client's last idle request resets its back-off.
    if (this.lastSegmentUs > (this.lastIdleUs[i] as number)) this.backOff[i] = 0;
    this.lastIdleUs[i] = now;
    if ((this.backOff[i] as number)++ > 0) {
      this.idleTicksLeft[i] = (this.idleTicksLeft[i] as number) + (this.backOff[i] as number);
      this.backOff[i] = Math.min(this.backOff[i] as number, BACK_OFF_MAX);
    }
  }

  get receiving(): number {
    return this.receivingCount;
  }

  /** When the first client ahead of the rest has its next receive timeout (Infinity if none is ahead). */
  nextAheadTickUs(): number {
    let first = Infinity;
    for (let k = 0; k < this.aheadCount; k++) {
      const i = this.ahead[k] as number;
      if (this.state[i] === RECEIVING) first = Math.min(first, (this.aheadUs[i] as number) + CLIENT_DEFAULTS.receiveTimeoutUs);
    }
    return first;
  }

  /** The receive timeouts of the clients ahead that are due by `now`. */
  aheadRound(now: number): void {
    for (let k = 0; k < this.aheadCount; k++) {
      const i = this.ahead[k] as number;
      if ((this.aheadUs[i] as number) + CLIENT_DEFAULTS.receiveTimeoutUs > now || this.state[i] !== RECEIVING) continue;
      this.aheadUs[i] = now;
      this.tick(i, now);
    }
  }

  /**
   * `packets` sent to everyone at once in a silence (requests, a leave): each restarts the receive
   * timeout of a client that hears it. Those ahead that hear any fall in with the rest; those of
   * the rest that lose them all keep their timeout from `previousUs` and go ahead (if by more than
   * a request takes to reach the others: otherwise they ask together).
   */
  heardInSilence(previousUs: number, packets: number): void {
    if (!this.staggered || packets <= 0) return;
    const goAhead = previousUs + this.controlDelayUs < this.engine.now;
    const q = this.clientLoss ** packets;
    let kept = 0;
    for (let k = 0; k < this.aheadCount; k++) {
      const i = this.ahead[k] as number;
      if (this.state[i] === RECEIVING && lost(this.lossRng, q)) this.ahead[kept++] = i;
      else this.aheadUs[i] = -1;
    }
    this.aheadCount = kept;
    if (!goAhead) return;
    const logKeep = Math.log(1 - q);
    for (let i = geometric(this.lossRng, logKeep); i < this.n; i += 1 + geometric(this.lossRng, logKeep)) {
      if (this.state[i] !== RECEIVING || (this.aheadUs[i] as number) >= 0) continue;
      this.aheadUs[i] = previousUs;
      this.ahead[this.aheadCount++] = i;
    }
  }

  /** Blocks reach everyone: every receive timeout starts again together. */
  private fallIn(): void {
    for (let k = 0; k < this.aheadCount; k++) this.aheadUs[this.ahead[k] as number] = -1;
    this.aheadCount = 0;
  }

  // --- receiving a segment ---

  private addNeeder(chunk: number, i: number): void {
    let list = this.needers[chunk] as Int32Array;
    const count = this.neederCount[chunk] as number;
    if (count === list.length) {
      const grown = new Int32Array(Math.min(this.n, list.length * 2));
      grown.set(list);
      this.needers[chunk] = list = grown;
    }
    list[count] = i;
    this.neederAt[chunk * this.n + i] = count;
    this.neederCount[chunk] = count + 1;
  }

  private removeNeeder(chunk: number, i: number): void {
    const list = this.needers[chunk] as Int32Array;
    const last = (this.neederCount[chunk] as number) - 1;
    const row = chunk * this.n;
    const at = this.neederAt[row + i] as number;
    const moved = list[last] as number;
    list[at] = moved;
    this.neederAt[row + moved] = at;
    this.neederAt[row + i] = -1;
    this.neederCount[chunk] = last;
  }

  /** A segment reaches every receiving client; those that already have the chunk only count duplicates. */
  deliver(s: Segment): void {
    if (this.downlink !== null && !s.passed) {
      s.passed = true;
      const atUs = this.passDownlink(this.downlink, s);
      if (atUs > this.engine.now) {
        this.engine.at(atUs, this.h.deliver, s.chunk, s);
        return;
      }
    }
    this.lastSegmentUs = this.engine.now;
    if (this.aheadCount > 0) this.fallIn();
    const chunk = s.chunk;
    const list = this.needers[chunk] as Int32Array;
    // Clients that have the chunk get (k less their losses) duplicates each: counted, not drawn.
    this.dupExpected += s.blocks.length * this.keepClient * (this.receivingCount - (this.neederCount[chunk] as number));
    const count = this.neederCount[chunk] as number;
    this.touchBuffers(chunk, list, count);
    // take() may remove the client at i (swapping in the last one), so walk from the end.
    for (let at = count - 1; at >= 0; at--) this.take(list[at] as number, s);
  }

  /**
   * Passes a segment's blocks through the clients' downlinks in the order they reach them: those
   * that find the queue full are lost at every client. Returns when the last one has reached the
   * clients (later than planned if requests had filled the queue).
   */
  private passDownlink(downlink: SharedDownlink, s: Segment): number {
    let lastUs = -1;
    let kept = 0;
    const blocks = s.blocks;
    for (let p = 0; p < blocks.length; p++) {
      const outUs = downlink.block(sendTimeUs(s, p) + this.toDownlinkUs, this.blockWireBytes);
      const b = blocks[p] as number;
      if (outUs < 0) {
        s.words[b >> 5] = (s.words[b >> 5] as number) & ~(1 << (b & 31));
        continue;
      }
      lastUs = outUs;
      blocks[kept] = b;
      s.sendIndex[kept++] = s.sendIndex[p] as number;
    }
    if (kept < blocks.length) {
      s.blocks = blocks.subarray(0, kept);
      s.sendIndex = s.sendIndex.subarray(0, kept);
    }
    return lastUs < 0 ? this.engine.now : Math.ceil(lastUs + this.clientSerUs);
  }

  /**
   * Reads a word of every buffer the segment will fill, in a loop with nothing else to wait for,
   * so the processor fetches many of them from memory at once; take() then finds them in cache.
   * Thousands of clients' buffers are too many for the cache between segments, and take(), one
   * buffer at a time, would wait for each in turn.
   */
  private touchBuffers(chunk: number, list: Int32Array, count: number): void {
    const row = chunk * this.n;
    const words = this.bufferWords;
    const bufferOf = this.bufferOf;
    const per = this.buffersMax;
    let sum = 0;
    for (let at = 0; at < count; at++) {
      const i = list[at] as number;
      const buffer = bufferOf[row + i] as number;
      if (buffer < 0) continue;
      const w = (i * per + buffer) * BITMAP_WORDS;
      sum = (sum + (words[w] as number) + (words[w + BITMAP_WORDS - 1] as number) + (this.bufferCount[i * per + buffer] as number)) | 0;
    }
    this.touched = sum;
  }

  private take(i: number, s: Segment): void {
    const chunk = s.chunk;
    const cell = chunk * this.n + i;
    const k = s.blocks.length;
    let buffer = this.bufferOf[cell] as number;
    if (buffer < 0) {
      const free = this.freeBuffers[i] as number;
      if (free === 0) {
        // Blocks stamp a chunk only for a client with no buffer to take it (as the packet model's).
        this.stampUs[cell] = this.engine.now;
        this.counts.noBufferBlocks += k;
        return;
      }
      buffer = this.freeStack[i * this.buffersMax + free - 1] as number;
      this.freeBuffers[i] = free - 1;
      this.bufferOf[cell] = buffer;
      this.have[cell] = FILLING;
      this.filling.push(i, buffer);
      this.bufferChunk[i * this.buffersMax + buffer] = chunk;
      this.bufferStamp[i * this.buffersMax + buffer] = this.stampUs[cell] as number;
      this.partialDueUs[i] = Math.min(this.partialDueUs[i] as number, this.engine.now + CLIENT_DEFAULTS.suppressUs);
      const taken = i * this.buffersMax + buffer;
      const words = this.bufferWords;
      for (let w = taken * BITMAP_WORDS, end = w + BITMAP_WORDS; w < end; w++) words[w] = 0;
      this.bufferCount[taken] = 0;
    }
    const slot = i * this.buffersMax + buffer;
    const fresh = this.freshBlocks(i, slot, s);
    const count = (this.bufferCount[slot] as number) + fresh;
    this.bufferCount[slot] = count;
    this.counts.blocksReceived += fresh;
    if (fresh > 0) this.idleTicksLeft[i] = CLIENT_DEFAULTS.idleTimeouts;
    if (count < this.blocksIn(chunk)) return;
    this.have[cell] = RECEIVED;
    this.removeNeeder(chunk, i);
    this.filling.remove(i, buffer);
    this.decompressQueue.push(i, chunk);
    this.pumpInflate(i);
    this.requestChunks(i, false);
  }

  /**
   * ORs the segment, less this receiver's losses, into the buffer; returns the new blocks. Losses
   * are drawn only for the blocks this client lacks (each lost independently, so which of the
   * others are lost changes nothing but the duplicate count, which takes its expectation): a
   * client holding all but a few blocks of a chunk draws once, not once per percent of loss.
   */
  private freshBlocks(i: number, slot: number, s: Segment): number {
    const k = s.blocks.length;
    if ((this.joinedUs[i] as number) > s.firstUs) return this.freshLate(i, slot, s);
    if (k <= SPARSE_SEGMENT_BLOCKS_MAX) return this.freshSparse(slot, s);
    const words = this.bufferWords;
    const at = slot * BITMAP_WORDS;
    const sent = s.words;
    const lossy = this.clientLoss > 0;
    if (this.bufferCount[slot] === 0) {
      // A buffer just taken lacks every block: losses fall by position in the segment.
      const temp = this.temp;
      temp.set(sent);
      let lost = 0;
      if (lossy) {
        for (let p = geometric(this.lossRng, this.logKeepClient); p < k; p += 1 + geometric(this.lossRng, this.logKeepClient)) {
          const b = s.blocks[p] as number;
          temp[b >> 5] = (temp[b >> 5] as number) & ~(1 << (b & 31));
          lost++;
        }
      }
      words.set(temp, at);
      return k - lost;
    }
    // Lacked blocks seen so far, the index among them of the next lost one, and the lost count.
    let lacked = 0;
    let nextLost = lossy ? geometric(this.lossRng, this.logKeepClient) : Infinity;
    let lost = 0;
    let fresh = 0;
    for (let w = 0; w < BITMAP_WORDS; w++) {
      const mine = words[at + w] as number;
      let add = (sent[w] as number) & ~mine;
      if (add === 0) continue;
      const inWord = popcount32(add);
      if (nextLost < lacked + inWord) {
        let x = add;
        for (let p = lacked; x !== 0; p++) {
          const low = x & -x;
          x ^= low;
          if (p === nextLost) {
            add ^= low;
            lost++;
            nextLost = p + 1 + geometric(this.lossRng, this.logKeepClient);
          }
        }
      }
      lacked += inWord;
      words[at + w] = mine | add;
      fresh += inWord;
    }
    fresh -= lost;
    this.dupExpected += (k - lacked) * this.keepClient;
    return fresh;
  }

  /** freshBlocks for a small repair segment: block by block. */
  private freshSparse(slot: number, s: Segment): number {
    const words = this.bufferWords;
    const at = slot * BITMAP_WORDS;
    const k = s.blocks.length;
    let lacked = 0;
    let nextLost = this.clientLoss > 0 ? geometric(this.lossRng, this.logKeepClient) : Infinity;
    let fresh = 0;
    for (let p = 0; p < k; p++) {
      const b = s.blocks[p] as number;
      const w = at + (b >> 5);
      const bit = 1 << (b & 31);
      const mine = words[w] as number;
      if ((mine & bit) !== 0) continue;
      if (lacked++ === nextLost) {
        nextLost = lacked + geometric(this.lossRng, this.logKeepClient);
        continue;
      }
      words[w] = mine | bit;
      fresh++;
    }
    this.dupExpected += (k - lacked) * this.keepClient;
    return fresh;
  }

  /**
   * freshBlocks for a client that joined while the segment was on the way: it missed the blocks
   * that came before it joined, and draws losses over the whole segment.
   */
  private freshLate(i: number, slot: number, s: Segment): number {
    const temp = this.temp;
    temp.set(s.words);
    const k = s.blocks.length;
    const missed = Math.min(k, Math.ceil((((this.joinedUs[i] as number) - s.firstUs) / Math.max(1, s.lastUs - s.firstUs)) * k));
    for (let p = 0; p < missed; p++) {
      const b = s.blocks[p] as number;
      temp[b >> 5] = (temp[b >> 5] as number) & ~(1 << (b & 31));
    }
    let lost = missed;
    if (this.clientLoss > 0) {
      for (let p = geometric(this.lossRng, this.logKeepClient); p < k; p += 1 + geometric(this.lossRng, this.logKeepClient)) {
        const b = s.blocks[p] as number;
        temp[b >> 5] = (temp[b >> 5] as number) & ~(1 << (b & 31));
        if (p >= missed) lost++;
      }
    }
    const words = this.bufferWords;
    const at = slot * BITMAP_WORDS;
    let fresh = 0;
    for (let w = 0; w < BITMAP_WORDS; w++) {
      const t = temp[w] as number;
      if (t === 0) continue;
      const mine = words[at + w] as number;
      const add = t & ~mine;
      if (add !== 0) {
        words[at + w] = mine | add;
        fresh += popcount32(add);
      }
    }
    this.counts.dupBlocks += k - lost - fresh;
    return fresh;
  }

  // --- the pipeline ---

  private pumpInflate(i: number): void {
    if ((this.decompressing[i] as number) >= 0 || (this.writeQueue.count[i] as number) >= CLIENT_DEFAULTS.writeQueueChunksMax) return;
    const chunk = this.decompressQueue.shift(i);
    if (chunk < 0) return;
    this.decompressing[i] = chunk;
    this.engine.at(this.engine.now + this.inflateUs, this.h.inflated, i);
  }

  inflated(i: number): void {
    const chunk = this.decompressing[i] as number;
    this.decompressing[i] = -1;
    const cell = chunk * this.n + i;
    const free = this.freeBuffers[i] as number;
    this.freeStack[i * this.buffersMax + free] = this.bufferOf[cell] as number;
    this.freeBuffers[i] = free + 1;
    this.bufferOf[cell] = -1;
    this.have[cell] = DECOMPRESSED;
    this.writeQueue.push(i, chunk);
    this.pumpWrite(i);
    this.pumpInflate(i);
  }

  private pumpWrite(i: number): void {
    if ((this.writing[i] as number) >= 0) return;
    const chunk = this.writeQueue.shift(i);
    if (chunk < 0) return;
    this.writing[i] = chunk;
    this.engine.at(this.engine.now + (this.writeUs[chunk === this.chunks - 1 ? 1 : 0] as number), this.h.written, i);
  }

  writtenDone(i: number): void {
    const chunk = this.writing[i] as number;
    this.writing[i] = -1;
    this.have[chunk * this.n + i] = WRITTEN;
    this.written[i] = (this.written[i] as number) + 1;
    this.writtenTotal++;
    if (this.written[i] === this.chunks) {
      this.state[i] = DONE;
      this.receivingCount--;
      this.doneUs[i] = this.engine.now;
      this.counts.leaves++;
      this.counts.control++;
      // Its leave goes to the group: everyone hears it.
      if (this.staggered) this.server.heardLeave(this.engine.now);
      return;
    }
    this.pumpWrite(i);
    this.pumpInflate(i);
  }

  // --- results ---

  /** Runtimes of the clients that finished, in seconds. */
  runtimesSec(): number[] {
    const runtimesSec: number[] = [];
    for (let i = 0; i < this.n; i++) if (this.state[i] === DONE) runtimesSec.push(((this.doneUs[i] as number) - (this.startUs[i] as number)) / 1e6);
    return runtimesSec;
  }

  /** Heartbeats are counted, not simulated: reports on each client's timer from a random first delay, plus one at the end. */
  heartbeats(): { received: number; lost: number } {
    const intervalUs = this.heartbeatUs;
    const rng = this.rng.fork("heartbeats");
    let received = 0;
    for (let i = 0; i < this.n; i++) {
      const joined = this.joinedUs[i] as number;
      if (joined < 0) continue;
      const end = this.state[i] === DONE ? (this.doneUs[i] as number) : this.engine.now;
      const first = joined + rng.int(Math.min(CLIENT_DEFAULTS.heartbeatFirstDelayUsMax, intervalUs) + 1);
      const reports = (first < end ? Math.floor((end - first - 1) / intervalUs) + 1 : 0) + (this.state[i] === DONE ? 1 : 0);
      // Reports go to the server: loss at the server (on what it sends) spares them.
      received += reports;
    }
    return { received, lost: 0 };
  }
}
