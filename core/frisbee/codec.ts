import type { WireMessage } from "../engine/index.js";
import { BITMAP_BYTES, BLOCK_BYTES, CHUNK_BLOCKS, MESSAGE_HEADER_BYTES } from "./constants.js";
import {
  isFrisbeeMessage,
  PKT_TYPE_REPLY,
  PKT_TYPE_REQUEST,
  PROGRESS_LEVEL,
  SUBTYPE,
  WIRE_BYTES,
  emptyStats,
  progressWireBytes,
  type ClientStats,
  type FrisbeeMessage,
  type MessageType,
  type ProgressLevel,
  type ProgressSummary,
} from "./messages.js";

/**
 * The original Frisbee's bytes (../shared/fixtures/emulab/frisbee.json): a 16-byte header of
 * little-endian `int32 type, subtype, datalen` and `srcip` in network order, then a little-endian
 * body of exactly `datalen` bytes. `decode` never throws: bad bytes give an error value, and a
 * type or subtype it does not know is flagged `unknownType` so callers ignore and count it.
 */

export type DecodeResult =
  | { ok: true; message: FrisbeeMessage; srcIp: number }
  | { ok: false; error: string; unknownType?: boolean };

export type BlockMessage = Extract<FrisbeeMessage, { type: "block" }>;

type IntKind = "int32" | "uint32" | "uint16" | "uint64";

/** Version 1 of the original's `ClientStats_t`, packed, in wire order after its `int32 version`. */
export const CLIENT_STATS_LAYOUT: readonly (readonly [keyof ClientStats, "int32" | "uint32" | "uint64"])[] = [
  ["runsec", "int32"], ["runmsec", "int32"], ["delayms", "int32"],
  ["rbyteswritten", "uint64"], ["ebyteswritten", "uint64"],
  ["chunkbufs", "int32"], ["maxreadahead", "int32"], ["maxinprogress", "int32"], ["pkttimeout", "int32"],
  ["startdelay", "int32"], ["idletimer", "int32"], ["idledelay", "int32"], ["redodelay", "int32"],
  ["randomize", "int32"],
  ["nochunksready", "uint32"], ["nofreechunks", "uint32"], ["dupchunk", "uint32"], ["dupblock", "uint32"],
  ["prequests", "uint32"], ["recvidles", "uint32"], ["joinattempts", "uint32"], ["requests", "uint32"],
  ["decompblocks", "uint32"], ["writeridles", "uint32"],
  ["writebufmem", "int32"],
  ["lostblocks", "uint32"], ["rerequests", "uint32"],
];

const H = MESSAGE_HEADER_BYTES;
const STATS_VERSION = 1;
const STATS_V1_BYTES = 116;
/** LEAVE2 needs at least its ids, the stats version and the v1 fields; the original sends the whole union. */
const LEAVE2_BODY_BYTES_MIN = 8 + 4 + STATS_V1_BYTES;
const LEAVE2_BODY_BYTES_MAX = WIRE_BYTES.leave2 - H;
const UINT64_HIGH_MAX = 0x1f_ffff; // 2^53 - 1 >>> 32: the largest high word a JS number holds exactly
const TWO_32 = 0x1_0000_0000;

const KIND_BYTES: Record<IntKind, number> = { int32: 4, uint32: 4, uint16: 2, uint64: 8 };
if (CLIENT_STATS_LAYOUT.reduce((sum, [, kind]) => sum + KIND_BYTES[kind], 0) !== STATS_V1_BYTES) {
  throw new Error("CLIENT_STATS_LAYOUT does not add up to the 116 bytes of the v1 stats");
}

