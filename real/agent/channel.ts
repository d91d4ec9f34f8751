import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Socket } from "node:net";

/**
 * The agent's authenticated channel over TCP. Every frame is `[u32 length][u8 type][payload]`.
 *
 * 1. The agent sends HELLO: "TBAG" and a fresh 32-byte nonce.
 * 2. The controller answers AUTH: its own 32-byte nonce and HMAC-SHA256(key, "client" | both nonces).
 * 3. The agent checks it (in constant time) and answers AUTH_OK: HMAC(key, "server" | both nonces),
 *    so the controller knows it reached a holder of the key too. Both derive the session key
 *    HMAC(key, "session" | both nonces).
 * 4. Each REQUEST carries a counter (u64, exactly one more than the last) and
 *    HMAC(session, "request" | counter | body); each REPLY the same counter and
 *    HMAC(session, "reply" | counter | body).
 *
 * A request without the key fails at step 3; a request replayed on the same connection fails the
 * counter; replayed on another connection it fails the MAC, since the nonces, and so the session key,
 * are new; an altered one fails the MAC. Any failure is answered with one REFUSED frame naming why
 * (plain text, unauthenticated) and the connection is closed: nothing is run. The channel is
 * authenticated, not encrypted: commands and logs travel in the clear.
 */
export const FRAME_HELLO = 1;
export const FRAME_AUTH = 2;
export const FRAME_AUTH_OK = 3;
export const FRAME_REQUEST = 4;
export const FRAME_REPLY = 5;
export const FRAME_REFUSED = 6;
export const FRAME_HEADER_BYTES = 5;
/** A request or reply body at most (a 4 MiB chunk and its fields), plus counter and MAC. */
export const FRAME_BYTES_MAX = (5 << 20) + 64;
export const NONCE_BYTES = 32;
export const MAC_BYTES = 32;
export const KEY_BYTES_MIN = 16;
const HELLO_MAGIC = Buffer.from("TBAG");

export class ChannelError extends Error {
  override readonly name = "ChannelError";
}

export function frame(type: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(FRAME_HEADER_BYTES + payload.byteLength);
  out.writeUInt32BE(1 + payload.byteLength, 0);
  out.writeUInt8(type, 4);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export function mac(key: Uint8Array, label: string, ...parts: Uint8Array[]): Buffer {
  const h = createHmac("sha256", key);
  h.update(label);
  for (const p of parts) h.update(p);
  return h.digest();
}

export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

function counterBytes(counter: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(counter);
  return b;
}

/** A sealed request or reply: counter, MAC, body. */
export function seal(session: Uint8Array, label: "request" | "reply", counter: bigint, body: Uint8Array): Buffer {
  const c = counterBytes(counter);
  return Buffer.concat([c, mac(session, label, c, body), body]);
}

/** The body of a sealed payload, or why it is refused. */
export function open(session: Uint8Array, label: "request" | "reply", expected: bigint, payload: Uint8Array): { body: Uint8Array } | { refused: string } {
  if (payload.byteLength < 8 + MAC_BYTES) return { refused: `a ${label} of ${payload.byteLength} bytes is shorter than its counter and MAC` };
  const view = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const counter = view.readBigUInt64BE(0);
  const body = payload.subarray(8 + MAC_BYTES);
  if (!macEqual(mac(session, label, payload.subarray(0, 8), body), payload.subarray(8, 8 + MAC_BYTES))) return { refused: `${label} ${counter}: bad MAC (altered, or sealed for another connection)` };
  if (counter !== expected) return { refused: `${label} ${counter}: replayed or out of order (expected ${expected})` };
  return { body };
}

export function helloPayload(nonce: Uint8Array): Buffer {
  return Buffer.concat([HELLO_MAGIC, nonce]);
}

export function parseHello(payload: Uint8Array): Uint8Array | null {
  if (payload.byteLength !== HELLO_MAGIC.byteLength + NONCE_BYTES || !Buffer.from(payload.subarray(0, 4)).equals(HELLO_MAGIC)) return null;
  return payload.subarray(4);
}

export function freshNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/**
 * Splits a byte stream into frames, refusing (once, then nothing more) a length of 0 or above
 * FRAME_BYTES_MAX before buffering it, so a hostile peer cannot make us hold more than one frame.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  failed: string | null = null;

  constructor(private readonly onFrame: (type: number, payload: Buffer) => void, private readonly maxBytes = FRAME_BYTES_MAX) {}

  push(data: Buffer): void {
    if (this.failed !== null) return;
    this.chunks.push(data);
    this.buffered += data.byteLength;
    while (this.failed === null && this.buffered >= 4) {
      const head = this.peek(4);
      const length = head.readUInt32BE(0);
      if (length < 1 || length > this.maxBytes) {
        this.failed = `a frame of ${length} bytes (at most ${this.maxBytes})`;
        return;
      }
      if (this.buffered < 4 + length) return;
      const whole = this.take(4 + length);
      this.onFrame(whole.readUInt8(4), whole.subarray(FRAME_HEADER_BYTES));
    }
  }

  private peek(n: number): Buffer {
    if ((this.chunks[0] as Buffer).byteLength < n) this.chunks = [Buffer.concat(this.chunks)];
    return (this.chunks[0] as Buffer).subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = Buffer.concat(this.chunks);
    this.chunks = all.byteLength > n ? [all.subarray(n)] : [];
    this.buffered -= n;
    return all.subarray(0, n);
  }
}

export function send(socket: Socket, type: number, payload: Uint8Array): void {
  if (!socket.destroyed) socket.write(frame(type, payload));
}
