import { Worker } from "node:worker_threads";
import type { ChunkWrite, InflateResult } from "../../core/frisbee/client.js";
import { inflateForDisk, type InflateReply, type InflateRequest } from "./inflate-chunk.js";
import { builtModuleUrl } from "../runtime/built-module.js";

export interface Inflated {
  chunk: number;
  result: InflateResult;
  /** Where the chunk's range of the disk ends (0 for a bad chunk). */
  endBytes: number;
}

/**
 * Decompression off the receiving thread: chunks go to a worker thread and come back as writes,
 * so the event loop that reads the socket never stalls on zlib. `threads: 0` decodes on the
 * calling thread (still answering asynchronously), for when no worker can be had.
 */
export class Inflater {
  private readonly worker: Worker | null;
  private closed = false;

  constructor(
    private readonly zeroFill: boolean,
    private readonly done: (inflated: Inflated) => void,
    threads: 0 | 1 = 1,
  ) {
    this.worker = threads === 0 ? null : new Worker(workerUrl());
    this.worker?.on("message", (reply: InflateReply) => this.replied(reply));
    this.worker?.on("error", (error) => {
      throw error;
    });
    this.worker?.unref();
  }

  /** Copies `bytes` (valid only during the call) and decodes them off this thread. */
  inflate(chunk: number, bytes: Uint8Array): void {
    const request: InflateRequest = { chunk, bytes: new Uint8Array(bytes), zeroFill: this.zeroFill };
    if (this.worker === null) setImmediate(() => this.replied(inflateForDisk(request)));
    else this.worker.postMessage(request, [request.bytes.buffer as ArrayBuffer]);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.worker?.terminate();
  }

  private replied(reply: InflateReply): void {
    if (this.closed) return;
    if (!reply.ok) {
      this.done({ chunk: reply.chunk, result: { ok: false, error: reply.error }, endBytes: 0 });
      return;
    }
    const writes: ChunkWrite[] = reply.writes.map((w) => ({
      offsetBytes: w.offsetBytes,
      data: w.at < 0 ? w.length : new Uint8Array(reply.buffer, w.at, w.length),
    }));
    this.done({ chunk: reply.chunk, result: { ok: true, writes }, endBytes: reply.endBytes });
  }
}

function workerUrl(): URL {
  return builtModuleUrl(import.meta.url, "real/frisbee/inflate-worker.js", "the inflate worker");
}
