import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CONTROL_PROTOCOL,
  decodeControl,
  decodePeerMessage,
  encodeControl,
  encodePeerMessage,
  peekProtocol,
  request,
  type ControlMessage,
  type PeerMessage,
} from "../../../core/service/index.js";

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const peerArb: fc.Arbitrary<PeerMessage> = fc.oneof(
  fc.record({ type: fc.constant("heartbeat" as const), protocol: fc.integer({ min: 0, max: 0xffff }), node: u32, seq: u32, generation: u32 }),
  fc.record({ type: fc.constant("notify" as const), protocol: fc.integer({ min: 0, max: 0xffff }), generation: u32 }),
  fc.record({ type: fc.constant("poll" as const), protocol: fc.integer({ min: 0, max: 0xffff }), node: u32, generation: u32 }),
);

const name = fc.string({ maxLength: 30 });
const controlArb: fc.Arbitrary<ControlMessage> = fc.oneof(
  fc.constant(request("status")),
  fc.record({ version: name, tarball: name, sha256: name, offset: fc.nat(), total: fc.nat() }).chain((f) => fc.uint8Array({ maxLength: 64 }).map((blob) => request("stage", f, blob))),
  fc.record({ version: name, tarballs: fc.array(fc.record({ name, restart: fc.boolean() }), { maxLength: 4 }), restart: fc.boolean() }).map((f) => request("apply", f)),
  fc.array(name, { maxLength: 5 }).map((files) => request("checksum", { files })),
  fc.nat().map((offset) => request("logs", { offset })),
  fc.constant(request("restart")),
  fc.dictionary(name, fc.oneof(fc.integer(), name, fc.boolean())).map((fields) => ({ kind: "ok" as const, fields, blob: new Uint8Array(0) })),
);

describe("peer message codec", () => {
  it("round-trips every message, and reads the protocol version first", () => {
    fc.assert(
      fc.property(peerArb, (m) => {
        const bytes = encodePeerMessage(m);
        expect(decodePeerMessage(bytes)).toEqual({ ok: true, value: m });
        expect(peekProtocol(bytes)).toEqual({ ok: true, value: m.protocol });
      }),
    );
  });

  it("returns an error value, never throws, for random bytes and for truncated or extended messages", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => void decodePeerMessage(bytes)), { numRuns: 2_000 });
    const hb = encodePeerMessage({ type: "heartbeat", protocol: 1, node: 2, seq: 3, generation: 4 });
    expect(decodePeerMessage(hb.subarray(0, 10))).toMatchObject({ ok: false, error: expect.stringMatching(/expected 17/) });
    expect(decodePeerMessage(new Uint8Array([0x53, 0x56, 0, 1, 9]))).toMatchObject({ ok: false, error: expect.stringMatching(/unknown type 9/) });
    expect(decodePeerMessage(new Uint8Array([1, 2, 3, 4, 5]))).toMatchObject({ ok: false, error: expect.stringMatching(/bad magic/) });
  });
});

describe("control message codec", () => {
  it("round-trips every request and reply", () => {
    fc.assert(
      fc.property(controlArb, (m) => {
        expect(decodeControl(encodeControl(m))).toEqual({ ok: true, value: m });
      }),
    );
  });

  it("never throws on random bytes, or on a valid message with bytes changed or cut", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => void decodeControl(bytes)), { numRuns: 2_000 });
    fc.assert(
      fc.property(controlArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (m, at, value, cut) => {
        const bytes = encodeControl(m);
        const changed = bytes.slice();
        changed[at % changed.length] = value;
        void decodeControl(changed);
        void decodeControl(bytes.subarray(0, cut % (bytes.length + 1)));
      }),
      { numRuns: 1_000 },
    );
  });

  it("names what is wrong: another protocol version, an unknown kind, a bad field", () => {
    const bytes = encodeControl(request("status"), CONTROL_PROTOCOL + 1);
    expect(decodeControl(bytes)).toMatchObject({ ok: false, error: expect.stringMatching(new RegExp(`protocol version ${CONTROL_PROTOCOL + 1}, this side speaks ${CONTROL_PROTOCOL}`)) });
    const kind = encodeControl(request("status"));
    kind[2] = 99;
    expect(decodeControl(kind)).toMatchObject({ ok: false, error: "control message: unknown kind 99 at byte 2" });
    expect(decodeControl(encodeControl(request("checksum", { files: [1] })))).toMatchObject({ ok: false, error: "control checksum: field files: expected a list of strings" });
    expect(decodeControl(encodeControl(request("stage", {})))).toMatchObject({ ok: false, error: "control stage: field version: missing" });
    expect(decodeControl(encodeControl(request("status", { rm: "-rf" })))).toMatchObject({ ok: false, error: 'control status: field "rm": unknown field' });
  });
});
