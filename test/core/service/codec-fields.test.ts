import { describe, expect, it } from "vitest";
import {
  CONTROL_BLOB_BYTES_MAX,
  CONTROL_HEADER_BYTES,
  CONTROL_JSON_BYTES_MAX,
  CONTROL_LIST_MAX,
  CONTROL_PROTOCOL,
  CONTROL_STRING_MAX,
  PEER_MAGIC,
  decodeControl,
  decodePeerMessage,
  encodeControl,
  encodePeerMessage,
  errorReply,
  okReply,
  peekProtocol,
  request,
  type ControlMessage,
  type JsonObject,
  type PeerMessage,
} from "../../../core/service/index.js";

/** The exact bytes of each message, and each field check of the decoders with the error it names. */
const text = new TextEncoder();

/** A control message with the given fields as raw JSON text (what a hostile controller could send). */
function raw(kind: number, json: string, protocol = CONTROL_PROTOCOL, blob = new Uint8Array(0)): Uint8Array {
  const body = text.encode(json);
  const out = new Uint8Array(CONTROL_HEADER_BYTES + body.length + blob.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, protocol);
  v.setUint8(2, kind);
  v.setUint32(3, body.length);
  out.set(body, CONTROL_HEADER_BYTES);
  out.set(blob, CONTROL_HEADER_BYTES + body.length);
  return out;
}

const error = (m: ControlMessage | Uint8Array): string => {
  const d = decodeControl(m instanceof Uint8Array ? m : encodeControl(m));
  return d.ok ? "accepted" : d.error;
};

describe("control messages: layout", () => {
  it("puts the protocol, the kind and the field length first, then the JSON and the blob", () => {
    expect([...encodeControl(request("status"))]).toEqual([0, CONTROL_PROTOCOL, 0, 0, 0, 0, 2, 0x7b, 0x7d]);
    expect([...encodeControl(okReply({ a: 1 }, new Uint8Array([9, 8])), 0x0102)]).toEqual([1, 2, 9, 0, 0, 0, 7, ...text.encode('{"a":1}'), 9, 8]);
    expect([...encodeControl(errorReply("no")).subarray(0, 3)]).toEqual([0, CONTROL_PROTOCOL, 10]);
    expect(errorReply("no")).toEqual({ kind: "error", fields: { error: "no" }, blob: new Uint8Array(0) });
    expect(okReply()).toEqual({ kind: "ok", fields: {}, blob: new Uint8Array(0) });
    expect(request("restart")).toEqual({ kind: "restart", fields: {}, blob: new Uint8Array(0) });
  });

  it("reads a message inside a larger buffer, at its offset", () => {
    const m = encodeControl(request("logs", { offset: 5 }, new Uint8Array([1, 2, 3])));
    const padded = new Uint8Array(m.length + 6);
    padded.set(m, 3);
    const d = decodeControl(padded.subarray(3, 3 + m.length));
    expect(d).toEqual({ ok: true, value: { kind: "logs", fields: { offset: 5 }, blob: new Uint8Array([1, 2, 3]) } });
  });

  it("refuses to encode fields or a blob past their limits", () => {
    expect(() => encodeControl(okReply({ s: "x".repeat(CONTROL_JSON_BYTES_MAX) }))).toThrow(/^control ok: fields take \d+ bytes, more than 1048576$/);
    expect(() => encodeControl(okReply({}, new Uint8Array(CONTROL_BLOB_BYTES_MAX + 1)))).toThrow(`control ok: blob of ${CONTROL_BLOB_BYTES_MAX + 1} bytes, more than ${CONTROL_BLOB_BYTES_MAX}`);
    expect(encodeControl(okReply({}, new Uint8Array(CONTROL_BLOB_BYTES_MAX))).length).toBe(CONTROL_HEADER_BYTES + 2 + CONTROL_BLOB_BYTES_MAX);
  });
});