const HEADER: Record<MessageType, readonly [type: number, subtype: number]> = {
  join: [PKT_TYPE_REQUEST, SUBTYPE.join],
  joinReply: [PKT_TYPE_REPLY, SUBTYPE.join],
  join2: [PKT_TYPE_REQUEST, SUBTYPE.join2],
  join2Reply: [PKT_TYPE_REPLY, SUBTYPE.join2],
  leave: [PKT_TYPE_REQUEST, SUBTYPE.leave],
  leave2: [PKT_TYPE_REQUEST, SUBTYPE.leave2],
  // The original sends BLOCKs with type REQUEST.
  block: [PKT_TYPE_REQUEST, SUBTYPE.block],
  request: [PKT_TYPE_REQUEST, SUBTYPE.request],
  prequest: [PKT_TYPE_REQUEST, SUBTYPE.prequest],
  progressRequest: [PKT_TYPE_REQUEST, SUBTYPE.progress],
  progress: [PKT_TYPE_REPLY, SUBTYPE.progress],
};

// ---------------------------------------------------------------------------------------------
// Validity rules shared by encode (a violation is our bug) and decode (a violation is the peer's).

function blockProblem(chunk: number, block: number): string | null {
  if (chunk < 0) return `chunk ${chunk} is negative`;
  if (block < 0 || block >= CHUNK_BLOCKS) return `block ${block} is outside 0..${CHUNK_BLOCKS - 1}`;
  return null;
}

function requestProblem(chunk: number, block: number, count: number): string | null {
  if (chunk < 0) return `chunk ${chunk} is negative`;
  if (block < 0) return `block ${block} is negative`;
  if (count < 0) return `count ${count} is negative`;
  if (block + count > CHUNK_BLOCKS) return `block ${block} + count ${count} passes the ${CHUNK_BLOCKS} blocks of a chunk`;
  return null;
}

function levelProblem(level: number): string | null {
  return level === PROGRESS_LEVEL.none || level === PROGRESS_LEVEL.summary || level === PROGRESS_LEVEL.full
    ? null
    : `level ${level} is not 0 (none), 1 (summary) or 2 (full)`;
}

/**
 * The receiver's check of a BLOCK against an image of `chunks` chunks: decode already checked the
 * rest, but only the receiver knows how many chunks the image has.
 */
export function validBlock(message: BlockMessage, chunks: number): boolean {
  return blockProblem(message.chunk, message.block) === null && message.chunk < chunks;
}

// ---------------------------------------------------------------------------------------------
// Encoding

function fits(kind: IntKind, value: number): boolean {
  if (!Number.isInteger(value)) return false;
  switch (kind) {
    case "int32": return value >= -0x8000_0000 && value <= 0x7fff_ffff;
    case "uint32": return value >= 0 && value <= 0xffff_ffff;
    case "uint16": return value >= 0 && value <= 0xffff;
    case "uint64": return value >= 0 && value <= Number.MAX_SAFE_INTEGER;
  }
}

function put(view: DataView, offset: number, kind: IntKind, value: number, name: string): void {
  if (!fits(kind, value)) throw new Error(`frisbee encode: ${name} ${value} does not fit a ${kind}`);
  switch (kind) {
    case "int32": view.setInt32(offset, value, true); return;
    case "uint32": view.setUint32(offset, value, true); return;
    case "uint16": view.setUint16(offset, value, true); return;
    case "uint64":
      view.setUint32(offset, value % TWO_32, true);
      view.setUint32(offset + 4, Math.floor(value / TWO_32), true);
      return;
  }
}

function check(problem: string | null, type: MessageType): void {
  if (problem !== null) throw new Error(`frisbee encode: ${type}: ${problem}`);
}

function putBytes(bytes: Uint8Array, offset: number, data: Uint8Array, length: number, name: string): void {
  if (data.length !== length) throw new Error(`frisbee encode: ${name} is ${data.length} bytes, not ${length}`);
  bytes.set(data, offset);
}

function putStats(view: DataView, offset: number, stats: ClientStats): void {
  view.setInt32(offset, STATS_VERSION, true);
  let at = offset + 4;
  for (const [field, kind] of CLIENT_STATS_LAYOUT) {
    put(view, at, kind, stats[field], `stats.${field}`);
    at += KIND_BYTES[kind];
  }
}

function putSummary(view: DataView, offset: number, summary: ProgressSummary): void {
  put(view, offset, "uint32", summary.chunksReceived, "summary.chunksReceived");
  put(view, offset + 4, "uint32", summary.chunksDecompressed, "summary.chunksDecompressed");
  put(view, offset + 8, "uint64", summary.bytesWritten, "summary.bytesWritten");
}

