import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { HashKind, Region } from "../../core/image/index.js";
import { ImageIoError } from "./errors.js";
import { readAndHash, type PieceReadReply, type PieceReadRequest } from "./piece-read.js";
import { builtModuleUrl } from "../runtime/built-module.js";

/** Most hashing threads, whatever the machine has. */
export const PIECE_THREADS_MAX = 8;
/** Windows read and hashed ahead per thread: one being worked on, one waiting, so a thread never idles. */
const AHEAD_PER_THREAD = 2;

export interface HashedWindow {
  /** The window's bytes, in a shared slot: valid until `release`, so copy what must outlive it. */
  data: Uint8Array;
  /** The full digest of each piece asked for, in the order asked. */
  digests: Uint8Array[];
  /** The window's runs of blocks that are not all zeros (absolute sectors; a block cut by the window's start is judged on its part). */
  nonzero: Region[];
}

interface Asked {
  slot: number;
  length: number;
  pieceCount: number;
  reply: Promise<PieceReadReply>;
}

/**
 * Reads a disk's windows, finds their zero blocks and hashes their signature pieces on worker
 * threads, several windows ahead of the caller, who takes them in order (`next`). One thread
 * reading and hashing every piece of a disk made the no-change delta slower than xdelta3; the reads
 * (page-cache copies), the zero scans and the hashes now spread over every core. The windows land
 * in shared buffers (slots) the threads keep: nothing is copied or transferred back.
 * `threads: 0` does the work on the calling thread (when no worker thread can be had).
 */
export class PieceHasher {
  private readonly workers: Worker[];
  private readonly busy: number[];
  /** Per thread, the buffer it last saw in each slot. */
  private readonly known: SharedArrayBuffer[][];
  private readonly slots: SharedArrayBuffer[] = [];
  private readonly free: number[] = [];
  private readonly waiting = new Map<number, { resolve: (r: PieceReadReply) => void; reject: (e: Error) => void }>();
  private readonly queue: Asked[] = [];
  private current: number | null = null;
  private nextId = 0;
  private failed: Error | null = null;

  constructor(
    private readonly fd: number,
    private readonly path: string,
    private readonly kind: HashKind,
    private readonly granularityBytes: number,
    threads = Math.min(PIECE_THREADS_MAX, availableParallelism()),
  ) {
    if (!Number.isSafeInteger(threads) || threads < 0 || threads > PIECE_THREADS_MAX) throw new Error(`PieceHasher: threads must be 0 to ${PIECE_THREADS_MAX}, got ${threads}`);
    this.workers = Array.from({ length: threads }, () => this.startWorker());
    this.busy = this.workers.map(() => 0);
    this.known = this.workers.map(() => []);
  }

  /** Windows the caller should keep asked for ahead of the one it works on. */
  get ahead(): number {
    return Math.max(1, this.workers.length * AHEAD_PER_THREAD);
  }

  /** Asks for the window [startByte, +length) and the digests of `pieces` (byte offset in the window, length) in it. */
  ask(startByte: number, length: number, pieces: readonly (readonly [number, number])[]): void {
    const flat = new Float64Array(pieces.length * 2);
    pieces.forEach(([at, n], k) => flat.set([at, n], k * 2));
    const slot = this.slotFor(length);
    const request: PieceReadRequest = { id: this.nextId++, fd: this.fd, startByte, length, slot, kind: this.kind, granularityBytes: this.granularityBytes, pieces: flat };
    const reply = this.send(request);
    reply.catch(() => undefined); // taken in order by next(); a failure ahead of its turn must not be unhandled
    this.queue.push({ slot, length, pieceCount: pieces.length, reply });
  }

  /** The oldest window asked for; the one taken before is released. */
  async next(): Promise<HashedWindow> {
    this.release();
    const asked = this.queue.shift();
    if (asked === undefined) throw new Error("PieceHasher.next: no window asked for");
    this.current = asked.slot;
    const reply = await asked.reply;
    if (!reply.ok) throw new ImageIoError(`${this.path}: ${reply.error}`);
    const size = asked.pieceCount === 0 ? 0 : reply.digests.length / asked.pieceCount;
    const digests = Array.from({ length: asked.pieceCount }, (_, k) => reply.digests.subarray(k * size, (k + 1) * size));
    return { data: new Uint8Array(this.slots[asked.slot]!, 0, asked.length), digests, nonzero: reply.nonzero };
  }

  /** The window taken last is no longer looked at: its slot may be filled again. */
  release(): void {
    if (this.current !== null) this.free.push(this.current);
    this.current = null;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** A free slot of at least `length` bytes (a new one while fewer exist than windows in flight). */
  private slotFor(length: number): number {
    const slot = this.free.pop() ?? this.slots.length;
    if ((this.slots[slot]?.byteLength ?? -1) < length) this.slots[slot] = new SharedArrayBuffer(length);
    return slot;
  }

  private send(request: PieceReadRequest): Promise<PieceReadReply> {
    if (this.failed !== null) return Promise.reject(this.failed);
    if (this.workers.length === 0) return new Promise((resolve) => setImmediate(() => resolve(readAndHash(request, this.slots))));
    // The least busy thread: windows take about the same time, so this keeps every core fed.
    const k = this.busy.indexOf(Math.min(...this.busy));
    this.busy[k]!++;
    const buffer = this.slots[request.slot]!;
    if (this.known[k]![request.slot] !== buffer) {
      this.known[k]![request.slot] = buffer;
      request.buffer = buffer;
    }
    return new Promise<PieceReadReply>((resolve, reject) => {
      this.waiting.set(request.id, {
        resolve: (r) => {
          this.busy[k]!--;
          resolve(r);
        },
        reject,
      });
      this.workers[k]!.postMessage(request);
    });
  }

  private startWorker(): Worker {
    const w = new Worker(workerUrl());
    w.on("message", (reply: PieceReadReply) => {
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      waiter?.resolve(reply);
    });
    w.on("error", (error) => this.fail(error));
    return w;
  }

  /** A thread died (out of memory, a bug): every window still waited for fails with it. */
  private fail(error: Error): void {
    this.failed = new ImageIoError(`${this.path}: a hashing thread failed (${error.message})`);
    for (const w of this.waiting.values()) w.reject(this.failed);
    this.waiting.clear();
  }
}

function workerUrl(): URL {
  return builtModuleUrl(import.meta.url, "real/image/piece-worker.js", "the piece-hashing worker");
}