describe("control messages: what a decoder refuses, and says", () => {
  it("names a short header, a field length past the end, a blob too big, and fields that are not an object", () => {
    expect(error(new Uint8Array(6))).toBe("control message: 6 bytes, shorter than the 7-byte header");
    expect(error(raw(0, "{}").subarray(0, 7))).toBe("control status: field length 2 at byte 3 runs past the message (7 bytes)");
    expect(error(raw(0, "{}").subarray(0, 8))).toBe("control status: field length 2 at byte 3 runs past the message (8 bytes)");
    const huge = raw(0, "{}");
    new DataView(huge.buffer).setUint32(3, CONTROL_JSON_BYTES_MAX + 1);
    expect(error(huge)).toMatch(/^control status: field length 1048577 at byte 3 runs past/);
    expect(error(raw(10, '{"error":"e"}', CONTROL_PROTOCOL, new Uint8Array(CONTROL_BLOB_BYTES_MAX + 1)))).toBe(`control error: blob of ${CONTROL_BLOB_BYTES_MAX + 1} bytes, more than ${CONTROL_BLOB_BYTES_MAX}`);
    expect(error(raw(9, "{}", CONTROL_PROTOCOL, new Uint8Array(CONTROL_BLOB_BYTES_MAX)))).toBe("accepted");
    for (const json of ["[]", "null", "3", '"s"', "{", ""]) expect(error(raw(0, json)), json).toBe("control status: fields at byte 7 are not a JSON object");
    const badUtf8 = raw(0, "{}");
    badUtf8[7] = 0xff;
    expect(error(new Uint8Array([...badUtf8.subarray(0, 7), 0xff, 0x7d]))).toBe("control status: fields at byte 7 are not a JSON object");
  });

  it("checks each field's type", () => {
    const stage = { version: "v", tarball: "t", sha256: "s", offset: 0, total: 0 };
    expect(error(request("stage", stage))).toBe("accepted");
    expect(error(request("stage", { ...stage, version: "x".repeat(CONTROL_STRING_MAX) }))).toBe("accepted");
    expect(error(request("stage", { ...stage, version: "x".repeat(CONTROL_STRING_MAX + 1) }))).toBe(`control stage: field version: expected a string of at most ${CONTROL_STRING_MAX} characters`);
    expect(error(request("stage", { ...stage, tarball: 5 }))).toBe(`control stage: field tarball: expected a string of at most ${CONTROL_STRING_MAX} characters`);
    expect(error(request("stage", { ...stage, offset: -1 }))).toBe("control stage: field offset: expected a whole number");
    expect(error(request("stage", { ...stage, offset: 1.5 }))).toBe("control stage: field offset: expected a whole number");
    expect(error(request("stage", { ...stage, total: "1" }))).toBe("control stage: field total: expected a whole number");
    expect(error(request("stage", { ...stage, offset: 2 ** 53 }))).toBe("control stage: field offset: expected a whole number");
    const apply = { version: "v", tarballs: [], restart: true };
    expect(error(request("apply", apply))).toBe("accepted");
    expect(error(request("apply", { ...apply, restart: "yes" }))).toBe("control apply: field restart: expected true or false");
    expect(error(request("apply", { ...apply, restart: 1 }))).toBe("control apply: field restart: expected true or false");
    expect(error(request("apply", { ...apply, service: {}, healthyMs: 5, timeoutMs: 0 }))).toBe("accepted");
    for (const service of [null, [], "s", 1]) expect(error(request("apply", { ...apply, service } as JsonObject))).toBe("control apply: field service: expected an object");
    expect(error(request("apply", { ...apply, healthyMs: -5 }))).toBe("control apply: field healthyMs: expected a whole number");
    expect(error(request("apply", { ...apply, tarballs: [{}, []] }))).toBe("control apply: field tarballs: expected a list of objects");
    expect(error(request("apply", { ...apply, tarballs: [null] }))).toBe("control apply: field tarballs: expected a list of objects");
    expect(error(request("apply", { ...apply, tarballs: {} }))).toBe(`control apply: field tarballs: expected a list of at most ${CONTROL_LIST_MAX}`);
    expect(error(request("apply", { ...apply, tarballs: Array.from({ length: CONTROL_LIST_MAX }, () => ({})) }))).toBe("accepted");
    expect(error(request("apply", { ...apply, tarballs: Array.from({ length: CONTROL_LIST_MAX + 1 }, () => ({})) }))).toBe(`control apply: field tarballs: expected a list of at most ${CONTROL_LIST_MAX}`);
    expect(error(request("checksum", { files: Array.from({ length: CONTROL_LIST_MAX }, () => "f") }))).toBe("accepted");
    expect(error(request("checksum", { files: Array.from({ length: CONTROL_LIST_MAX + 1 }, () => "f") }))).toBe(`control checksum: field files: expected a list of at most ${CONTROL_LIST_MAX}`);
    expect(error(request("checksum", { files: ["x".repeat(CONTROL_STRING_MAX)] }))).toBe("accepted");
    expect(error(request("checksum", { files: ["x".repeat(CONTROL_STRING_MAX + 1)] }))).toBe("control checksum: field files: expected a list of strings");
    expect(error(request("checksum", { files: [{}] }))).toBe("control checksum: field files: expected a list of strings");
    expect(error(request("logs", { offset: 0 }))).toBe("accepted");
    expect(error(request("logs", { offset: 0, file: "a" }))).toBe("accepted");
    expect(error(request("logs", { file: "a" }))).toBe("control logs: field offset: missing");
    expect(error(request("peers", { peers: [{ host: "h" }], self: 0 }))).toBe("accepted");
    expect(error(request("read", { file: "f", offset: 0 }))).toBe("accepted");
    expect(error(request("repair", { file: "f", sha256: "s" }))).toBe("accepted");
    expect(error(request("repair", { file: "f" }))).toBe("control repair: field sha256: missing");
  });

  it("names an unknown field, cutting a long name", () => {
    expect(error(request("restart", { ["k".repeat(100)]: 1 }))).toBe(`control restart: field "${"k".repeat(59)}: unknown field`);
    expect(error(request("logs", { offset: 0, "file?": "a" }))).toBe('control logs: field "file?": unknown field');
  });

  it("takes replies as free-form objects, but an error reply must say what went wrong", () => {
    expect(error(okReply({ anything: [1, { b: null }] }))).toBe("accepted");
    expect(error(raw(10, "{}"))).toBe("control error: field error: expected a string");
    expect(error(raw(10, '{"error":3}'))).toBe("control error: field error: expected a string");
    expect(error(errorReply("disk full"))).toBe("accepted");
    expect(error(raw(11, "{}"))).toBe("control message: unknown kind 11 at byte 2");
  });

  it("accepts another protocol version only when told to speak it", () => {
    expect(decodeControl(encodeControl(request("status"), 1), 1)).toMatchObject({ ok: true });
    expect(error(encodeControl(request("status"), 1))).toBe(`control message: protocol version 1, this side speaks ${CONTROL_PROTOCOL}`);
  });
});

