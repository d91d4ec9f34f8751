import { EventQueue, US_PER_SEC, type Address, type Env, type Micros, type Payload, type Process } from "../engine/index.js";
import { BlockBitmap } from "./bitmap.js";
import { BLOCK_BYTES, CHUNK_BLOCKS, SERVER_DEFAULTS } from "./constants.js";
import { ProgressTracker } from "./heartbeat.js";
import { msg, secondsOnWire, type FrisbeeMessage, type ProgressLevel } from "./messages.js";
import { MessageInput, type InputErrors } from "./payload.js";
import type { BurstPacing } from "./rate.js";
import { WorkQueue } from "./workqueue.js";

export interface ServerImage {
  /** Blocks in the image file (chunks * 1024 for a chunked image). */
  blockCount: number;
  /** Bytes in the image file. */
  byteCount: number;
  /** Bytes the image expands to on disk, for estimating clients' time left. */
  uncompressedBytes: number;
}

export interface FrisbeeServerOptions {
  group: Address;
  port: number;
  image: ServerImage;
  pacing: BurstPacing;
  /** Adapt the burst size to loss every 500 ms. */
  dynamic: boolean;
  /** Exit after this long with no requests or reports; 0 never. */
  idleExitUs: Micros;
  /** Ask clients for progress reports (see ProgressRequest); null: do not ask. */
  progressRequest: ProgressRequest | null;
  readBlocks?: number;
  workQueueMax?: number;
}

/**
 * How the server asks for progress reports. Each client is asked when it joins (by unicast, so a
 * join does not make every other client report again), and once per server life. Periodic: the
 * request carries `intervalUs` and the client reports on its own timer at that interval (the
 * server also asks the whole group once when it starts, for clients of an earlier life); 0 asks
 * for one report at once. `once`: a single report from each client, asked at a random time within
 * `intervalUs` after it joined, so clients joining together do not all report together.
 */
export interface ProgressRequest {
  intervalUs: Micros;
  level: ProgressLevel;
  once: boolean;
}

export interface FrisbeeServerStats extends InputErrors {
  blocksSent: number;
  /** Blocks sent more than once (re-sends). */
  blocksResent: number;
  joins: number;
  leaves: number;
  requests: number;
  prequests: number;
  merged: number;
  dropped: number;
  progressReports: number;
  progressLost: number;
  /** Control messages received (everything but blocks). */
  controlReceived: number;
  burstPackets: number;
  exitedAtUs: number;
  /**
   * Time the sender had work: from taking work off an empty queue to finding it empty again
   * (a stretch still running is not counted). Blocks sent over it is the rate the sender achieved,
   * which a real server short of CPU or of timer precision keeps below its pacing.
   */
  busyUs: number;
}

const TIMER_SEND = 1;
const TIMER_ADAPT = 2;
const TIMER_IDLE = 3;
const TIMER_ASK = 4;

/** The blocks of one disk read, being sent. */
interface Run {
  chunk: number;
  start: number;
  next: number;
  end: number;
  data: Uint8Array | null;
}

/**
 * frisbeed as a machine: answers joins at once, queues requests with the original's merge rules,
 * and sends its work queue's head as the original's sender does: a whole chunk, or the first
 * contiguous run of a partial request, taken from the queue and sent in disk reads of 32 blocks,
 * paced in bursts. Idle, it looks at the queue every millisecond. With a disk port it reads the
 * image through it; without one (a simulation with the image cached) the blocks are ready at once
 * and carry no data.
 */
export class FrisbeeServer implements Process {
  readonly stats: FrisbeeServerStats;
  readonly progress: ProgressTracker;
  private readonly queue: WorkQueue;
  private readonly chunks: number;
  private readonly everSent: Uint8Array;
  /** One bit per block of the image: sent at least once. */
  private readonly sentBlocks: Uint8Array;
  private readonly readBlocks: number;
  private burstPackets: number;
  /** When the next burst may begin (the original's `startnext`), and the packets of this one. */
  private nextBurstUs = 0;
  private sentInBurst = 0;
  /** The disk read being sent, and the next block of the work in flight after it. */
  private run: Run | null = null;
  private workNext = 0;
  private reading = false;
  /** The send timer is armed: for the next burst, or for the next look at the queue. */
  private sendArmed = false;
  /** Found the queue empty at this time (looking again every idlePollUs); -1 while busy. */
  private idleSinceUs = -1;
  /** Took work off an empty queue at this time; -1 while idle. */
  private busySinceUs = -1;
  /** The idle time passed while the sender was busy: look again when it finds the queue empty. */
  private idleCheckDue = false;
  private lossSeen = false;
  private lastActivityUs = 0;
  private exited = false;
  private readonly members = new Set<number>();
  /** Once-requests due, by time: kind the client's port, arg its address, ref its id; and their clients. */
  private readonly asks = new EventQueue();
  private readonly askPending = new Set<number>();
  private readonly input: MessageInput;

