import type { Engine, Rng } from "../../../core/engine/index.js";
import { BlockBitmap } from "../../../core/frisbee/bitmap.js";
import { BITMAP_BYTES, CHUNK_BLOCKS, CLIENT_DEFAULTS, SERVER_DEFAULTS } from "../../../core/frisbee/constants.js";
import type { BurstPacing } from "../../../core/frisbee/rate.js";
import { WorkQueue } from "../../../core/frisbee/workqueue.js";
import { PLAN_NETWORK } from "../plan-network.js";
import type { ChunkClients } from "./clients.js";
import { ArrivingRequests, Herd, type Segment } from "./containers.js";
import type { SharedDownlink } from "./downlink.js";
import { LinkQueue } from "./link-queue.js";
import { BITMAP_WORDS, geometric, PREQUEST_WIRE_BYTES, REQUEST_WIRE_BYTES, type ChunkCounts, type ChunkHandlers, type ChunkSetup } from "./setup.js";

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
  private readonly serverQueue: boolean;
  private readonly downlink: SharedDownlink | null;
  private readonly chunks: number;
  private readonly lastChunkBlocks: number;
  private readonly segmentHeardUs: Float64Array;
  private readonly counts: ChunkCounts;
  private readonly queue = new WorkQueue(WORK_QUEUE_MAX);
  private sending = false;
  /** The sender found the queue empty at this time; it looks again every idlePollUs. */
  private idleSinceUs = 0;
  private idle = true;
  /** As the packet model's server: when the next burst may begin, the packets of this one. */
  private nextBurstUs = 0;
  private sentInBurst = 0;
  /** What pace() found: when the sender is free again, and the packets sent at the last one's time. */
  private freeUs = 0;
  private lastBurstPackets = 0;
  /** Of the last pace(): the first burst's packets, and when the next began. */
  private firstPackets = 0;
  private secondBurstUs = 0;
  /** The last request or segment end anyone heard: a receive timeout later, the clients tick. */
  lastHeardUs = 0;
  private tickArmed = false;
  /** With staggered receive timeouts (serverQueue and loss per receiver): the last tick of the clients not ahead. */
  private lastTickUs = 0;
  private readonly staggered: boolean;
  firstSendUs = -1;
  lastSendUs = -1;
  /**
   * The server's link queue (with serverQueue). Requests of thousands of clients multicast in one
   * idle round arrive together and overflow it, as in the packet model (where most of such a herd
   * is dropped there): those dropped never reach the work queue.
   */
  private readonly inQueue: LinkQueue;
  /** The requests of an idle round, while it runs (collecting); empty otherwise. */
  private readonly herd = new Herd();
  /** Requests the link has taken, on their way to the work queue (with serverQueue). */
  private readonly arriving = new ArrivingRequests();
  private readonly enqueue = (chunk: number, blocks: BlockBitmap): void => {
    this.queue.enqueue(chunk, blocks);
  };
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
    this.inQueue = new LinkQueue(s.serverLinkBps, PLAN_NETWORK.serverQueueBytes);
    this.serverQueue = s.serverQueue;
    this.staggered = s.serverQueue && s.clientLoss > 0;
    this.downlink = s.downlink;
    this.chunks = s.chunks;
    this.lastChunkBlocks = s.lastChunkBlocks;
    this.segmentHeardUs = s.segmentHeardUs;
    this.counts = s.counts;
  }

  /** A client's multicast request, reaching the server's link at `arrivalUs` (held to the end of an idle round). */
  request(chunk: number, slot: number, position: number, arrivalUs: number): void {
    this.downlink?.request(arrivalUs, slot < 0 ? REQUEST_WIRE_BYTES : PREQUEST_WIRE_BYTES);
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
    const waitUs = this.serverQueue ? this.inQueue.offer(arrivalUs, bytes) : 0;
    if (waitUs < 0) {
      this.counts.controlQueueDrops++;
      return;
    }
    this.counts.control++;
    const blocks = !whole ? this.clients.missingOf(slot, chunk) : this.blocksIn(chunk) === CHUNK_BLOCKS ? this.wholeChunk : BlockBitmap.full(this.blocksIn(chunk));
    if (this.serverQueue) {
      // It reaches the work queue when it has passed the link, after the herd ahead of it.
      this.arriving.push(arrivalUs + waitUs, chunk, whole ? blocks : blocks.copy());
      if (!this.sending) this.armServe(this.arriving.firstUs);
      return;
    }
    this.queue.enqueue(chunk, blocks);
    if (!this.sending) this.armServe(this.engine.now + this.controlDelayUs);
  }

  /** An idle server sees a request reaching it at `atUs` at its next look at the queue. */
  private armServe(atUs: number): void {
    this.sending = true;
    const pollUs = SERVER_DEFAULTS.idlePollUs;
    this.engine.at(this.idleSinceUs + (Math.floor((atUs - this.idleSinceUs) / pollUs) + 1) * pollUs, this.h.serve);
  }

  /** The requests of an idle round reach the server's link in the order they arrive there. */
  private flushHerd(): void {
    this.collecting = false;
    this.herd.forEachInArrivalOrder((chunk, slot, arrivalUs) => this.arrive(arrivalUs, chunk, slot));
  }

  /** Sends the head's wanted blocks as one segment, paced in bursts; they arrive when the last one would. */
  serve(): void {
    const now = this.engine.now;
    this.arriving.takeUntil(now, this.enqueue);
    const item = this.queue.dequeueAll();
    if (item === null) {
      this.sending = false;
      this.idle = true;
      this.idleSinceUs = now;
      if (this.arriving.size > 0) this.armServe(this.arriving.firstUs);
      else this.armTick();
      return;
    }
    if (this.idle) {
      // The look that found work starts a burst interval, as the packet model's server.
      this.idle = false;
      this.nextBurstUs = now + this.pacing.burstGapUs;
      this.sentInBurst = 0;
    }
    const sent = item.blocks;
    const k = sent.count;
    const lastUs = this.pace(now, k);
    if (this.firstSendUs < 0) this.firstSendUs = now;
    this.lastSendUs = lastUs;
    this.lastHeardUs = lastUs;
    this.counts.blocksSent += k;
    const sentWords = this.serverLoss > 0 ? wordsOf(sent) : null;
    if (this.serverLoss > 0) this.loseAtServer(sent);
    const arrivalUs = lastUs + this.blockDelayUs + this.clientSerUs * this.lastBurstPackets;
    const segment = this.segmentOf(item.chunk, sent, sentWords, now + this.blockDelayUs, arrivalUs);
    segment.sentUs = now;
    segment.firstPackets = this.firstPackets;
    segment.nextBurstUs = this.secondBurstUs;
    // Blocks of this chunk stamp it, until the segment ends, for a client with no buffer to take it.
    this.segmentHeardUs[item.chunk] = Math.max(this.segmentHeardUs[item.chunk] as number, lastUs);
    this.engine.at(arrivalUs, this.h.deliver, item.chunk, segment);
    this.engine.at(this.freeUs, this.h.segmentEnd);
  }

  segmentEnd(): void {
    this.serve();
  }

  /**
   * Sends `k` packets from `nowUs` as the packet model's server does: a burst, then a wait until
   * the next burst's time (at once if that has passed, the base moving to now). Returns the last
   * packet's send time; `freeUs` is when the sender takes new work.
   */
  private pace(nowUs: number, k: number): number {
    const { burstPackets: b, burstGapUs: gap } = this.pacing;
    let t = nowUs;
    let left = k;
    let lastUs = nowUs;
    for (let burst = 0; left > 0; burst++) {
      const n = Math.min(left, b - this.sentInBurst);
      this.sentInBurst += n;
      left -= n;
      lastUs = t;
      this.lastBurstPackets = n;
      if (burst === 0) this.firstPackets = n;
      if (this.sentInBurst < b) break;
      this.sentInBurst = 0;
      if (t < this.nextBurstUs) {
        t = this.nextBurstUs;
        this.nextBurstUs += gap;
      } else this.nextBurstUs = t + gap;
      if (burst === 0) this.secondBurstUs = t;
    }
    this.freeUs = t;
    return lastUs;
  }

  private loseAtServer(sent: BlockBitmap): void {
    for (let b = geometric(this.lossRng, this.logKeepServer); b < CHUNK_BLOCKS; b += 1 + geometric(this.lossRng, this.logKeepServer)) sent.clear(b);
  }

  /** The segment of the blocks kept (sent and not lost at the server), each with its place in the send order. */
  private segmentOf(chunk: number, kept: BlockBitmap, sentWords: Uint32Array | null, firstUs: number, lastUs: number): Segment {
    const words = wordsOf(kept);
    const all = sentWords ?? words;
    const blocks = new Int16Array(kept.count);
    const sendIndex = new Int16Array(kept.count);
    let n = 0;
    let index = 0;
    for (let w = 0; w < BITMAP_WORDS; w++) {
      let x = all[w] as number;
      const mine = words[w] as number;
      while (x !== 0) {
        const low = x & -x;
        x ^= low;
        if ((mine & low) !== 0) {
          blocks[n] = w * 32 + (31 - Math.clz32(low));
          sendIndex[n++] = index;
        }
        index++;
      }
    }
    const { burstPackets, burstGapUs } = this.pacing;
    return { chunk, words, blocks, firstUs, lastUs, sendIndex, sentUs: 0, firstPackets: 0, nextBurstUs: 0, burstPackets, gapUs: burstGapUs, passed: false };
  }

  /** Clients hear something at `atUs` (a request, a join): their receive timeouts start again from it. */
  heard(atUs: number): void {
    this.lastHeardUs = Math.max(this.lastHeardUs, atUs);
    if (!this.sending) this.armTick();
  }

  private armTick(): void {
    if (this.tickArmed) return;
    this.tickArmed = true;
    const mainUs = (this.staggered ? Math.max(this.lastHeardUs, this.lastTickUs) : this.lastHeardUs) + CLIENT_DEFAULTS.receiveTimeoutUs;
    const atUs = this.staggered ? Math.max(this.engine.now, Math.min(mainUs, this.clients.nextAheadTickUs())) : mainUs;
    this.engine.at(atUs, this.h.tick);
  }

  /** A receive timeout for every client at once: the server is silent and nobody asked for 30 ms. */
  tick(): void {
    this.tickArmed = false;
    if (this.sending) return;
    if (this.staggered) {
      this.tickStaggered();
      return;
    }
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

  /** A client's leave, heard by everyone at `atUs`. */
  heardLeave(atUs: number): void {
    if (!this.sending) this.clients.heardInSilence(Math.max(this.lastHeardUs, this.lastTickUs), 1);
    this.heard(atUs);
  }

  /**
   * The receive timeouts due now: first those of the clients ahead; if they ask, everyone else hears
   * them and starts again, else the rest tick together when theirs is due.
   */
  private tickStaggered(): void {
    const now = this.engine.now;
    const k = this.counts;
    this.collecting = this.serverQueue;
    const before = Math.max(this.lastHeardUs, this.lastTickUs);
    let asked = k.requests + k.prequests;
    this.clients.aheadRound(now);
    asked = k.requests + k.prequests - asked;
    this.clients.heardInSilence(before, asked);
    if (now >= Math.max(this.lastHeardUs, this.lastTickUs) + CLIENT_DEFAULTS.receiveTimeoutUs) {
      this.lastTickUs = now;
      asked = k.requests + k.prequests;
      this.clients.idleRound(now);
      this.clients.heardInSilence(now, k.requests + k.prequests - asked);
    }
    this.flushHerd();
    if (this.clients.receiving > 0 && !this.sending) this.armTick();
  }
}

function wordsOf(map: BlockBitmap): Uint32Array {
  return new Uint32Array(map.bytes.buffer.slice(map.bytes.byteOffset, map.bytes.byteOffset + BITMAP_BYTES));
}