function wireBytesOf(message: FrisbeeMessage): number {
  return message.type === "progress"
    ? progressWireBytes(message.summary !== null, message.stats !== null)
    : WIRE_BYTES[message.type];
}

/** The original's datagram for `message`, sent from `srcIp` (IPv4 as an unsigned number). */
export function encode(message: FrisbeeMessage, srcIp: number): Uint8Array {
  const length = wireBytesOf(message);
  if (length !== message.wireBytes) {
    throw new Error(`frisbee encode: ${message.type} says wireBytes ${message.wireBytes} but its encoding is ${length} bytes`);
  }
  if (!fits("uint32", srcIp)) throw new Error(`frisbee encode: srcIp ${srcIp} is not an IPv4 address as a number`);
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  const [type, subtype] = HEADER[message.type];
  view.setInt32(0, type, true);
  view.setInt32(4, subtype, true);
  view.setInt32(8, length - H, true);
  view.setUint32(12, srcIp, false); // network order, unlike everything else
  putBody(bytes, view, message);
  return bytes;
}

/**
 * Whether a datagram is one only a server sends (a join reply, a block, a progress request), from
 * its header alone: a client waiting for a server must not take other clients' joins for one.
 */
export function sentByServer(bytes: Uint8Array): boolean {
  if (bytes.byteLength < H) return false;
  const type = int32LE(bytes, 0);
  const subtype = int32LE(bytes, 4);
  if (type === PKT_TYPE_REPLY) return subtype === SUBTYPE.join || subtype === SUBTYPE.join2;
  return type === PKT_TYPE_REQUEST && (subtype === SUBTYPE.block || subtype === SUBTYPE.progress);
}

function int32LE(bytes: Uint8Array, at: number): number {
  return (bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16) | ((bytes[at + 3] as number) << 24);
}

// ---------------------------------------------------------------------------------------------
// The block path without objects: a real server sends and a real client receives some 100,000
// BLOCKs a second, and a message object, a DataView and a result per datagram cost the GC more
// than the datagram's own handling. Same bytes and same acceptance as encode and decode.

/** Where a BLOCK datagram's block bytes begin. */
export const BLOCK_DATA_AT = H + 8;

/**
 * Whether `bytes` is a BLOCK that `decode` accepts (its type, length, datalen, chunk and block
 * all checked), read in place. Anything else goes through `decode`, which says what is wrong.
 */
export function isWellFormedBlock(bytes: Uint8Array): boolean {
  if (bytes.length !== WIRE_BYTES.block) return false;
  if (int32LE(bytes, 0) !== PKT_TYPE_REQUEST || int32LE(bytes, 4) !== SUBTYPE.block || int32LE(bytes, 8) !== WIRE_BYTES.block - H) return false;
  return blockProblem(int32LE(bytes, H), int32LE(bytes, H + 4)) === null;
}

/** The chunk of a datagram `isWellFormedBlock` accepted. */
export function blockChunkOf(bytes: Uint8Array): number {
  return int32LE(bytes, H);
}

/** The block (within its chunk) of a datagram `isWellFormedBlock` accepted. */
export function blockIndexOf(bytes: Uint8Array): number {
  return int32LE(bytes, H + 4);
}

/**
 * Writes the BLOCK datagram of `chunk`/`block` into `out` at `at` (WIRE_BYTES.block bytes), the
 * bytes `encode` gives for it: `data` is the block's 1,024 bytes, or null for zeros.
 */
