import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameReader, frame, open, seal } from "../../../real/agent/channel.js";

describe("agent channel framing and sealing", () => {
  it("splits any byte stream into the frames it holds, however it is cut", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 20 }), (payloads, cuts) => {
        const bytes = Buffer.concat(payloads.map((p) => frame(4, p)));
        const got: Buffer[] = [];
        const reader = new FrameReader((_t, p) => got.push(Buffer.from(p)));
        let at = 0;
        for (const c of cuts) {
          reader.push(bytes.subarray(at, at + c));
          at += c;
        }
        reader.push(bytes.subarray(at));
        expect(got.map((g) => g.toString("hex"))).toEqual(payloads.map((p) => Buffer.from(p).toString("hex")));
      }),
    );
  });

  it("never throws on garbage, and refuses a frame length beyond the limit before buffering it", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => void new FrameReader(() => {}).push(Buffer.from(bytes))), { numRuns: 1_000 });
    const reader = new FrameReader(() => {}, 1_000);
    reader.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]));
    expect(reader.failed).toMatch(/a frame of 4294967295 bytes \(at most 1000\)/);
  });

  it("opens what it sealed, and refuses a replayed counter, an altered byte or another session's seal", () => {
    const session = Buffer.alloc(32, 7);
    const sealed = seal(session, "request", 3n, Buffer.from("body"));
    expect("body" in open(session, "request", 3n, sealed)).toBe(true);
    expect(open(session, "request", 4n, sealed)).toEqual({ refused: "request 3: replayed or out of order (expected 4)" });
    const altered = Buffer.from(sealed);
    altered.writeUInt8(altered.readUInt8(altered.length - 1) ^ 1, altered.length - 1);
    expect(open(session, "request", 3n, altered)).toMatchObject({ refused: expect.stringMatching(/bad MAC/) });
    expect(open(Buffer.alloc(32, 8), "request", 3n, sealed)).toMatchObject({ refused: expect.stringMatching(/bad MAC/) });
    expect(open(session, "reply", 3n, sealed)).toMatchObject({ refused: expect.stringMatching(/bad MAC/) });
  });
});
