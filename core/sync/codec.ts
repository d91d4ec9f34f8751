import {
  CODE_INVALID,
  EXT_MAGIC,
  EXT_NAME_BYTES_MAX,
  EXT_OFFSET,
  EXT_REPLY_BYTES,
  FLAG_INIT_NOWAIT,
  NAME_FIELD_BYTES,
  REPLY_BYTES,
  REPLY_PENDING,
  REQUEST_BYTES,
  REQUEST_INIT,
  REQUEST_WAIT,
  USER_ERROR_LIMIT,
} from "./constants.js";

/** What happens to the barrier when an arrived member crashes or disconnects. */
export type CrashPolicy = "original" | "tolerant" | "intolerant";
/** What happens to arrivals beyond the count: start a new barrier (original) or be told so. */
export type ExtraPolicy = "new" | "late";

/** Our extensions, present only when the sender is our client. */
export interface RequestExt {
  /** Distinguishes retransmissions (same id) from new requests over UDP. Non-zero. */
  requestId: number;
  /** Barrier deadline from the server's receipt of this INIT, 0 for none. */
  deadlineMs: number;
  /** Generation the sender means to join, 0 for whichever is current. */
  generation: number;
  crash: CrashPolicy;
  extra: ExtraPolicy;
  /** Withdraw an earlier request with the same id (a UDP waiter giving up). */
  cancel: boolean;
  /** The sender has the server's epoch already: a retransmission needs no pending reply. */
  epochKnown: boolean;
}

export interface SyncRequest {
  type: "init" | "wait";
  /** The barrier's name as a byte string (one char per byte, 0-255). */
  name: string;
  /** INIT_NOWAIT: the initializer is answered at once instead of waiting. */
  noWait: boolean;
  /** What INIT adds to the counter; 0 for a wait. */
  count: number;
  /** The participant's error code, below 240; the highest is everyone's reply. */
  error: number;
  ext: RequestExt | null;
}

export interface ReplyExt {
  requestId: number;
  generation: number;
  /** Drawn by the server when it starts (non-zero): a change means it restarted and forgot its barriers. */
  epoch: number;
}

export interface SyncReply {
  /** The outcome, or REPLY_PENDING (extended replies only) while the request still waits. */
  code: number;
  /** Present in replies to extended requests. */
  ext: ReplyExt | null;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

const CRASH_CODES: readonly CrashPolicy[] = ["original", "tolerant", "intolerant"];
const EXTRA_CODES: readonly ExtraPolicy[] = ["new", "late"];
const OPT_CANCEL = 0x10;
const OPT_EPOCH_KNOWN = 0x20;
/** Option bits this version knows: crash (2), extra (2), cancel, epoch known. Others are refused, not ignored. */
const OPT_KNOWN = 0x3f;

function fail<T>(error: string): Decoded<T> {
  return { ok: false, error };
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A name's bytes as a byte string; null if it holds a byte above 255 (never from decode). */
export function nameBytes(name: string): Uint8Array | null {
  const out = new Uint8Array(name.length);
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 255) return null;
    out[i] = c;
  }
  return out;
}

/** Why a name cannot travel, or null. `extended` leaves room for the extension trailer. */
export function checkName(name: string, extended: boolean): string | null {
  const bytes = nameBytes(name);
  if (bytes === null) return "the name must be a byte string";
  if (bytes.length === 0) return "the name is empty";
  if (bytes.includes(0)) return "the name holds a NUL byte";
  const max = extended ? EXT_NAME_BYTES_MAX : NAME_FIELD_BYTES - 1;
  if (bytes.length > max) return `the name is ${bytes.length} bytes, at most ${max}${extended ? " with extensions" : ""}`;
  return null;
}

/** Encodes a request exactly as the original client lays it out (little-endian, zero padding). */
export function encodeRequest(req: SyncRequest): Uint8Array {
  const problem = checkName(req.name, req.ext !== null);
  if (problem !== null) throw new Error(`cannot encode sync request: ${problem}`);
  const out = new Uint8Array(REQUEST_BYTES);
  const dv = view(out);
  out.set(nameBytes(req.name) as Uint8Array, 0);
  dv.setInt16(64, req.type === "init" ? REQUEST_INIT : REQUEST_WAIT, true);
  dv.setInt16(66, req.noWait ? FLAG_INIT_NOWAIT : 0, true);
  dv.setInt32(68, req.count, true);
  dv.setInt32(72, req.error, true);
  if (req.ext !== null) {
    const e = req.ext;
    dv.setUint32(EXT_OFFSET, EXT_MAGIC, true);
    out[EXT_OFFSET + 4] = CRASH_CODES.indexOf(e.crash) | (EXTRA_CODES.indexOf(e.extra) << 2) | (e.cancel ? OPT_CANCEL : 0) | (e.epochKnown ? OPT_EPOCH_KNOWN : 0);
    dv.setUint32(EXT_OFFSET + 8, e.requestId >>> 0, true);
    dv.setUint32(EXT_OFFSET + 12, e.deadlineMs >>> 0, true);
    dv.setUint32(EXT_OFFSET + 16, e.generation >>> 0, true);
  }
  return out;
}