describe("peer messages: layout and limits", () => {
  it("writes the magic, the protocol, the type and each field big-endian", () => {
    expect([...encodePeerMessage({ type: "heartbeat", protocol: 0x0102, node: 0x03040506, seq: 7, generation: 0xffffffff })]).toEqual([0x53, 0x56, 1, 2, 1, 3, 4, 5, 6, 0, 0, 0, 7, 255, 255, 255, 255]);
    expect([...encodePeerMessage({ type: "notify", protocol: 1, generation: 9 })]).toEqual([0x53, 0x56, 0, 1, 2, 0, 0, 0, 9]);
    expect([...encodePeerMessage({ type: "poll", protocol: 1, node: 4, generation: 9 })]).toEqual([0x53, 0x56, 0, 1, 3, 0, 0, 0, 4, 0, 0, 0, 9]);
    expect(PEER_MAGIC).toBe(0x5356);
  });

  it("refuses to encode a field that does not fit, naming it", () => {
    const hb: PeerMessage = { type: "heartbeat", protocol: 1, node: 0, seq: 0, generation: 0 };
    expect(() => encodePeerMessage({ ...hb, protocol: 0x10000 })).toThrow("peer message heartbeat: protocol 65536 does not fit 16 bits");
    expect(() => encodePeerMessage({ ...hb, protocol: -1 })).toThrow(/protocol -1 does not fit/);
    expect(() => encodePeerMessage({ ...hb, protocol: 1.5 })).toThrow(/protocol 1.5 does not fit/);
    expect(() => encodePeerMessage({ ...hb, protocol: 0xffff })).not.toThrow();
    expect(() => encodePeerMessage({ ...hb, generation: 2 ** 32 })).toThrow("peer message heartbeat: generation 4294967296 does not fit 32 bits");
    expect(() => encodePeerMessage({ ...hb, generation: -1 })).toThrow(/generation -1 does not fit/);
    expect(() => encodePeerMessage({ ...hb, generation: 0.5 })).toThrow(/generation 0.5 does not fit/);
    expect(() => encodePeerMessage({ ...hb, node: 2 ** 32 })).toThrow("peer message heartbeat: node 4294967296 does not fit 32 bits");
    expect(() => encodePeerMessage({ ...hb, seq: 2 ** 32 })).toThrow("peer message heartbeat: seq 4294967296 does not fit 32 bits");
    expect(() => encodePeerMessage({ type: "poll", protocol: 1, node: -1, generation: 0 })).toThrow("peer message poll: node -1 does not fit 32 bits");
    expect(() => encodePeerMessage({ type: "notify", protocol: 1, generation: 2 ** 32 })).toThrow("peer message notify: generation 4294967296 does not fit 32 bits");
  });

  it("names a short message, a bad magic in hex, and a length wrong for its type", () => {
    expect(peekProtocol(new Uint8Array([0x53, 0x56, 0, 1]))).toEqual({ ok: false, error: "peer message: 4 bytes, shorter than the 5-byte header" });
    expect(peekProtocol(new Uint8Array([0xab, 0xcd, 0, 1, 1]))).toEqual({ ok: false, error: "peer message: bad magic 0xabcd at byte 0" });
    expect(peekProtocol(new Uint8Array([0x53, 0x56, 1, 2, 99]))).toEqual({ ok: true, value: 0x0102 });
    const notify = encodePeerMessage({ type: "notify", protocol: 1, generation: 9 });
    expect(decodePeerMessage(new Uint8Array([...notify, 0]))).toEqual({ ok: false, error: "peer message notify: 10 bytes, expected 9" });
    const poll = encodePeerMessage({ type: "poll", protocol: 1, node: 4, generation: 9 });
    expect(decodePeerMessage(poll.subarray(0, 12))).toEqual({ ok: false, error: "peer message poll: 12 bytes, expected 13" });
    expect(decodePeerMessage(new Uint8Array([0x53, 0x56, 0, 1, 0]))).toEqual({ ok: false, error: "peer message: unknown type 0 at byte 4" });
    expect(decodePeerMessage(new Uint8Array([0x53, 0x56, 0, 1, 4]))).toEqual({ ok: false, error: "peer message: unknown type 4 at byte 4" });
  });

  it("reads a message inside a larger buffer, at its offset", () => {
    const hb = encodePeerMessage({ type: "heartbeat", protocol: 3, node: 1, seq: 2, generation: 5 });
    const padded = new Uint8Array(hb.length + 4);
    padded.set(hb, 2);
    expect(decodePeerMessage(padded.subarray(2, 2 + hb.length))).toEqual({ ok: true, value: { type: "heartbeat", protocol: 3, node: 1, seq: 2, generation: 5 } });
    expect(peekProtocol(padded.subarray(2))).toEqual({ ok: true, value: 3 });
  });

  it("takes protocol 0, the lowest", () => {
    expect([...encodePeerMessage({ type: "notify", protocol: 0, generation: 1 }).subarray(0, 4)]).toEqual([0x53, 0x56, 0, 0]);
  });
});

