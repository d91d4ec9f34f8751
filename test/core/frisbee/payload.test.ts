import { describe, expect, it } from "vitest";
import { encode, sentByServer } from "../../../core/frisbee/codec.js";
import { msg, emptyStats } from "../../../core/frisbee/messages.js";
import { MessageInput, UNKNOWN_LOG_INTERVAL_US, type InputErrors } from "../../../core/frisbee/payload.js";

const FROM = 9;

function input(): { input: MessageInput; errors: InputErrors; events: { kind: string; fields: Record<string, unknown> }[] } {
  const errors = { unknown: 0, malformed: 0 };
  const events: { kind: string; fields: Record<string, unknown> }[] = [];
  return { input: new MessageInput(errors, { emit: (kind, fields) => events.push({ kind, fields: { ...fields } }) }), errors, events };
}

/** A well-framed datagram of header type 1 and an unknown subtype. */
function unknownSubtype(subtype: number): Uint8Array {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, 1, true);
  view.setInt32(4, subtype, true);
  return bytes;
}

describe("MessageInput: what the network delivered, as a message", () => {
  it("passes a message object through and decodes bytes, with nothing counted", () => {
    const t = input();
    const join = msg.join(5);
    expect(t.input.toMessage(join, FROM, 0)).toBe(join);
    expect(t.input.toMessage(encode(msg.leave(5, 2), 1), FROM, 0)).toEqual(msg.leave(5, 2));
    expect(t.errors).toEqual({ unknown: 0, malformed: 0 });
    expect(t.events).toEqual([]);
  });

  it("counts malformed bytes and says what is wrong with them, each time", () => {
    const t = input();
    expect(t.input.toMessage(new Uint8Array(3), FROM, 0)).toBeNull();
    expect(t.input.toMessage(new Uint8Array(3), FROM, 1)).toBeNull();
    expect(t.errors).toEqual({ unknown: 0, malformed: 2 });
    expect(t.events).toEqual([
      { kind: "frisbee.bad-message", fields: { from: FROM, error: "datagram of 3 bytes is shorter than the 16-byte header" } },
      { kind: "frisbee.bad-message", fields: { from: FROM, error: "datagram of 3 bytes is shorter than the 16-byte header" } },
    ]);
  });

  it("counts every unknown message but logs at most one per interval, the next saying how many were not", () => {
    const t = input();
    expect(t.input.toMessage(unknownSubtype(9), FROM, 1_000)).toBeNull();
    expect(t.input.toMessage({ type: "traffic", wireBytes: 10 }, FROM, 2_000)).toBeNull();
    expect(t.input.toMessage(unknownSubtype(10), FROM, 1_000 + UNKNOWN_LOG_INTERVAL_US - 1)).toBeNull();
    expect(t.input.toMessage({ type: "hello", wireBytes: 1 }, FROM, 1_000 + UNKNOWN_LOG_INTERVAL_US)).toBeNull();
    expect(t.input.toMessage(unknownSubtype(11), FROM, 1_000 + 2 * UNKNOWN_LOG_INTERVAL_US)).toBeNull();
    expect(t.errors).toEqual({ unknown: 5, malformed: 0 });
    expect(t.events).toEqual([
      { kind: "frisbee.unknown-message", fields: { from: FROM, what: "subtype 9 at offset 4 is not a known message", notLoggedBefore: 0 } },
      { kind: "frisbee.unknown-message", fields: { from: FROM, what: "message type hello", notLoggedBefore: 2 } },
      { kind: "frisbee.unknown-message", fields: { from: FROM, what: "subtype 11 at offset 4 is not a known message", notLoggedBefore: 0 } },
    ]);
  });
});

describe("sentByServer: a datagram only a server sends, from its header", () => {
  it("is a JOIN or JOIN2 reply, a BLOCK or a progress request, and nothing else", () => {
    const byServer = [msg.joinReply(5), msg.join2Reply(1, 0, 9), msg.block(0, 0, null), msg.progressRequest(1, 1)];
    const byClients = [msg.join(1), msg.join2(1), msg.leave(1, 0), msg.leave2(1, 0, emptyStats()), msg.request(0, 0, 1), msg.prequest(0, 0, new Uint8Array(128)), msg.progress(1, 0, 0, 1, 1, null, null)];
    expect(byServer.map((m) => sentByServer(encode(m, 1)))).toEqual([true, true, true, true]);
    expect(byClients.map((m) => sentByServer(encode(m, 1)))).toEqual(byClients.map(() => false));
  });

  it("is not a datagram shorter than the header, nor one of another header type", () => {
    const reply = encode(msg.joinReply(5), 1);
    expect(sentByServer(reply.subarray(0, 15))).toBe(false);
    expect(sentByServer(reply.subarray(0, 16))).toBe(true);
    const other = reply.slice();
    other[0] = 3;
    expect(sentByServer(other)).toBe(false);
    const block = encode(msg.block(0, 0, null), 1);
    block[0] = 2; // a BLOCK is sent as a REQUEST; as a REPLY it is no server's
    expect(sentByServer(block)).toBe(false);
  });
});
