import type { Engine, Rng } from "../../../core/engine/index.js";
import { BlockBitmap } from "../../../core/frisbee/bitmap.js";
import { BITMAP_BYTES, CHUNK_BLOCKS, CLIENT_DEFAULTS } from "../../../core/frisbee/constants.js";
import type { BurstPacing } from "../../../core/frisbee/rate.js";
import { WorkQueue } from "../../../core/frisbee/workqueue.js";
import { PLAN_NETWORK } from "../plan-network.js";
import type { ChunkClients } from "./clients.js";
import { Herd, type Segment } from "./containers.js";
import { BITMAP_WORDS, geometric, lost, PREQUEST_WIRE_BYTES, REQUEST_WIRE_BYTES, type ChunkCounts, type ChunkHandlers, type ChunkSetup } from "./setup.js";

/** Requests the server's work queue holds; far beyond what a plan's clients can ask at once. */
const WORK_QUEUE_MAX = 1 << 20;

/**
 * The chunk model's server and the medium around it: requests reach it through its link (a fluid
 * queue, with `serverQueue`), its work queue turns them into segments sent with burst pacing, and
 * its silences are the clients' receive timeouts (`tick`).
 */
export class ChunkServer {
  private readonly engine: Engine;
  private readonly lossRng: Rng;
  private readonly pacing: BurstPacing;
  private readonly serverLoss: number;
  private readonly logKeepServer: number;
  private readonly blockDelayUs: number;
  private readonly clientSerUs: number;
  private readonly controlDelayUs: number;
  private readonly serverBytesPerUs: number;
  private readonly serverQueue: boolean;
  private readonly chunks: number;
  private readonly lastChunkBlocks: number;
  private readonly heardUs: Float64Array;
  private readonly counts: ChunkCounts;
  private readonly queue = new WorkQueue(WORK_QUEUE_MAX);
  private sending = false;
  private burstStartUs = -Infinity;
  private sentInBurst = 0;
  /** The last request or segment end anyone heard: a receive timeout later, the clients tick. */
  lastHeardUs = 0;
  private tickArmed = false;
  firstSendUs = -1;
  lastSendUs = -1;
  /**
   * The server's link as a fluid queue (bytes waiting, as of a time). Requests of thousands of
   * clients multicast in one idle round arrive together and overflow it, as in the packet model
   * (where most of such a herd is dropped there): those dropped never reach the work queue.
   */
  private inBacklogBytes = 0;
  private inAtUs = 0;
  /** The requests of an idle round, while it runs (collecting); empty otherwise. */
  private readonly herd = new Herd();
  private collecting = false;
  private readonly wholeChunk = BlockBitmap.full(CHUNK_BLOCKS);

  constructor(
    s: ChunkSetup,
    private readonly h: ChunkHandlers,
    private readonly clients: ChunkClients,
  ) {
    this.engine = s.engine;
    this.lossRng = s.lossRng;
    this.pacing = s.pacing;
    this.serverLoss = s.serverLoss;
    this.logKeepServer = s.logKeepServer;
    this.blockDelayUs = s.blockDelayUs;
    this.clientSerUs = s.clientSerUs;
    this.controlDelayUs = s.controlDelayUs;
    this.serverBytesPerUs = s.serverBytesPerUs;
    this.serverQueue = s.serverQueue;
    this.chunks = s.chunks;
    this.lastChunkBlocks = s.lastChunkBlocks;
    this.heardUs = s.heardUs;
    this.counts = s.counts;
  }

  /** A client's multicast request, reaching the server's link at `arrivalUs` (held to the end of an idle round). */
  request(chunk: number, slot: number, position: number, arrivalUs: number): void {
    if (this.collecting) this.herd.push(chunk, slot, position, arrivalUs);
    else this.arrive(arrivalUs, chunk, slot);
  }

  private blocksIn(chunk: number): number {
    return chunk === this.chunks - 1 ? this.lastChunkBlocks : CHUNK_BLOCKS;
  }

  /** A request reaches the server's link: lost, dropped for a full queue, or queued for sending. */
  arrive(arrivalUs: number, chunk: number, slot: number): void {
    const whole = slot < 0;
    const bytes = whole ? REQUEST_WIRE_BYTES : PREQUEST_WIRE_BYTES;
    if (lost(this.lossRng, this.serverLoss)) return;
    if (this.serverQueue) {
      // Drain the server's link queue up to this arrival (arrivals a little out of order count as now).
      const t = Math.max(arrivalUs, this.inAtUs);
      this.inBacklogBytes = Math.max(0, this.inBacklogBytes - (t - this.inAtUs) * this.serverBytesPerUs);
      this.inAtUs = t;
      if (this.inBacklogBytes + bytes > PLAN_NETWORK.serverQueueBytes) {
        this.counts.controlQueueDrops++;
        return;
      }
      this.inBacklogBytes += bytes;
    }
    this.counts.control++;
    const blocks = !whole ? this.clients.missingOf(slot, chunk) : this.blocksIn(chunk) === CHUNK_BLOCKS ? this.wholeChunk : BlockBitmap.full(this.blocksIn(chunk));
    this.queue.enqueue(chunk, blocks, whole);
    if (!this.sending) {
      this.sending = true;
      this.engine.at(this.engine.now + this.controlDelayUs, this.h.serve);
    }
  }