describe("control messages: the edges of the limits", () => {
  /** Fields `{"s":"x…x"}` of exactly `bytes` bytes of JSON. */
  const fieldsOf = (bytes: number): JsonObject => ({ s: "x".repeat(bytes - 8) });

  it("encodes and decodes fields of exactly the 1 MiB limit, and refuses one byte more on either side", () => {
    const at = encodeControl(okReply(fieldsOf(CONTROL_JSON_BYTES_MAX)));
    expect(new DataView(at.buffer).getUint32(3)).toBe(CONTROL_JSON_BYTES_MAX);
    expect(decodeControl(at)).toMatchObject({ ok: true });
    expect(() => encodeControl(okReply(fieldsOf(CONTROL_JSON_BYTES_MAX + 1)))).toThrow(`control ok: fields take ${CONTROL_JSON_BYTES_MAX + 1} bytes, more than ${CONTROL_JSON_BYTES_MAX}`);
    const over = raw(9, JSON.stringify(fieldsOf(CONTROL_JSON_BYTES_MAX + 1)));
    expect(error(over)).toBe(`control ok: field length ${CONTROL_JSON_BYTES_MAX + 1} at byte 3 runs past the message (${over.length} bytes)`);
  });

  it("refuses a list where a string is expected, and a list inside a list of strings", () => {
    expect(error(request("stage", { version: ["x"], tarball: "t", sha256: "s", offset: 0, total: 0 }))).toBe(`control stage: field version: expected a string of at most ${CONTROL_STRING_MAX} characters`);
    expect(error(request("checksum", { files: [["a"]] }))).toBe("control checksum: field files: expected a list of strings");
  });

  it("refuses fields that are not UTF-8, even inside a string", () => {
    const bytes = raw(9, '{"a":"_"}');
    bytes[CONTROL_HEADER_BYTES + 6] = 0xff;
    expect(error(bytes)).toBe("control ok: fields at byte 7 are not a JSON object");
  });
});