  constructor(
    private readonly env: Env,
    private readonly options: FrisbeeServerOptions,
  ) {
    const image = options.image;
    if (!(image.blockCount > 0)) throw new Error(`an image needs at least one block, got ${image.blockCount}`);
    if (!(options.pacing.burstPackets >= 1) || !(options.pacing.burstGapUs >= 1)) throw new Error("burst and gap must be at least 1");
    this.chunks = Math.ceil(image.blockCount / CHUNK_BLOCKS);
    this.everSent = new Uint8Array(this.chunks);
    this.sentBlocks = new Uint8Array(Math.ceil((this.chunks * CHUNK_BLOCKS) / 8));
    this.readBlocks = options.readBlocks ?? SERVER_DEFAULTS.readBlocks;
    this.queue = new WorkQueue(options.workQueueMax ?? SERVER_DEFAULTS.workQueueMax);
    this.burstPackets = options.pacing.burstPackets;
    this.progress = new ProgressTracker(image.uncompressedBytes);
    this.stats = {
      unknown: 0, malformed: 0, blocksSent: 0, blocksResent: 0, joins: 0, leaves: 0, requests: 0, prequests: 0,
      merged: 0, dropped: 0, progressReports: 0, progressLost: 0, controlReceived: 0,
      burstPackets: this.burstPackets, exitedAtUs: -1, busyUs: 0,
    };
    this.input = new MessageInput(this.stats, env.events);
  }

  get done(): boolean {
    return this.exited;
  }

  /** stats.busyUs with the stretch still running counted up to now (a server stopped while sending). */
  busyUsNow(): number {
    return this.stats.busyUs + (this.busySinceUs >= 0 ? this.env.now() - this.busySinceUs : 0);
  }

  /** Clients that joined and have not left. */
  get clients(): number {
    return this.members.size;
  }

  start(): void {
    this.env.net.join(this.options.group);
    this.lastActivityUs = this.env.now();
    this.idleSinceUs = this.lastActivityUs;
    if (this.options.dynamic) this.env.timers.set(TIMER_ADAPT, this.env.now() + SERVER_DEFAULTS.adaptIntervalUs);
    this.armIdle();
    const r = this.options.progressRequest;
    if (r !== null && !r.once) this.send(this.options.group, this.options.port, msg.progressRequest(secondsOnWire(r.intervalUs), r.level));
  }

  receive(from: Address, fromPort: number, payload: Payload): void {
    if (this.exited) return;
    const m = this.input.toMessage(payload, from, this.env.now());
    if (m === null || m.type === "block") return;
    this.stats.controlReceived++;
    this.lastActivityUs = this.env.now();
    switch (m.type) {
      // The reply goes first: a client still joining ignores the progress request `joined` sends.
      case "join":
        this.send(from, fromPort, msg.joinReply(this.options.image.blockCount));
        this.joined(m.clientId, from, fromPort);
        return;
      case "join2":
        // As the original: a JOIN2 reply gives the image's size in bytes only (blockcount 0).
        this.send(from, fromPort, msg.join2Reply(m.clientId, 0, this.options.image.byteCount));
        this.joined(m.clientId, from, fromPort);
        return;
      case "leave":
      case "leave2":
        this.left(m, from);
        return;
      case "request":
        this.stats.requests++;
        this.want(m.chunk, wholeOrRange(m.block, m.count));
        return;
      case "prequest":
        this.stats.prequests++;
        this.lossSeen = true;
        this.want(m.chunk, new BlockBitmap(m.bitmap.slice()));
        return;
      case "progress":
        this.reported(m, from);
        return;
      default:
        // Replies and progress requests are what a server sends, not what it answers.
        return;
    }
  }

  timer(id: number): void {
    if (this.exited) return;
    if (id === TIMER_SEND) {
      this.sendArmed = false;
      this.pump();
    } else if (id === TIMER_ADAPT) {
      this.adapt();
    } else if (id === TIMER_IDLE) {
      this.checkIdle();
    } else if (id === TIMER_ASK) {
      this.askDue();
    }
  }

  diskDone(op: number, error: string | null, data?: Uint8Array): void {
    if (this.exited || !this.reading || this.run === null || op !== this.run.chunk) return;
    this.reading = false;
    if (error !== null) {
      this.env.events.emit("frisbee.read-error", { chunk: this.run.chunk, block: this.run.next, error });
      this.run = null;
    } else {
      this.run.data = data ?? null;
    }
    this.pump();
  }

