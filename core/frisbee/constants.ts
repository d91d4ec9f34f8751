import { US_PER_SEC } from "../engine/time.js";

/** Facts and defaults of the original Frisbee (../shared/reference/frisbee.md). */

export const BLOCK_BYTES = 1024;
export const CHUNK_BLOCKS = 1024;
export const CHUNK_BYTES = BLOCK_BYTES * CHUNK_BLOCKS;
/** A block bitmap on the wire: one bit per block of a chunk. */
export const BITMAP_BYTES = CHUNK_BLOCKS / 8;

/** Bytes a block packet adds on the wire beyond its UDP payload: IP + UDP, then Ethernet framing. */
export const IP_UDP_HEADER_BYTES = 28;
export const ETHERNET_FRAMING_BYTES = 38;

export const MESSAGE_HEADER_BYTES = 16;

export const SERVER_DEFAULTS = {
  burstPackets: 16,
  burstGapUs: 2_000,
  /** Blocks the server reads from disk at a time. */
  readBlocks: 32,
  /**
   * An idle server looks at its work queue this often (the original's sender sleeps 1 ms, its
   * clock's resolution, between looks): requests arriving within one look merge before it sends.
   */
  idlePollUs: 1_000,
  /** Adaptive rate: every 500 ms, shrink by 10% after loss, else grow by one, up to 128. */
  adaptIntervalUs: 500_000,
  adaptBurstMax: 128,
  idleExitUs: 1_800_000_000,
  /** Most requests waiting in the work queue; past it the oldest whole-chunk requests still win by merging. */
  workQueueMax: 65_536,
  /** Most clients the server tracks at once (joins beyond it are answered but not tracked). */
  clientsMax: 100_000,
} as const;

export const CLIENT_DEFAULTS = {
  joinRetryUs: 125_000,
  joinRetryUsMax: US_PER_SEC,
  /** New whole-chunk requests per request round (after a chunk completes, or on idle). */
  requestAheadChunks: 2,
  /** No new whole-chunk requests while this many chunks are partly filled. */
  inProgressChunksMax: 8,
  /** Chunk buffers; blocks of chunks with no free buffer are dropped. */
  chunkBuffers: 64,
  /** No (re)request for a chunk requested or seen within this time. */
  suppressUs: US_PER_SEC,
  receiveTimeoutUs: 30_000,
  /** Idle after this many receive timeouts with no useful block. */
  idleTimeouts: 3,
  /** The idle wait grows by one receive timeout per consecutive idle request, up to about a second. */
  idleWaitUsMax: US_PER_SEC,
  /** Decompressed chunks waiting for the disk; the pipeline stalls receiving into new buffers past it. */
  writeQueueChunksMax: 8,
  /** First heartbeat after a random delay up to this. */
  heartbeatFirstDelayUsMax: 5_000_000,
} as const;