export function encodeBlockInto(out: Uint8Array, at: number, chunk: number, block: number, data: Uint8Array | null, srcIp: number): void {
  check(blockProblem(chunk, block), "block");
  if (!fits("int32", chunk) || !fits("uint32", srcIp)) throw new Error(`frisbee encode: block of chunk ${chunk} from ${srcIp} does not fit the header`);
  if (data !== null && data.length !== BLOCK_BYTES) throw new Error(`frisbee encode: block data is ${data.length} bytes, not ${BLOCK_BYTES}`);
  putInt32LE(out, at, PKT_TYPE_REQUEST);
  putInt32LE(out, at + 4, SUBTYPE.block);
  putInt32LE(out, at + 8, WIRE_BYTES.block - H);
  // srcip in network order, unlike everything else.
  out[at + 12] = srcIp >>> 24;
  out[at + 13] = (srcIp >>> 16) & 0xff;
  out[at + 14] = (srcIp >>> 8) & 0xff;
  out[at + 15] = srcIp & 0xff;
  putInt32LE(out, at + H, chunk);
  putInt32LE(out, at + H + 4, block);
  if (data === null) out.fill(0, at + BLOCK_DATA_AT, at + WIRE_BYTES.block);
  else out.set(data, at + BLOCK_DATA_AT);
}

function putInt32LE(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = (value >>> 24) & 0xff;
}

/**
 * A machine's message as a real network sends it from `ownIpv4`: the header's srcip and, in a
 * progress report, the client's own address (`who`), which only the network knows.
 */
export function encodeFromHost(message: WireMessage, ownIpv4: number): Uint8Array {
  if (!isFrisbeeMessage(message)) throw new Error(`frisbee encode: ${message.type} is not a Frisbee message`);
  return encode(message.type === "progress" ? { ...message, who: ownIpv4 } : message, ownIpv4);
}

