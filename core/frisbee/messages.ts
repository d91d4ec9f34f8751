import { US_PER_SEC, type Micros } from "../engine/time.js";
import { BITMAP_BYTES, BLOCK_BYTES, MESSAGE_HEADER_BYTES } from "./constants.js";

/**
 * Frisbee's messages, as a discriminated union. Each carries `wireBytes`, the size of its UDP
 * payload in the original format, so a simulation can send it without encoding it; `codec.ts`
 * encodes and decodes the original bytes. A BLOCK in a simulation carries no data (`data: null`).
 */

/**
 * The wire carries times in whole seconds (an interval, a client's clock, time since joining);
 * machines work in microseconds and convert only when they make or read a message.
 */
export function secondsOnWire(us: Micros): number {
  return Math.floor(us / US_PER_SEC);
}

export function microsFromWire(seconds: number): Micros {
  return seconds * US_PER_SEC;
}

/** Header `type`: requests go to the server (or to the group), replies come back. */
export const PKT_TYPE_REQUEST = 1;
export const PKT_TYPE_REPLY = 2;

export const SUBTYPE = {
  join: 1,
  leave: 2,
  block: 3,
  request: 4,
  leave2: 5,
  prequest: 6,
  join2: 7,
  progress: 8,
} as const;

/** What a progress report carries; a server asks for a level, a client reports at it. */
export const PROGRESS_LEVEL = { none: 0, summary: 1, full: 2 } as const;
export type ProgressLevel = (typeof PROGRESS_LEVEL)[keyof typeof PROGRESS_LEVEL];

/** The client statistics of LEAVE2 (version 1 of the original's `ClientStats_t`), all integers. */
export interface ClientStats {
  runsec: number;
  runmsec: number;
  delayms: number;
  rbyteswritten: number;
  ebyteswritten: number;
  chunkbufs: number;
  maxreadahead: number;
  maxinprogress: number;
  pkttimeout: number;
  startdelay: number;
  idletimer: number;
  idledelay: number;
  redodelay: number;
  randomize: number;
  nochunksready: number;
  nofreechunks: number;
  dupchunk: number;
  dupblock: number;
  prequests: number;
  recvidles: number;
  joinattempts: number;
  requests: number;
  decompblocks: number;
  writeridles: number;
  writebufmem: number;
  lostblocks: number;
  rerequests: number;
}

export const CLIENT_STATS_FIELDS: readonly (keyof ClientStats)[] = [
  "runsec", "runmsec", "delayms", "rbyteswritten", "ebyteswritten", "chunkbufs", "maxreadahead",
  "maxinprogress", "pkttimeout", "startdelay", "idletimer", "idledelay", "redodelay", "randomize",
  "nochunksready", "nofreechunks", "dupchunk", "dupblock", "prequests", "recvidles", "joinattempts",
  "requests", "decompblocks", "writeridles", "writebufmem", "lostblocks", "rerequests",
];

/** The stats union of LEAVE2 is 1024 bytes after its 4-byte version. */
export const LEAVE2_STATS_BYTES = 1024;

export interface ProgressSummary {
  chunksReceived: number;
  chunksDecompressed: number;
  bytesWritten: number;
}

export type FrisbeeMessage =
  | { readonly type: "join"; readonly wireBytes: number; clientId: number }
  | { readonly type: "joinReply"; readonly wireBytes: number; blockCount: number }
  | { readonly type: "join2"; readonly wireBytes: number; clientId: number; blockCount: number; chunkBlocks: number; blockBytes: number; byteCount: number }
  | { readonly type: "join2Reply"; readonly wireBytes: number; clientId: number; blockCount: number; chunkBlocks: number; blockBytes: number; byteCount: number }
  | { readonly type: "leave"; readonly wireBytes: number; clientId: number; elapsedSec: number }
  | { readonly type: "leave2"; readonly wireBytes: number; clientId: number; elapsedSec: number; stats: ClientStats }
  | { readonly type: "block"; readonly wireBytes: number; chunk: number; block: number; data: Uint8Array | null }
  | { readonly type: "request"; readonly wireBytes: number; chunk: number; block: number; count: number }
  | { readonly type: "prequest"; readonly wireBytes: number; chunk: number; retries: number; bitmap: Uint8Array }
  | { readonly type: "progressRequest"; readonly wireBytes: number; intervalSec: number; level: ProgressLevel }
  | {
      readonly type: "progress";
      readonly wireBytes: number;
      clientId: number;
      /** The client's IPv4 address as a number: 0 from the machine, filled in by the real network as it encodes. */
      who: number;
      /** The client's clock, in seconds. */
      whenSec: number;
      level: ProgressLevel;
      /** 16 bits, starting at 1 and wrapping. */
      seq: number;
      summary: ProgressSummary | null;
      stats: ClientStats | null;
    };