  /** The requests of an idle round reach the server's link in the order they arrive there. */
  private flushHerd(): void {
    this.collecting = false;
    this.herd.forEachInArrivalOrder((chunk, slot, arrivalUs) => this.arrive(arrivalUs, chunk, slot));
  }

  /** Sends the head's wanted blocks as one segment, paced in bursts; they arrive when the last one would. */
  serve(): void {
    const item = this.queue.peek();
    if (item === undefined) {
      this.sending = false;
      this.armTick();
      return;
    }
    const now = this.engine.now;
    const sent = item.blocks.copy();
    item.blocks.clearAll();
    const k = sent.count;
    const lastUs = this.pace(now, k);
    if (this.firstSendUs < 0) this.firstSendUs = now;
    this.lastSendUs = lastUs;
    this.counts.blocksSent += k;
    if (this.serverLoss > 0) this.loseAtServer(sent);
    const arrivalUs = lastUs + this.blockDelayUs + this.clientSerUs * this.sentInBurst;
    const segment = this.segmentOf(item.chunk, sent, now + this.blockDelayUs, arrivalUs);
    // Everyone hears blocks of this chunk until the segment ends: the packet model's clients stamp
    // a chunk on every block, so nobody asks for it meanwhile.
    this.heardUs[item.chunk] = Math.max(this.heardUs[item.chunk] as number, lastUs);
    this.engine.at(arrivalUs, this.h.deliver, item.chunk, segment);
    this.engine.at(lastUs, this.h.segmentEnd);
  }

  segmentEnd(): void {
    const item = this.queue.peek();
    if (item !== undefined && item.blocks.count === 0) this.queue.shift();
    this.lastHeardUs = this.engine.now;
    this.serve();
  }

  /** The send time of the last of `k` packets starting now, as the server's burst pacing. */
  private pace(nowUs: number, k: number): number {
    const { burstPackets: b, burstGapUs: gap } = this.pacing;
    if (nowUs >= this.burstStartUs + gap) {
      this.burstStartUs = nowUs;
      this.sentInBurst = 0;
    }
    let left = k;
    const room = b - this.sentInBurst;
    if (left <= room) {
      this.sentInBurst += left;
      return nowUs;
    }
    left -= room;
    const bursts = Math.ceil(left / b);
    this.burstStartUs += bursts * gap;
    this.sentInBurst = left - (bursts - 1) * b;
    return this.burstStartUs;
  }

  private loseAtServer(sent: BlockBitmap): void {
    for (let b = geometric(this.lossRng, this.logKeepServer); b < CHUNK_BLOCKS; b += 1 + geometric(this.lossRng, this.logKeepServer)) sent.clear(b);
  }

  private segmentOf(chunk: number, sent: BlockBitmap, firstUs: number, lastUs: number): Segment {
    const words = new Uint32Array(sent.bytes.buffer.slice(sent.bytes.byteOffset, sent.bytes.byteOffset + BITMAP_BYTES));
    const blocks = new Int16Array(sent.count);
    let n = 0;
    for (let w = 0; w < BITMAP_WORDS; w++) {
      let x = words[w] as number;
      while (x !== 0) {
        const low = x & -x;
        blocks[n++] = w * 32 + (31 - Math.clz32(low));
        x ^= low;
      }
    }
    return { chunk, words, blocks, firstUs, lastUs };
  }

  private armTick(): void {
    if (this.tickArmed) return;
    this.tickArmed = true;
    this.engine.at(this.lastHeardUs + CLIENT_DEFAULTS.receiveTimeoutUs, this.h.tick);
  }

  /** A receive timeout for every client at once: the server is silent and nobody asked for 30 ms. */
  tick(): void {
    this.tickArmed = false;
    if (this.sending) return;
    const now = this.engine.now;
    if (now < this.lastHeardUs + CLIENT_DEFAULTS.receiveTimeoutUs) {
      this.armTick();
      return;
    }
    this.collecting = this.serverQueue;
    const receiving = this.clients.idleRound(now);
    this.flushHerd();
    if (receiving > 0 && !this.sending) {
      this.tickArmed = true;
      this.engine.at(now + CLIENT_DEFAULTS.receiveTimeoutUs, this.h.tick);
    }
  }
}
