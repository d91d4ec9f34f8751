/**
 * The service's own messages between peers and from the controller's notifier: heartbeats, update
 * notices and polls. Every message starts with the magic "SV", the sender's protocol version (u16)
 * and a type (u8), so a receiver can read the version, and ignore a peer of another version,
 * before it reads anything else. Big-endian, fixed sizes.
 */
export const PEER_MAGIC = 0x5356;
export const PEER_HEADER_BYTES = 5;
export const PEER_PROTOCOL_MAX = 0xffff;

export interface Heartbeat {
  readonly type: "heartbeat";
  readonly protocol: number;
  /** The sender's node id. */
  readonly node: number;
  readonly seq: number;
  /** The state generation the sender holds. */
  readonly generation: number;
}

/** The controller tells nodes a new state generation exists (pushed; may be lost). */
export interface Notify {
  readonly type: "notify";
  readonly protocol: number;
  readonly generation: number;
}

/** A node asks which generation is current, saying which it holds; the answer is a notify. */
export interface Poll {
  readonly type: "poll";
  readonly protocol: number;
  readonly node: number;
  readonly generation: number;
}

export type PeerMessage = Heartbeat | Notify | Poll;
export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

const TYPE_CODES = { heartbeat: 1, notify: 2, poll: 3 } as const;
const BODY_BYTES = { heartbeat: 12, notify: 4, poll: 8 } as const;
const U32_MAX = 0xffff_ffff;

function checkFields(m: PeerMessage): void {
  const u32 = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v < 0 || v > U32_MAX) throw new Error(`peer message ${m.type}: ${name} ${v} does not fit 32 bits`);
  };
  if (!Number.isInteger(m.protocol) || m.protocol < 0 || m.protocol > PEER_PROTOCOL_MAX) throw new Error(`peer message ${m.type}: protocol ${m.protocol} does not fit 16 bits`);
  u32("generation", m.generation);
  if (m.type !== "notify") u32("node", m.node);
  if (m.type === "heartbeat") u32("seq", m.seq);
}

export function encodePeerMessage(m: PeerMessage): Uint8Array {
  checkFields(m);
  const out = new Uint8Array(PEER_HEADER_BYTES + BODY_BYTES[m.type]);
  const v = new DataView(out.buffer);
  v.setUint16(0, PEER_MAGIC);
  v.setUint16(2, m.protocol);
  v.setUint8(4, TYPE_CODES[m.type]);
  switch (m.type) {
    case "heartbeat":
      v.setUint32(5, m.node);
      v.setUint32(9, m.seq);
      v.setUint32(13, m.generation);
      break;
    case "notify":
      v.setUint32(5, m.generation);
      break;
    case "poll":
      v.setUint32(5, m.node);
      v.setUint32(9, m.generation);
      break;
  }
  return out;
}

/** The sender's protocol version, read before anything else; an error for bytes that are not ours. */
export function peekProtocol(bytes: Uint8Array): Decoded<number> {
  if (bytes.byteLength < PEER_HEADER_BYTES) return { ok: false, error: `peer message: ${bytes.byteLength} bytes, shorter than the ${PEER_HEADER_BYTES}-byte header` };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint16(0) !== PEER_MAGIC) return { ok: false, error: `peer message: bad magic 0x${v.getUint16(0).toString(16)} at byte 0` };
  return { ok: true, value: v.getUint16(2) };
}

export function decodePeerMessage(bytes: Uint8Array): Decoded<PeerMessage> {
  const header = peekProtocol(bytes);
  if (!header.ok) return header;
  const protocol = header.value;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const code = v.getUint8(4);
  const type = (Object.keys(TYPE_CODES) as (keyof typeof TYPE_CODES)[]).find((k) => TYPE_CODES[k] === code);
  if (type === undefined) return { ok: false, error: `peer message: unknown type ${code} at byte 4` };
  const expected = PEER_HEADER_BYTES + BODY_BYTES[type];
  if (bytes.byteLength !== expected) return { ok: false, error: `peer message ${type}: ${bytes.byteLength} bytes, expected ${expected}` };
  switch (type) {
    case "heartbeat":
      return { ok: true, value: { type, protocol, node: v.getUint32(5), seq: v.getUint32(9), generation: v.getUint32(13) } };
    case "notify":
      return { ok: true, value: { type, protocol, generation: v.getUint32(5) } };
    case "poll":
      return { ok: true, value: { type, protocol, node: v.getUint32(5), generation: v.getUint32(9) } };
  }
}