export type MessageType = FrisbeeMessage["type"];

const H = MESSAGE_HEADER_BYTES;
const PROGRESS_BODY_BYTES = 16;
const PROGRESS_SUMMARY_BYTES = 16;
/** The stats struct as a progress report at level full carries it: version + the v1 fields. */
export const PROGRESS_STATS_BYTES = 4 + 116;

export const WIRE_BYTES = {
  join: H + 4,
  joinReply: H + 4,
  join2: H + 24,
  join2Reply: H + 24,
  leave: H + 8,
  leave2: H + 8 + 4 + LEAVE2_STATS_BYTES,
  block: H + 8 + BLOCK_BYTES,
  request: H + 12,
  prequest: H + 8 + BITMAP_BYTES,
  progressRequest: H + PROGRESS_BODY_BYTES,
} as const;

export function progressWireBytes(summary: boolean, stats: boolean): number {
  return H + PROGRESS_BODY_BYTES + (summary ? PROGRESS_SUMMARY_BYTES : 0) + (stats ? PROGRESS_STATS_BYTES : 0);
}

export const msg = {
  join: (clientId: number): FrisbeeMessage => ({ type: "join", wireBytes: WIRE_BYTES.join, clientId }),
  joinReply: (blockCount: number): FrisbeeMessage => ({ type: "joinReply", wireBytes: WIRE_BYTES.joinReply, blockCount }),
  join2: (clientId: number): FrisbeeMessage => ({
    type: "join2",
    wireBytes: WIRE_BYTES.join2,
    clientId,
    blockCount: 0,
    chunkBlocks: 1024,
    blockBytes: BLOCK_BYTES,
    byteCount: 0,
  }),
  join2Reply: (clientId: number, blockCount: number, byteCount: number): FrisbeeMessage => ({
    type: "join2Reply",
    wireBytes: WIRE_BYTES.join2Reply,
    clientId,
    blockCount,
    chunkBlocks: 1024,
    blockBytes: BLOCK_BYTES,
    byteCount,
  }),
  leave: (clientId: number, elapsedSec: number): FrisbeeMessage => ({ type: "leave", wireBytes: WIRE_BYTES.leave, clientId, elapsedSec }),
  leave2: (clientId: number, elapsedSec: number, stats: ClientStats): FrisbeeMessage => ({
    type: "leave2",
    wireBytes: WIRE_BYTES.leave2,
    clientId,
    elapsedSec,
    stats,
  }),
  block: (chunk: number, block: number, data: Uint8Array | null): FrisbeeMessage => ({ type: "block", wireBytes: WIRE_BYTES.block, chunk, block, data }),
  request: (chunk: number, block: number, count: number): FrisbeeMessage => ({ type: "request", wireBytes: WIRE_BYTES.request, chunk, block, count }),
  prequest: (chunk: number, retries: number, bitmap: Uint8Array): FrisbeeMessage => ({
    type: "prequest",
    wireBytes: WIRE_BYTES.prequest,
    chunk,
    retries,
    bitmap,
  }),
  progressRequest: (intervalSec: number, level: ProgressLevel): FrisbeeMessage => ({
    type: "progressRequest",
    wireBytes: WIRE_BYTES.progressRequest,
    intervalSec,
    level,
  }),
  progress: (
    clientId: number,
    who: number,
    whenSec: number,
    level: ProgressLevel,
    seq: number,
    summary: ProgressSummary | null,
    stats: ClientStats | null,
  ): FrisbeeMessage => ({
    type: "progress",
    wireBytes: progressWireBytes(summary !== null, stats !== null),
    clientId,
    who,
    whenSec,
    level,
    seq,
    summary,
    stats,
  }),
};

export function emptyStats(): ClientStats {
  const stats = {} as ClientStats;
  for (const field of CLIENT_STATS_FIELDS) stats[field] = 0;
  return stats;
}

/** Narrows a payload that arrived from the network to a Frisbee message, if it is one. */
export function isFrisbeeMessage(payload: { readonly type: string }): payload is FrisbeeMessage {
  return MESSAGE_TYPES.has(payload.type);
}

const MESSAGE_TYPES: ReadonlySet<string> = new Set<MessageType>([
  "join", "joinReply", "join2", "join2Reply", "leave", "leave2", "block", "request", "prequest", "progressRequest", "progress",
]);