function putBody(bytes: Uint8Array, view: DataView, m: FrisbeeMessage): void {
  const B = H;
  switch (m.type) {
    case "join": put(view, B, "uint32", m.clientId, "clientId"); return;
    case "joinReply": put(view, B, "int32", m.blockCount, "blockCount"); return;
    case "join2":
    case "join2Reply":
      put(view, B, "uint32", m.clientId, "clientId");
      put(view, B + 4, "int32", m.blockCount, "blockCount");
      put(view, B + 8, "int32", m.chunkBlocks, "chunkBlocks");
      put(view, B + 12, "int32", m.blockBytes, "blockBytes");
      put(view, B + 16, "uint64", m.byteCount, "byteCount");
      return;
    case "leave":
    case "leave2":
      put(view, B, "uint32", m.clientId, "clientId");
      put(view, B + 4, "int32", m.elapsedSec, "elapsedSec");
      if (m.type === "leave2") putStats(view, B + 8, m.stats);
      return;
    case "block":
      put(view, B, "int32", m.chunk, "chunk");
      put(view, B + 4, "int32", m.block, "block");
      check(blockProblem(m.chunk, m.block), m.type);
      if (m.data !== null) putBytes(bytes, B + 8, m.data, BLOCK_BYTES, "block data");
      return;
    case "request":
      put(view, B, "int32", m.chunk, "chunk");
      put(view, B + 4, "int32", m.block, "block");
      put(view, B + 8, "int32", m.count, "count");
      check(requestProblem(m.chunk, m.block, m.count), m.type);
      return;
    case "prequest":
      put(view, B, "int32", m.chunk, "chunk");
      put(view, B + 4, "int32", m.retries, "retries");
      check(m.chunk < 0 ? `chunk ${m.chunk} is negative` : null, m.type);
      putBytes(bytes, B + 8, m.bitmap, BITMAP_BYTES, "prequest bitmap");
      return;
    case "progressRequest":
      // A PROGRESS sent as a request: clientid, who and seq stay 0; `when` carries the interval.
      put(view, B + 8, "uint32", m.intervalSec, "intervalSec");
      put(view, B + 12, "uint16", m.level, "level");
      check(levelProblem(m.level), m.type);
      return;
    case "progress":
      put(view, B, "uint32", m.clientId, "clientId");
      put(view, B + 4, "uint32", m.who, "who");
      put(view, B + 8, "uint32", m.whenSec, "whenSec");
      put(view, B + 12, "uint16", m.level, "level");
      put(view, B + 14, "uint16", m.seq, "seq");
      check(levelProblem(m.level), m.type);
      if (m.summary !== null) putSummary(view, B + 16, m.summary);
      if (m.stats !== null) putStats(view, B + 16 + (m.summary !== null ? 16 : 0), m.stats);
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding. Every read is preceded by a length check, so no read can fall off the end.

interface Datagram {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** Bytes after the header; equal to the header's datalen once decode has checked it. */
  readonly bodyBytes: number;
}

/** A message, or a one-line error. */
type Decoded = FrisbeeMessage | string;
type BodyDecoder = (d: Datagram) => Decoded;

interface SubtypeSpec {
  readonly name: string;
  readonly request: BodyDecoder | null;
  readonly reply: BodyDecoder | null;
}

const fail = (error: string): DecodeResult => ({ ok: false, error });
const unknown = (error: string): DecodeResult => ({ ok: false, error, unknownType: true });

/** Decodes one datagram. Never throws. A BLOCK's `data` is a view into `bytes`, not a copy. */
export function decode(bytes: Uint8Array): DecodeResult {
  if (bytes.length < H) return fail(`datagram of ${bytes.length} bytes is shorter than the ${H}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getInt32(0, true);
  const subtype = view.getInt32(4, true);
  const datalen = view.getInt32(8, true);
  if (type !== PKT_TYPE_REQUEST && type !== PKT_TYPE_REPLY) {
    return unknown(`header type ${type} at offset 0 is neither REQUEST (1) nor REPLY (2)`);
  }
  const spec = SUBTYPES.get(subtype);
  if (spec === undefined) return unknown(`subtype ${subtype} at offset 4 is not a known message`);
  const bodyBytes = bytes.length - H;
  if (datalen !== bodyBytes) {
    return fail(`datalen ${datalen} at offset 8 does not match the ${bodyBytes} bytes after the header`);
  }
  const decodeBody = type === PKT_TYPE_REQUEST ? spec.request : spec.reply;
  if (decodeBody === null) {
    const [is, only] = type === PKT_TYPE_REQUEST ? ["REQUEST", "REPLY"] : ["REPLY", "REQUEST"];
    return fail(`${spec.name} at offset 0: header type ${type} (${is}) but ${spec.name} is only sent as a ${only}`);
  }
  const decoded = decodeBody({ bytes, view, bodyBytes });
  return typeof decoded === "string" ? fail(decoded) : { ok: true, message: decoded, srcIp: view.getUint32(12, false) };
}

function exactly(d: Datagram, name: string, bodyBytes: number): string | null {
  return d.bodyBytes === bodyBytes
    ? null
    : `${name} datagram of ${H + d.bodyBytes} bytes (datalen at offset 8) must be exactly ${H + bodyBytes} bytes`;
}

function atLeast(d: Datagram, name: string, bodyBytes: number): string | null {
  return d.bodyBytes >= bodyBytes
    ? null
    : `${name} datagram of ${H + d.bodyBytes} bytes (datalen at offset 8) is shorter than the ${H + bodyBytes} bytes it needs`;
}

const i32 = (d: Datagram, offset: number): number => d.view.getInt32(offset, true);
const u32 = (d: Datagram, offset: number): number => d.view.getUint32(offset, true);
const u16 = (d: Datagram, offset: number): number => d.view.getUint16(offset, true);

function u64(d: Datagram, offset: number, name: string, field: string): number | string {
  const high = u32(d, offset + 4);
  if (high > UINT64_HIGH_MAX) return `${name} at offset ${offset}: ${field} does not fit in 53 bits`;
  return high * TWO_32 + u32(d, offset);
}

function decodeJoin(d: Datagram): Decoded {
  return exactly(d, "JOIN", 4) ?? { type: "join", wireBytes: WIRE_BYTES.join, clientId: u32(d, H) };
}

function decodeJoinReply(d: Datagram): Decoded {
  return exactly(d, "JOIN reply", 4) ?? { type: "joinReply", wireBytes: WIRE_BYTES.joinReply, blockCount: i32(d, H) };
}

function decodeJoin2(type: "join2" | "join2Reply"): BodyDecoder {
  const name = type === "join2" ? "JOIN2" : "JOIN2 reply";
  return (d) => {
    const bad = exactly(d, name, 24);
    if (bad !== null) return bad;
    const byteCount = u64(d, H + 16, name, "bytecount");
    if (typeof byteCount === "string") return byteCount;
    return {
      type,
      wireBytes: WIRE_BYTES[type],
      clientId: u32(d, H),
      blockCount: i32(d, H + 4),
      chunkBlocks: i32(d, H + 8),
      blockBytes: i32(d, H + 12),
      byteCount,
    };
  };
}

function decodeLeave(d: Datagram): Decoded {
  return exactly(d, "LEAVE", 8) ?? { type: "leave", wireBytes: WIRE_BYTES.leave, clientId: u32(d, H), elapsedSec: i32(d, H + 4) };
}

function decodeLeave2(d: Datagram): Decoded {
  const bad = atLeast(d, "LEAVE2", LEAVE2_BODY_BYTES_MIN);
  if (bad !== null) return bad;
  if (d.bodyBytes > LEAVE2_BODY_BYTES_MAX) {
    return `LEAVE2 datagram of ${H + d.bodyBytes} bytes (datalen at offset 8) is longer than the ${H + LEAVE2_BODY_BYTES_MAX}-byte stats union allows`;
  }
  const stats = readStats(d, H + 8, "LEAVE2");
  if (typeof stats === "string") return stats;
  return { type: "leave2", wireBytes: WIRE_BYTES.leave2, clientId: u32(d, H), elapsedSec: i32(d, H + 4), stats };
}

/** The stats version and v1 fields at `offset`; the caller has checked that they are all there. */
function readStats(d: Datagram, offset: number, name: string): ClientStats | string {
  const version = i32(d, offset);
  if (version !== STATS_VERSION) return `${name} at offset ${offset}: stats version ${version} is not ${STATS_VERSION}`;
  const stats = emptyStats();
  let at = offset + 4;
  for (const [field, kind] of CLIENT_STATS_LAYOUT) {
    if (kind === "uint64") {
      const value = u64(d, at, name, field);
      if (typeof value === "string") return value;
      stats[field] = value;
    } else {
      stats[field] = kind === "int32" ? i32(d, at) : u32(d, at);
    }
    at += KIND_BYTES[kind];
  }
  return stats;
}

function decodeBlock(d: Datagram): Decoded {
  const bad = exactly(d, "BLOCK", 8 + BLOCK_BYTES);
  if (bad !== null) return bad;
  const chunk = i32(d, H);
  const block = i32(d, H + 4);
  const problem = blockProblem(chunk, block);
  if (problem !== null) return `BLOCK at offset ${chunk < 0 ? H : H + 4}: ${problem}`;
  // A view, not a copy: the caller owns the datagram and must not reuse it while the block is held.
  const data = d.bytes.subarray(H + 8, H + 8 + BLOCK_BYTES);
  return { type: "block", wireBytes: WIRE_BYTES.block, chunk, block, data };
}

function decodeRequest(d: Datagram): Decoded {
  const bad = exactly(d, "REQUEST", 12);
  if (bad !== null) return bad;
  const chunk = i32(d, H);
  const block = i32(d, H + 4);
  const count = i32(d, H + 8);
  const problem = requestProblem(chunk, block, count);
  if (problem !== null) return `REQUEST at offset ${chunk < 0 ? H : count < 0 && block >= 0 ? H + 8 : H + 4}: ${problem}`;
  return { type: "request", wireBytes: WIRE_BYTES.request, chunk, block, count };
}

function decodePrequest(d: Datagram): Decoded {
  const bad = exactly(d, "PREQUEST", 8 + BITMAP_BYTES);
  if (bad !== null) return bad;
  const chunk = i32(d, H);
  if (chunk < 0) return `PREQUEST at offset ${H}: chunk ${chunk} is negative`;
  // A copy: a bitmap is kept and merged long after the datagram's buffer is gone.
  const bitmap = d.bytes.slice(H + 8, H + 8 + BITMAP_BYTES);
  return { type: "prequest", wireBytes: WIRE_BYTES.prequest, chunk, retries: i32(d, H + 4), bitmap };
}

function readLevel(d: Datagram): ProgressLevel | string {
  const level = u16(d, H + 12);
  const problem = levelProblem(level);
  return problem === null ? (level as ProgressLevel) : `PROGRESS at offset ${H + 12}: ${problem}`;
}

/** A progress request: `when` is the interval and `what` the level; later bytes are ignored. */
function decodeProgressRequest(d: Datagram): Decoded {
  const bad = atLeast(d, "PROGRESS request", 16);
  if (bad !== null) return bad;
  const level = readLevel(d);
  if (typeof level === "string") return level;
  return { type: "progressRequest", wireBytes: WIRE_BYTES.progressRequest, intervalSec: u32(d, H + 8), level };
}

/** Longest first: a report holds the longest layout that fits, and bytes past it are ignored (future fields). */
const PROGRESS_LAYOUTS: readonly (readonly [summary: boolean, stats: boolean])[] = [
  [true, true], [false, true], [true, false], [false, false],
];

function decodeProgress(d: Datagram): Decoded {
  const bad = atLeast(d, "PROGRESS", 16);
  if (bad !== null) return bad;
  const level = readLevel(d);
  if (typeof level === "string") return level;
  const [hasSummary, hasStats] =
    PROGRESS_LAYOUTS.find(([s, t]) => progressWireBytes(s, t) - H <= d.bodyBytes) ?? [false, false];
  let summary: ProgressSummary | null = null;
  if (hasSummary) {
    const bytesWritten = u64(d, H + 24, "PROGRESS", "bytes_out");
    if (typeof bytesWritten === "string") return bytesWritten;
    summary = { chunksReceived: u32(d, H + 16), chunksDecompressed: u32(d, H + 20), bytesWritten };
  }
  let stats: ClientStats | null = null;
  if (hasStats) {
    const read = readStats(d, H + 16 + (hasSummary ? 16 : 0), "PROGRESS");
    if (typeof read === "string") return read;
    stats = read;
  }
  return {
    type: "progress",
    wireBytes: progressWireBytes(hasSummary, hasStats),
    clientId: u32(d, H),
    who: u32(d, H + 4),
    whenSec: u32(d, H + 8),
    level,
    seq: u16(d, H + 14),
    summary,
    stats,
  };
}

const SUBTYPES: ReadonlyMap<number, SubtypeSpec> = new Map<number, SubtypeSpec>([
  [SUBTYPE.join, { name: "JOIN", request: decodeJoin, reply: decodeJoinReply }],
  [SUBTYPE.leave, { name: "LEAVE", request: decodeLeave, reply: null }],
  [SUBTYPE.block, { name: "BLOCK", request: decodeBlock, reply: null }],
  [SUBTYPE.request, { name: "REQUEST", request: decodeRequest, reply: null }],
  [SUBTYPE.leave2, { name: "LEAVE2", request: decodeLeave2, reply: null }],
  [SUBTYPE.prequest, { name: "PREQUEST", request: decodePrequest, reply: null }],
  [SUBTYPE.join2, { name: "JOIN2", request: decodeJoin2("join2"), reply: decodeJoin2("join2Reply") }],
  [SUBTYPE.progress, { name: "PROGRESS", request: decodeProgressRequest, reply: decodeProgress }],
]);

// ---------------------------------------------------------------------------------------------
// IPv4 addresses as the numbers the header carries

/** `"127.0.0.1"` -> `0x7f000001`. Throws a RangeError with one line for anything but a dotted quad. */
export function ipv4ToNumber(address: string): number {
  const parts = address.split(".");
  let value = 0;
  for (const part of parts) {
    const octet = /^[0-9]{1,3}$/.test(part) ? Number(part) : 256;
    if (octet > 255 || parts.length !== 4) throw new RangeError(`"${address}" is not a dotted IPv4 address`);
    value = value * 256 + octet;
  }
  return value;
}

/** `0x7f000001` -> `"127.0.0.1"`. */
export function numberToIpv4(value: number): string {
  if (!fits("uint32", value)) throw new RangeError(`${value} is not an IPv4 address as a number`);
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join(".");
}