  private joined(clientId: number, from: Address, fromPort: number): void {
    this.stats.joins++;
    if (this.members.size < SERVER_DEFAULTS.clientsMax) this.members.add(clientId);
    this.env.events.emit("frisbee.join", { client: clientId });
    const r = this.options.progressRequest;
    if (r === null) return;
    if (!r.once) {
      // Only the joiner: the others keep their timers (asking the group would restart them all).
      this.send(from, fromPort, msg.progressRequest(secondsOnWire(r.intervalUs), r.level));
      return;
    }
    // A join retried while its ask waits (the reply was lost) is not asked twice; a client that
    // joins again later (restarted) is a new life and is asked again.
    if (this.askPending.has(clientId) || this.askPending.size >= SERVER_DEFAULTS.clientsMax) return;
    this.askPending.add(clientId);
    this.asks.push(this.env.now() + this.env.rng.int(r.intervalUs + 1), fromPort, from, clientId);
    this.armAsk();
  }

  /** Sends each once-request that is due, then waits for the next. */
  private askDue(): void {
    const r = this.options.progressRequest;
    if (r === null) return;
    const now = this.env.now();
    while (this.asks.peekTime() <= now) {
      const slot = this.asks.pop();
      const clientId = this.asks.ref[slot] as number;
      this.askPending.delete(clientId);
      // A client that has left since it joined is not asked.
      if (this.members.has(clientId)) this.send(this.asks.arg[slot] as number, this.asks.kind[slot] as number, msg.progressRequest(0, r.level));
      this.asks.release(slot);
    }
    this.armAsk();
  }

  private armAsk(): void {
    const next = this.asks.peekTime();
    if (next !== Infinity) this.env.timers.set(TIMER_ASK, next);
  }

  private left(m: Extract<FrisbeeMessage, { type: "leave" | "leave2" }>, from: Address): void {
    this.stats.leaves++;
    this.members.delete(m.clientId);
    this.progress.forget(m.clientId);
    this.env.events.emit("frisbee.leave", { client: m.clientId, from, elapsedSec: m.elapsedSec });
  }

  private reported(m: Extract<FrisbeeMessage, { type: "progress" }>, from: Address): void {
    this.stats.progressReports++;
    const outcome = this.progress.report(m.clientId, m.seq, m.summary, this.env.now());
    this.stats.progressLost = this.progress.lost;
    if (outcome.gap > 0) this.env.events.emit("frisbee.report-gap", { client: m.clientId, missing: outcome.gap, seq: m.seq });
    const s = m.summary;
    this.env.events.emit("frisbee.progress", {
      client: m.clientId,
      from,
      TSTAMP: m.whenSec,
      SEQUENCE: m.seq,
      CHUNKS_RECV: s?.chunksReceived ?? 0,
      CHUNKS_DECOMP: s?.chunksDecompressed ?? 0,
      BYTES_WRITTEN: s?.bytesWritten ?? 0,
      secondsLeft: outcome.secondsLeft ?? -1,
      level: m.level,
    });
  }

  private want(chunk: number, blocks: BlockBitmap): void {
    if (!(chunk >= 0 && chunk < this.chunks)) {
      this.stats.malformed++;
      this.env.events.emit("frisbee.bad-message", { error: `request for chunk ${chunk} of an image of ${this.chunks} chunks` });
      return;
    }
    const last = this.blocksIn(chunk);
    if (last < CHUNK_BLOCKS) blocks.clearRange(last, CHUNK_BLOCKS - last);
    if (blocks.count === 0) return;
    if (this.everSent[chunk] === 1) this.lossSeen = true;
    const outcome = this.queue.enqueue(chunk, blocks);
    if (outcome === "merged") this.stats.merged++;
    else if (outcome === "dropped") this.stats.dropped++;
    else if (this.idleSinceUs >= 0 && !this.sendArmed) this.armPoll();
  }

  /** An idle sender sees new work at its next look at the queue, one poll interval after another. */
  private armPoll(): void {
    const pollUs = SERVER_DEFAULTS.idlePollUs;
    const looks = Math.floor((this.env.now() - this.idleSinceUs) / pollUs) + 1;
    this.sendArmed = true;
    this.env.timers.set(TIMER_SEND, this.idleSinceUs + looks * pollUs);
  }

  private blocksIn(chunk: number): number {
    return Math.min(CHUNK_BLOCKS, this.options.image.blockCount - chunk * CHUNK_BLOCKS);
  }