/**
 * Decodes a request; an error value says what is wrong. The name, when one could be read, comes
 * with the error so the server can say which barrier a bad request named.
 */
export function decodeRequest(bytes: Uint8Array): Decoded<SyncRequest> {
  if (bytes.length !== REQUEST_BYTES) return fail(`a request is ${REQUEST_BYTES} bytes, got ${bytes.length}`);
  const dv = view(bytes);
  const nul = bytes.indexOf(0);
  if (nul < 0 || nul >= NAME_FIELD_BYTES) return fail(`the name is ${NAME_FIELD_BYTES} bytes or more (no NUL in the name field)`);
  if (nul === 0) return fail("the name is empty");
  const name = String.fromCharCode(...bytes.subarray(0, nul));
  const code = dv.getInt16(64, true);
  if (code !== REQUEST_INIT && code !== REQUEST_WAIT) return fail(`unknown request code ${code}`);
  const flags = dv.getInt16(66, true);
  const count = dv.getInt32(68, true);
  const error = dv.getInt32(72, true);
  if (code === REQUEST_INIT && count < 0) return fail(`negative count ${count}`);
  if (error < 0 || error >= USER_ERROR_LIMIT) return fail(`error ${error} is not from 0 to ${USER_ERROR_LIMIT - 1}`);
  const ext = nul < EXT_OFFSET ? decodeExt(bytes, dv) : null;
  if (ext !== null && !ext.ok) return ext;
  return {
    ok: true,
    value: {
      type: code === REQUEST_INIT ? "init" : "wait",
      name,
      noWait: code === REQUEST_INIT && (flags & FLAG_INIT_NOWAIT) !== 0,
      count: code === REQUEST_INIT ? count : 0,
      error,
      ext: ext === null ? null : ext.value,
    },
  };
}

function decodeExt(bytes: Uint8Array, dv: DataView): Decoded<RequestExt> | null {
  if (dv.getUint32(EXT_OFFSET, true) !== EXT_MAGIC) return null;
  const options = bytes[EXT_OFFSET + 4] as number;
  const crash = CRASH_CODES[options & 0x3];
  const extra = EXTRA_CODES[(options >> 2) & 0x3];
  if (crash === undefined || extra === undefined || (options & ~OPT_KNOWN) !== 0) return fail(`bad extension options 0x${options.toString(16)}`);
  const requestId = dv.getUint32(EXT_OFFSET + 8, true);
  if (requestId === 0) return fail("extension request id 0");
  return {
    ok: true,
    value: {
      requestId,
      deadlineMs: dv.getUint32(EXT_OFFSET + 12, true),
      generation: dv.getUint32(EXT_OFFSET + 16, true),
      crash,
      extra,
      cancel: (options & OPT_CANCEL) !== 0,
      epochKnown: (options & OPT_EPOCH_KNOWN) !== 0,
    },
  };
}

export function encodeReply(reply: SyncReply): Uint8Array {
  const out = new Uint8Array(reply.ext === null ? REPLY_BYTES : EXT_REPLY_BYTES);
  const dv = view(out);
  dv.setInt32(0, reply.code, true);
  if (reply.ext !== null) {
    dv.setUint32(4, EXT_MAGIC, true);
    dv.setUint32(8, reply.ext.requestId >>> 0, true);
    dv.setUint32(12, reply.ext.generation >>> 0, true);
    dv.setUint32(16, reply.ext.epoch >>> 0, true);
  }
  return out;
}

/** Decodes the original 4-byte reply or our extended one. */
export function decodeReply(bytes: Uint8Array): Decoded<SyncReply> {
  if (bytes.length === REPLY_BYTES) return { ok: true, value: { code: view(bytes).getInt32(0, true), ext: null } };
  if (bytes.length !== EXT_REPLY_BYTES) return fail(`a reply is ${REPLY_BYTES} or ${EXT_REPLY_BYTES} bytes, got ${bytes.length}`);
  const dv = view(bytes);
  if (dv.getUint32(4, true) !== EXT_MAGIC) return fail(`a ${EXT_REPLY_BYTES}-byte reply without the extension magic`);
  const code = dv.getInt32(0, true);
  if (code !== REPLY_PENDING && code < 0) return fail(`reply code ${code}`);
  const epoch = dv.getUint32(16, true);
  if (epoch === 0) return fail("extended reply with epoch 0");
  return { ok: true, value: { code, ext: { requestId: dv.getUint32(8, true), generation: dv.getUint32(12, true), epoch } } };
}

/** The reply to a request that could not be decoded. */
export const INVALID_REPLY: SyncReply = { code: CODE_INVALID, ext: null };