  /**
   * Sends what pacing allows now, as the original's sender loop: a block, and after every burst a
   * sleep until the next burst's time; a burst that overran its time starts the next at once
   * (the base moves to now: no catch-up). Entered only from the send timer (which it disarms) and
   * from a read's completion, never while reading, armed or exited: no guard is needed.
   */
  private pump(): void {
    const gapUs = this.options.pacing.burstGapUs;
    for (;;) {
      if (this.run === null && !this.nextRun()) return;
      if (this.reading) return;
      this.sendBlock(this.run as Run);
      if (++this.sentInBurst < this.burstPackets) continue;
      this.sentInBurst = 0;
      const now = this.env.now();
      if (now < this.nextBurstUs) {
        this.sendArmed = true;
        this.env.timers.set(TIMER_SEND, this.nextBurstUs);
        this.nextBurstUs += gapUs;
        return;
      }
      this.nextBurstUs = now + gapUs;
    }
  }

  private sendBlock(run: Run): void {
    const block = run.next++;
    const at = (block - run.start) * BLOCK_BYTES;
    const data = run.data === null ? null : run.data.subarray(at, at + BLOCK_BYTES);
    const bit = run.chunk * CHUNK_BLOCKS + block;
    const sentBefore = ((this.sentBlocks[bit >> 3] as number) & (1 << (bit & 7))) !== 0;
    if (sentBefore) this.stats.blocksResent++;
    else this.sentBlocks[bit >> 3] = (this.sentBlocks[bit >> 3] as number) | (1 << (bit & 7));
    this.everSent[run.chunk] = 1;
    this.send(this.options.group, this.options.port, msg.block(run.chunk, block, data));
    this.stats.blocksSent++;
    if (run.next >= run.end) this.run = null;
  }

  /**
   * The next disk read of the work in flight, or of the next work taken from the queue; false when
   * the queue is empty: the sender is idle until its next look finds work.
   */
  private nextRun(): boolean {
    const work = this.queue.work;
    if (work.chunk < 0 || this.workNext >= work.block + work.count) {
      if (!this.queue.dequeue()) {
        this.idleSinceUs = this.env.now();
        if (this.busySinceUs >= 0) this.stats.busyUs += this.idleSinceUs - this.busySinceUs;
        this.busySinceUs = -1;
        if (this.idleCheckDue) {
          this.idleCheckDue = false;
          this.env.timers.set(TIMER_IDLE, this.idleSinceUs);
        }
        return false;
      }
      this.workNext = work.block;
    }
    if (this.idleSinceUs >= 0) {
      // The look that found work starts a new burst interval (the original restarts it on every idle look).
      this.nextBurstUs = this.env.now() + this.options.pacing.burstGapUs;
      this.sentInBurst = 0;
      this.idleSinceUs = -1;
      this.busySinceUs = this.env.now();
    }
    const first = this.workNext;
    const length = Math.min(this.readBlocks, work.block + work.count - first);
    this.workNext = first + length;
    this.run = { chunk: work.chunk, start: first, next: first, end: first + length, data: null };
    if (this.env.disk !== undefined) {
      this.reading = true;
      this.env.disk.read(work.chunk, (work.chunk * CHUNK_BLOCKS + first) * BLOCK_BYTES, length * BLOCK_BYTES);
    }
    return true;
  }

  private adapt(): void {
    if (this.lossSeen) this.burstPackets = Math.max(1, Math.min(this.burstPackets - 1, Math.floor(this.burstPackets * 0.9)));
    else this.burstPackets = Math.min(SERVER_DEFAULTS.adaptBurstMax, this.burstPackets + 1);
    this.stats.burstPackets = this.burstPackets;
    this.lossSeen = false;
    this.env.timers.set(TIMER_ADAPT, this.env.now() + SERVER_DEFAULTS.adaptIntervalUs);
  }

  private armIdle(): void {
    if (this.options.idleExitUs > 0) this.env.timers.set(TIMER_IDLE, this.lastActivityUs + this.options.idleExitUs);
  }

  private checkIdle(): void {
    if (this.env.now() < this.lastActivityUs + this.options.idleExitUs) {
      this.armIdle();
      return;
    }
    // Quiet for long enough but still sending: decide when the sender next finds the queue empty.
    // (Re-arming at the deadline, which has passed, fired again at once, for ever: a sender busy
    // for longer than the idle time with no request heard spun in place.)
    if (this.queue.length > 0 || this.idleSinceUs < 0) {
      this.idleCheckDue = true;
      return;
    }
    this.exited = true;
    this.stats.exitedAtUs = this.env.now();
    for (const id of [TIMER_SEND, TIMER_ADAPT, TIMER_IDLE, TIMER_ASK]) this.env.timers.cancel(id);
    this.env.events.emit("frisbee.idle-exit", { idleSec: this.options.idleExitUs / US_PER_SEC });
  }

  /** Messages go out as objects; a real network encodes them, with the addresses it knows. */
  private send(to: Address, port: number, m: FrisbeeMessage): void {
    this.env.net.send(to, port, m);
  }
}

function wholeOrRange(first: number, count: number): BlockBitmap {
  const map = new BlockBitmap();
  map.setRange(first, count);
  return map;
}
